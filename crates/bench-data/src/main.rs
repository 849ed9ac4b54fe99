//! `reprise-bench-data`: the data side of reprise's benchmark (`bench/run`).
//!
//! - `generate` writes a deterministic municipal file share of a chosen size and file count:
//!   the town hall's share from `reprise-sample` (PDF scans, photos, spreadsheets, mailboxes,
//!   a large SQL dump) plus many small office and text files in a deep tree;
//! - `change` edits about 2% of the files like a busy working day and grows the dump;
//! - `verify` compares a restored tree with the original and lists the first differences.
//!
//! Exit codes: 0 success (trees identical), 1 the trees differ, 2 usage or I/O error.

mod change;
mod generate;
mod layout;
mod metadata;
mod tree;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "reprise-bench-data",
    version,
    about = "Benchmark data for reprise"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a deterministic share of about SIZE bytes in about FILES files into an empty DIR.
    Generate {
        /// Where to write (created if missing; must be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Total size: bytes, or with a unit: `50M`, `1G`, `1.5G`, `1GiB`
        /// (powers of 1024), `1GB` (powers of 1000).
        #[arg(long, value_parser = reprise_storage::size::parse_size)]
        size: u64,
        /// Approximate number of regular files.
        #[arg(long)]
        files: u64,
        /// Same seed, size and file count => the same tree, byte for byte.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Change about 2% of the files of a generated share and append to its dump.
    Change {
        /// A tree written by `generate`.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Same seed on the same tree => the same changes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Compare two trees: names, types, contents, symlink targets and permissions.
    Verify {
        /// The original tree.
        #[arg(long, value_name = "DIR")]
        expected: PathBuf,
        /// The tree to check, for example a restored copy.
        #[arg(long, value_name = "DIR")]
        actual: PathBuf,
        /// Also compare the modification times of regular files and directories.
        #[arg(long)]
        mtimes: bool,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("reprise-bench-data: error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Generate {
            out,
            size,
            files,
            seed,
        } => {
            let spec = generate::DatasetSpec { size, files, seed };
            let summary = generate::generate(&out, &spec)?;
            println!("generated {}: {summary}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Change { dir, seed } => {
            let summary = change::change(&dir, seed)?;
            println!("changed {}: {summary}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            expected,
            actual,
            mtimes,
        } => {
            let report = verify::verify(&expected, &actual, mtimes)?;
            print!("{report}");
            Ok(if report.is_identical() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_of(text: &str) -> Result<u64, clap::Error> {
        let cli = Cli::try_parse_from([
            "reprise-bench-data",
            "generate",
            "--out",
            "d",
            "--files",
            "1",
            "--size",
            text,
        ])?;
        match cli.command {
            Command::Generate { size, .. } => Ok(size),
            _ => unreachable!("parsed as generate"),
        }
    }

    /// Issue 12: this tool read `MB` as 2^20 bytes where the server's
    /// `--quota` reads 10^6; both now use the one parser.
    #[test]
    fn sizes_follow_the_rule_of_every_reprise_size() {
        assert_eq!(size_of("1G").unwrap(), 1 << 30);
        assert_eq!(size_of("1.5GiB").unwrap(), 3 << 29);
        assert_eq!(size_of("3MB").unwrap(), 3_000_000);
        assert_eq!(size_of("4096").unwrap(), 4096);
        assert!(size_of("3X").is_err());
    }
}
