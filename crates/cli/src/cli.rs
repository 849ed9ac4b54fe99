//! The command line, declared with clap: global options and one struct per subcommand.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// The exit codes, as `reprise --help` ends (the table is in docs/CLI.md).
const EXIT_CODES_HELP: &str = "\
Exit codes:
   0  success
   1  fatal error, check found damage, config check found errors, a service's
      source failed to back up, or a recover or drill was not fully ok
   2  wrong usage
   3  done but incomplete (files skipped or not restored, locks not renewed)
   4  ransomware attack detected (the snapshot is written)
  10  no repository at --repo
  12  wrong password
  13  the storage refused: an append-only token asked to delete, or a retention lock
  14  the storage did not accept the credentials (REPRISE_TOKEN, S3 keys)";

/// The options that only make sense for a client of a repository, which
/// `serve`'s help leaves out.
const CLIENT_OPTIONS: [&str; 5] = [
    "repo",
    "repository",
    "password_file",
    "password_command",
    "cacert",
];

/// The command line as it is parsed: [`Cli`], with the client options
/// hidden from the help of `serve` and its subcommands, where they do not
/// apply (they are still accepted there, as every global option is).
///
/// `serve` gets hidden copies of them: clap propagates a global option
/// only into subcommands that have none of that id, so these copies, not
/// the visible ones, reach `serve`'s subcommands (but `serve token add`,
/// whose own `--repo` shares the id), and their values still reach
/// [`GlobalOptions`].
pub fn command() -> clap::Command {
    let cmd = <Cli as clap::CommandFactory>::command();
    let hidden: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| CLIENT_OPTIONS.contains(&a.get_id().as_str()))
        .map(|a| a.clone().hide(true))
        .collect();
    cmd.mut_subcommand("serve", |serve| serve.args(hidden))
}

/// `--repository NAME` with `--repo` is a usage error (exit 2); with
/// `REPRISE_REPOSITORY` set, `--repository` wins, as an option given on the
/// command line wins over the environment.
pub fn settle_repository(
    matches: &clap::ArgMatches,
    global: &mut GlobalOptions,
) -> Result<(), clap::Error> {
    if global.repository.is_none() {
        return Ok(());
    }
    match matches.value_source("repo") {
        Some(clap::parser::ValueSource::CommandLine) => Err(command().error(
            clap::error::ErrorKind::ArgumentConflict,
            "the argument '--repository <NAME>' cannot be used with '--repo <REPO>': give one of them",
        )),
        Some(clap::parser::ValueSource::EnvVariable) => {
            global.repo = None;
            Ok(())
        }
        _ => Ok(()),
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "reprise",
    version,
    about = "Backups a town hall can restore after ransomware: deduplicated, compressed, encrypted snapshots.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalOptions {
    /// Repository location: a directory, rest:https://HOST:PORT/NAME (reprise serve) or s3:https://HOST/BUCKET[/PREFIX]
    #[arg(short = 'r', long, env = "REPRISE_REPOSITORY", global = true)]
    pub repo: Option<String>,
    /// A repository of the configuration file, by name ([repositories.NAME]):
    /// its location and password source
    // Not `conflicts_with = "repo"`: clap would count REPRISE_REPOSITORY
    // as --repo, and an option given on the command line wins over a
    // variable of the environment (see `settle_repository`).
    #[arg(long, global = true, value_name = "NAME")]
    pub repository: Option<String>,
    /// The configuration file (repositories, servers, sources, services);
    /// else REPRISE_CONFIG, else /etc/reprise/reprise.toml
    // No `env` here: `serve` has its own --config (the server's file), and
    // a value clap took from the environment would reach it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// File whose first line is the password
    #[arg(long, env = "REPRISE_PASSWORD_FILE", global = true)]
    pub password_file: Option<PathBuf>,
    /// Shell command that prints the password
    #[arg(long, env = "REPRISE_PASSWORD_COMMAND", global = true)]
    pub password_command: Option<String>,
    /// CA certificate (PEM) to check rest: servers against, instead of the
    /// public roots: the cert.pem a server generated, for instance
    #[arg(long, env = "REPRISE_CACERT", global = true, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Print machine-readable JSON on standard output
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing but errors (and JSON when asked)
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The variable holding the password, from `password_env` of a
    /// configured repository (never an option: set by `--repository`).
    #[arg(skip)]
    pub password_env: Option<String>,
    /// Where the password options came from when a configured repository
    /// set them (`[repositories.NAME] in FILE`), for error messages.
    #[arg(skip)]
    pub password_origin: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create a new repository
    Init(InitArgs),
    /// Back up files and directories (or standard input)
    Backup(BackupArgs),
    /// List snapshots
    Snapshots(FilterArgs),
    /// List the files in a snapshot
    Ls(LsArgs),
    /// Show what changed between two snapshots
    Diff(DiffArgs),
    /// Analyse a snapshot for ransomware against the previous one of its source
    Detect(DetectArgs),
    /// List, show, confirm and resolve ransomware incidents
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Run the operator's dashboard and the public status page over HTTPS
    Web(WebArgs),
    /// Print the repository's metrics in the Prometheus text format (for a
    /// textfile collector; `reprise web` serves the same at /metrics)
    Metrics,
    /// The town's public service-status page: show it, set a service's state,
    /// write incident messages, export it as static files
    #[command(subcommand)]
    Status(StatusCommand),
    /// Find every version of files matching a pattern across snapshots
    Find(FindArgs),
    /// Write a file (or a directory, as tar) from a snapshot to standard output
    Dump(DumpArgs),
    /// Restore a snapshot, or part of it, into a directory
    Restore(RestoreArgs),
    /// Verify the repository's structure and, with --read-data, every byte
    Check(CheckArgs),
    /// Show how much the repository holds and how well it deduplicates
    Stats,
    /// Manage the passwords (key files) that open the repository
    #[command(subcommand)]
    Key(KeyCommand),
    /// Run the demonstration: back up a sample town share, change it, back up, restore, verify
    Demo(DemoArgs),
    /// Run the append-only repository server, or manage its configuration and tokens
    Serve(ServeArgs),
    /// Decide which snapshots to keep by a retention policy, and remove the others
    Forget(ForgetArgs),
    /// Delete the data no snapshot needs any more, in two phases (mark, then delete)
    Prune(PruneArgs),
    /// Copy snapshots to another repository (an offline disk, another site)
    Copy(CopyArgs),
    /// Manage the storage's retention locks (S3 Object Lock)
    #[command(subcommand)]
    Locks(LocksCommand),
    /// Rebuild damaged parts of a repository
    #[command(subcommand)]
    Repair(RepairCommand),
    /// Check the configuration file (--config): every problem with its line
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Bring services back in dependency order, databases included, with a report
    Recover(RecoverArgs),
    /// Rehearse a recovery into scratch places, check everything, time it, clean up
    Drill(DrillArgs),
    /// Show the drills recorded in the repository: when, how fast, what failed
    Drills,
}

#[derive(Args, Debug)]
pub struct RecoverArgs {
    /// Services to recover, with everything they depend on (default: all)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Use, for each source, the newest snapshot taken at or before this
    /// time (2026-12-03, 2026-12-03 03:00:00 UTC, or RFC 3339)
    #[arg(long, value_name = "TIME")]
    pub snapshot_time: Option<String>,
    /// Use, for each source, the newest snapshot judged clean and outside
    /// any open incident
    #[arg(long, conflicts_with = "snapshot_time")]
    pub last_clean: bool,
    /// Restore files under this directory instead of their own paths
    #[arg(long, value_name = "DIR")]
    pub target_root: Option<PathBuf>,
    /// Drop and recreate a database that already exists (refused otherwise)
    #[arg(long)]
    pub replace: bool,
    /// Forget an interrupted recovery instead of resuming it
    #[arg(long)]
    pub restart: bool,
    /// Where the recovery's journal and live state are kept, so that it
    /// resumes after an interruption and the status page follows it
    /// (default: the configuration's [recovery] state_dir, else
    /// ~/.local/state/reprise/recover)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Also write the report as an HTML page
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DrillArgs {
    /// Services to drill, with everything they depend on (default: all)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
    /// Clean up an interrupted drill and start a new one instead of resuming it
    #[arg(long)]
    pub restart: bool,
    /// Also write the report as an HTML page
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Report every error and warning of the configuration file with its
    /// line, and whether its servers and repositories answer
    Check(ConfigCheckArgs),
}

#[derive(Args, Debug)]
pub struct ConfigCheckArgs {
    /// Do not connect to the servers and repositories: check the file only
    #[arg(long)]
    pub offline: bool,
}

#[derive(Subcommand, Debug)]
pub enum IncidentCommand {
    /// List every incident, open ones first
    List,
    /// Show one incident: its source, last clean snapshot, waves and files
    Show {
        /// Incident id or unique prefix
        id: String,
    },
    /// Confirm a suspicious snapshot as an attack: open an incident for it
    Open {
        /// Snapshot id or unique prefix
        snapshot: String,
        /// Why, for the record
        #[arg(long, default_value = "confirmed by an operator")]
        reason: String,
    },
    /// Close an incident after the clean-up (an operator's decision)
    Resolve {
        /// Incident id or unique prefix
        id: String,
        /// Why, for the record (e.g. "restored in place, share checked")
        #[arg(long)]
        reason: String,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct WebArgs {
    /// The address to listen on (default: [web] listen, else 0.0.0.0:8443)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    #[command(subcommand)]
    pub command: Option<WebCommand>,
}

#[derive(Subcommand, Debug)]
pub enum WebCommand {
    /// Print the Argon2id hash of a password for [[web.accounts]]
    /// password_hash (asked on the terminal, or read from standard input)
    HashPassword,
}

#[derive(Subcommand, Debug)]
pub enum StatusCommand {
    /// Show the public page as citizens see it (the newest of the operator's
    /// word and a running recovery's, per service)
    Show,
    /// Set what the public page says of a service
    Set {
        /// A public service of the configuration
        service: String,
        /// operational, degraded_performance, partial_outage, major_outage or
        /// under_maintenance
        state: String,
    },
    /// Open a public incident with its first message; prints its id
    Open {
        /// The incident's title on the page
        #[arg(long)]
        title: String,
        /// none, minor, major or critical
        #[arg(long, default_value = "major")]
        impact: String,
        /// A public service it affects (repeat for several)
        #[arg(long = "service", value_name = "SERVICE")]
        services: Vec<String>,
        /// The first message, for citizens
        #[arg(long)]
        message: String,
    },
    /// Add a message to a public incident, moving it to a stage
    Update {
        /// The incident's id (`reprise status show` lists them)
        id: String,
        /// investigating, identified, monitoring or resolved
        #[arg(long)]
        stage: String,
        #[arg(long)]
        message: String,
    },
    /// Write the public page (French, English, Statuspage JSON) into a
    /// directory, for a web server that reprise does not control
    Export {
        /// The directory to write (created if missing)
        dir: PathBuf,
        /// The address the page will be published at, for the JSON
        #[arg(long, default_value = "")]
        url: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum RepairCommand {
    /// Rebuild index files from the packs' headers, then delete the damaged ones
    Index(RepairIndexArgs),
}

#[derive(Args, Debug)]
pub struct RepairIndexArgs {
    /// Say what would be rebuilt and deleted, change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Subcommand, Debug)]
pub enum LocksCommand {
    /// Renew the lock of every object the snapshots need to now + retention
    Extend(LocksExtendArgs),
}

#[derive(Args, Debug)]
pub struct LocksExtendArgs {
    /// Count what would be renewed, renew nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug, Clone)]
pub struct KdfArgs {
    /// Memory cost of the password hash (Argon2id), in MiB
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(8..=4096))]
    pub kdf_memory_mib: u32,
    /// Time cost (passes) of the password hash
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub kdf_iterations: u32,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    #[command(flatten)]
    pub kdf: KdfArgs,
    /// zstd level for compressible data (1 fastest .. 19 smallest)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=19))]
    pub compression_level: i32,
    /// Lock every object in the storage (S3 Object Lock, s3: repositories
    /// only): "governance" or "compliance"
    #[arg(long, value_name = "MODE", requires = "retention", value_parser = ["governance", "compliance"])]
    pub object_lock: Option<String>,
    /// How long each object stays locked after it is written: days ("30d"),
    /// weeks ("4w") or years of 365 days ("1y")
    #[arg(long, value_name = "DURATION", requires = "object_lock")]
    pub retention: Option<String>,
    /// Repository format version: 2 (the default) stores database dumps
    /// as deltas against the night before; 1 can still be read by reprise
    /// versions older than format 2
    #[arg(long, default_value_t = reprise_format::FORMAT_VERSION, value_parser = clap::value_parser!(u32).range(1..=i64::from(reprise_format::FORMAT_VERSION)))]
    pub format_version: u32,
}

#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only snapshots of this host (repeatable)
    #[arg(long = "host")]
    pub hosts: Vec<String>,
    /// Only snapshots carrying this tag (repeatable: all must match)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Only snapshots that backed up this path (repeatable)
    #[arg(long = "path")]
    pub paths: Vec<String>,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Files and directories to back up
    #[arg(required_unless_present_any = ["stdin", "services", "all"])]
    pub paths: Vec<PathBuf>,
    /// Back up every source of this service of the configuration file, each
    /// as its own snapshot (repeatable)
    #[arg(long = "service", value_name = "NAME", conflicts_with_all = ["paths", "stdin", "dry_run"])]
    pub services: Vec<String>,
    /// Back up every service of the configuration file
    #[arg(long, conflicts_with_all = ["paths", "stdin", "services", "dry_run"])]
    pub all: bool,
    /// Tag for the snapshot (repeatable)
    #[arg(long = "tag")]
    pub tags: Vec<String>,
    /// Host name to record (default: this machine's)
    #[arg(long)]
    pub host: Option<String>,
    /// Exclude paths matching this glob (repeatable; without '/' it matches names)
    #[arg(long = "exclude")]
    pub excludes: Vec<String>,
    /// Read exclude patterns from a file, one per line (repeatable)
    #[arg(long = "exclude-file")]
    pub exclude_files: Vec<PathBuf>,
    /// Do not cross into other file systems
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
    /// Back up standard input instead of paths
    #[arg(long, conflicts_with = "paths")]
    pub stdin: bool,
    /// File name for the data read from standard input
    #[arg(long, default_value = "stdin", requires = "stdin")]
    pub stdin_filename: String,
    /// Save an empty standard input (refused by default: an empty input is
    /// most often a program that failed before writing anything)
    #[arg(long, requires = "stdin")]
    pub allow_empty: bool,
    /// Store standard input as a plain-text database dump: what changed
    /// since the parent snapshot's file of the same name as deltas against
    /// it (a night whose changed rows are scattered costs about those rows),
    /// compressed at zstd level 3 at least
    #[arg(long, requires = "stdin")]
    pub stdin_delta: bool,
    /// Read every file, even those the previous snapshot shows unchanged
    #[arg(long)]
    pub force: bool,
    /// List the files a backup would read (new, changed) and skip
    /// (unchanged), with their sizes, and write nothing to the repository
    #[arg(short = 'n', long, conflicts_with_all = ["stdin", "alert_command"])]
    pub dry_run: bool,
    /// Skip ransomware detection (content statistics and analysis)
    #[arg(long)]
    pub no_detection: bool,
    /// Run this shell command, with the detection report (JSON) on its
    /// standard input, when the verdict is not clean
    #[arg(long, value_name = "CMD")]
    pub alert_command: Option<String>,
}

#[derive(Args, Debug)]
pub struct DetectArgs {
    /// Snapshot: id, unique id prefix, or "latest" (the default)
    #[arg(default_value = "latest")]
    pub snapshot: String,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct LsArgs {
    /// Snapshot: id, unique id prefix, or "latest"
    pub snapshot: String,
    /// Directory or file inside the snapshot
    pub path: Option<String>,
    /// Show type, mode, size and time
    #[arg(short, long)]
    pub long: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub from: String,
    pub to: String,
}

#[derive(Args, Debug)]
pub struct FindArgs {
    /// Glob matched against names (or whole paths if it contains '/')
    pub pattern: String,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct DumpArgs {
    pub snapshot: String,
    /// File or directory inside the snapshot
    pub path: String,
    #[command(flatten)]
    pub filter: FilterArgs,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// Snapshot, optionally followed by ":/path/inside" to restore only that
    pub snapshot: String,
    /// Directory to restore into (created if missing)
    #[arg(
        short,
        long,
        required_unless_present = "in_place",
        conflicts_with = "in_place"
    )]
    pub target: Option<PathBuf>,
    /// Restore only paths matching this glob (repeatable)
    #[arg(long = "include")]
    pub includes: Vec<String>,
    /// Do not restore paths matching this glob (repeatable)
    #[arg(long = "exclude")]
    pub excludes: Vec<String>,
    /// Read back every restored file and check it against the snapshot
    #[arg(long)]
    pub verify: bool,
    /// Put back the newest clean version of every file an attack encrypted,
    /// leave out ransom notes and encrypted copies, keep everything else
    #[arg(long)]
    pub last_clean: bool,
    /// With --last-clean: also put back, from the last clean snapshot, every
    /// file of the affected directories changed or deleted since then, not
    /// only those judged encrypted
    #[arg(long, requires = "last_clean")]
    pub all_changed: bool,
    /// With --last-clean: restore into the live share at PATH (a path the
    /// snapshot backed up), and move every encrypted copy and ransom note
    /// found there into a quarantine directory
    #[arg(long, value_name = "PATH", requires = "last_clean")]
    pub in_place: Option<PathBuf>,
    /// With --in-place: the quarantine directory (default: a sibling of
    /// PATH named PATH.reprise-quarantine-YYYYmmddTHHMMSS)
    #[arg(long, value_name = "DIR", requires = "in_place")]
    pub quarantine: Option<PathBuf>,
    /// What to do with files already in the target: leave them (never),
    /// rewrite those whose content differs from the snapshot's (if-changed),
    /// or write every file anew (always)
    #[arg(long, value_enum, default_value_t = OverwriteArg::IfChanged)]
    pub overwrite: OverwriteArg,
    /// Print what would be created, replaced and kept, and write nothing
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// `restore --overwrite`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverwriteArg {
    Never,
    IfChanged,
    Always,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Read and verify every byte of every pack
    #[arg(long)]
    pub read_data: bool,
    /// Read and verify a random share of the packs, e.g. "10%"
    #[arg(long, value_name = "N%")]
    pub read_data_subset: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Add a password
    Add(KeyNewArgs),
    /// List the key files
    List,
    /// Remove a key file (not the one in use)
    Remove {
        /// Key id or unique prefix
        id: String,
    },
    /// Change the password in use
    Passwd(KeyNewArgs),
}

#[derive(Args, Debug)]
pub struct KeyNewArgs {
    /// File whose first line is the new password (else REPRISE_NEW_PASSWORD, else a prompt)
    #[arg(long)]
    pub new_password_file: Option<PathBuf>,
    #[command(flatten)]
    pub kdf: KdfArgs,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Work in this directory instead of a temporary one (kept afterwards)
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Approximate size of the sample share, in MiB
    #[arg(long, default_value_t = 40)]
    pub size_mib: u64,
    /// Then serve the demo town on the dashboard and the public status page
    /// (https://127.0.0.1:8443/) with a one-time account, until interrupted
    #[arg(long)]
    pub web: bool,
}

/// `reprise serve --help`: where the full story is, and a deployment in brief.
const SERVE_AFTER_HELP: &str = "\
The protocol, roles, retention, quotas, audit log and a full deployment
are described in docs/SERVER.md.

Deployment on a separate machine, so that the backups survive the clients:
  1. As root: useradd --system --home /srv/reprise reprise
              mkdir -p /srv/reprise /etc/reprise && chown reprise: /srv/reprise /etc/reprise
  2. As reprise: reprise serve init-config /etc/reprise/server.toml \\
                   --data /srv/reprise --listen 0.0.0.0:8443 --retention-days 90
  3. As reprise: reprise serve token add mairie-pc --role append --config /etc/reprise/server.toml
     (prints the token once; give it to the client as REPRISE_TOKEN)
  4. /etc/systemd/system/reprise-serve.service (a hardened one is in docs/SERVER.md):
       [Unit]
       Description=reprise append-only repository server
       After=network-online.target
       [Service]
       User=reprise
       ExecStart=/usr/local/bin/reprise serve --config /etc/reprise/server.toml
       Restart=on-failure
       NoNewPrivileges=yes
       ProtectSystem=strict
       ReadWritePaths=/srv/reprise /etc/reprise
       [Install]
       WantedBy=multi-user.target
     then: systemctl daemon-reload && systemctl enable --now reprise-serve
  5. Copy /srv/reprise/tls/cert.pem to each client, which then runs
       REPRISE_TOKEN=... reprise --repo rest:https://SERVER:8443/mairie --cacert cert.pem init|backup
Token changes apply without a restart. Only the server's file sets retention_days.";

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, after_help = SERVE_AFTER_HELP)]
pub struct ServeArgs {
    /// The server's configuration file (write one with `reprise serve init-config`)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
}

#[derive(Subcommand, Debug)]
pub enum ServeCommand {
    /// Write a commented configuration file
    InitConfig(ServeInitArgs),
    /// Add, list or revoke the tokens clients authenticate with
    #[command(subcommand)]
    Token(TokenCommand),
    /// Check the audit log's hash chain
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check that no line of the audit log was edited, removed, inserted or reordered
    Verify(AuditVerifyArgs),
}

#[derive(Args, Debug)]
pub struct AuditVerifyArgs {
    /// The server's configuration file, which locates the log (data_dir/audit.log)
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pub config: Option<PathBuf>,
    /// The audit log itself (a copy, a rotated file)
    #[arg(value_name = "LOG", required_unless_present = "config")]
    pub file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ServeInitArgs {
    /// The file to write (never replaced)
    pub file: PathBuf,
    /// Directory for the repositories, the audit log and the certificate
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Address and port to listen on, e.g. 0.0.0.0:8443
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Days every object is kept before even an admin token may delete it
    #[arg(long, value_name = "N", default_value_t = 90)]
    pub retention_days: u32,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it, once
    Add(TokenAddArgs),
    /// List the tokens with their role, state, limits and usage
    List(ServeConfigArg),
    /// Revoke a token: it is refused from then on
    Revoke(TokenRevokeArgs),
}

#[derive(Args, Debug)]
pub struct ServeConfigArg {
    /// The server's configuration file
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Args, Debug)]
pub struct TokenAddArgs {
    /// A name for the token, shown in the audit log (e.g. the client's host name)
    pub name: String,
    /// append: read and add (backup clients); read: read only; admin: also delete after retention
    #[arg(long, value_parser = ["append", "read", "admin"])]
    pub role: String,
    #[command(flatten)]
    pub config: ServeConfigArg,
    /// Total bytes the token may ever add, e.g. 500G or 2TiB
    #[arg(long, value_name = "SIZE", value_parser = reprise_storage::size::parse_size)]
    pub quota: Option<u64>,
    /// When the token stops working (RFC 3339, e.g. 2027-01-01T00:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub expires: Option<String>,
    /// Limit the token to this repository on the server (repeatable; all when absent)
    // The id is the global --repo's, which this option replaces here: clap
    // refuses two options named --repo in one command.
    #[arg(id = "repo", long = "repo", value_name = "NAME")]
    pub repos: Vec<String>,
}

#[derive(Args, Debug)]
pub struct TokenRevokeArgs {
    /// The token's name
    pub name: String,
    #[command(flatten)]
    pub config: ServeConfigArg,
}

#[derive(Args, Debug)]
pub struct ForgetArgs {
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Keep the N newest snapshots of each source
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_last: u32,
    /// Keep the newest snapshot of each of the last N hours that have one
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_hourly: u32,
    /// Keep the newest snapshot of each of the last N days that have one
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_daily: u32,
    /// Keep the newest snapshot of each of the last N weeks that have one
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_weekly: u32,
    /// Keep the newest snapshot of each of the last N months that have one
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_monthly: u32,
    /// Keep the newest snapshot of each of the last N years that have one
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_yearly: u32,
    /// Keep every snapshot this close to the newest of its source (e.g. 14d, 1d12h)
    #[arg(long, value_name = "DURATION")]
    pub keep_within: Option<String>,
    /// However the policy reads, keep the last clean snapshot before every
    /// incident that is open or was closed less than N days ago, and the
    /// newest clean version of every file it flagged
    #[arg(long, default_value_t = reprise_detect::incident::KEEP_INCIDENT_DAYS, value_name = "N")]
    pub keep_incident_days: u32,
    /// Run `prune` afterwards
    #[arg(long)]
    pub prune: bool,
    /// Grace period of the prune run (see `reprise prune --help`)
    #[arg(
        long,
        default_value = "1d",
        value_name = "DURATION",
        requires = "prune"
    )]
    pub grace: String,
    /// Show what would be removed, remove nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// How long packs stay marked before they are deleted. Any backup that
    /// runs longer than this while prune runs could lose data; 0 marks and
    /// deletes at once, safe only when no backup runs (e.g. 0, 12h, 1d)
    #[arg(long, default_value = "1d", value_name = "DURATION")]
    pub grace: String,
    /// Show what would be marked and deleted, change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The destination repository (a directory, rest:… or s3:…); create it first with `reprise init`
    #[arg(long, value_name = "REPO")]
    pub to: String,
    /// File whose first line is the destination's password
    #[arg(long, env = "REPRISE_TO_PASSWORD_FILE", value_name = "FILE")]
    pub to_password_file: Option<PathBuf>,
    /// Shell command that prints the destination's password (else
    /// --to-password-file, REPRISE_TO_PASSWORD, a prompt on a terminal)
    #[arg(long, env = "REPRISE_TO_PASSWORD_COMMAND", value_name = "CMD")]
    pub to_password_command: Option<String>,
    /// Snapshots to copy (ids, prefixes or `latest`); all that match the filters when none
    pub snapshots: Vec<String>,
    #[command(flatten)]
    pub filter: FilterArgs,
}
