//! Integration tests of the generated share: reproducibility, real file formats, size, and the
//! simulated workday's reported changes against what actually changed on disk.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::fs;
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use reprise_sample::{generate_share, simulate_workday, ShareSpec};

type TestResult = Result<(), Box<dyn Error>>;

/// Every file (relative path -> content) and every directory below a root.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    files: BTreeMap<PathBuf, Vec<u8>>,
    dirs: BTreeSet<PathBuf>,
}

fn snapshot(root: &Path) -> std::io::Result<Snapshot> {
    let mut snapshot = Snapshot {
        files: BTreeMap::new(),
        dirs: BTreeSet::new(),
    };
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        for entry in fs::read_dir(root.join(&relative))? {
            let entry = entry?;
            let child = relative.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                snapshot.dirs.insert(child.clone());
                pending.push(child);
            } else {
                snapshot
                    .files
                    .insert(child.clone(), fs::read(root.join(&child))?);
            }
        }
    }
    Ok(snapshot)
}

fn files_with_extension<'a>(
    snapshot: &'a Snapshot,
    extension: &str,
) -> Vec<(&'a PathBuf, &'a Vec<u8>)> {
    snapshot
        .files
        .iter()
        .filter(|(path, _)| {
            path.extension()
                .is_some_and(|found| found.to_string_lossy().eq_ignore_ascii_case(extension))
        })
        .collect()
}

fn zstd_ratio(data: &[u8]) -> std::io::Result<f64> {
    Ok(data.len() as f64 / zstd::encode_all(data, 3)?.len() as f64)
}

#[test]
fn same_spec_gives_identical_trees() -> TestResult {
    let (first, second) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let first_summary = generate_share(first.path(), &ShareSpec::tiny())?;
    let second_summary = generate_share(second.path(), &ShareSpec::tiny())?;
    assert_eq!(first_summary, second_summary);
    assert_eq!(snapshot(first.path())?, snapshot(second.path())?);
    Ok(())
}

#[test]
fn another_seed_gives_another_tree() -> TestResult {
    let (first, second) = (tempfile::tempdir()?, tempfile::tempdir()?);
    generate_share(first.path(), &ShareSpec::tiny())?;
    generate_share(
        second.path(),
        &ShareSpec {
            seed: 7,
            ..ShareSpec::tiny()
        },
    )?;
    let (first, second) = (snapshot(first.path())?, snapshot(second.path())?);
    let differing = first
        .files
        .iter()
        .filter(|(path, content)| second.files.get(*path) != Some(content));
    // Only the empty log is the same whatever the seed.
    assert!(differing.count() + 1 >= first.files.len());
    Ok(())
}

#[test]
fn summary_matches_the_tree_and_sizes_meet_the_target() -> TestResult {
    for spec in [
        ShareSpec::tiny(),
        ShareSpec {
            seed: 3,
            total_bytes: 8 << 20,
        },
        ShareSpec::demo(),
    ] {
        let root = tempfile::tempdir()?;
        let summary = generate_share(root.path(), &spec)?;
        let tree = snapshot(root.path())?;
        assert_eq!(summary.files, tree.files.len() as u64);
        assert_eq!(summary.dirs, tree.dirs.len() as u64);
        let bytes: u64 = tree
            .files
            .values()
            .map(|content| content.len() as u64)
            .sum();
        assert_eq!(summary.bytes, bytes);
        let ratio = bytes as f64 / spec.total_bytes as f64;
        assert!(
            (0.7..1.3).contains(&ratio),
            "{spec:?}: {bytes} bytes, ratio {ratio:.2}"
        );
    }
    Ok(())
}

#[test]
fn demo_share_has_tens_to_hundreds_of_files() -> TestResult {
    let root = tempfile::tempdir()?;
    let summary = generate_share(root.path(), &ShareSpec::demo())?;
    assert!((50..1000).contains(&summary.files), "{summary:?}");
    Ok(())
}

#[test]
fn files_carry_the_magic_bytes_of_their_format() -> TestResult {
    let root = tempfile::tempdir()?;
    generate_share(root.path(), &ShareSpec::tiny())?;
    let tree = snapshot(root.path())?;
    let expectations: [(&str, &[u8]); 7] = [
        ("pdf", b"%PDF"),
        ("xlsx", b"PK\x03\x04"),
        ("docx", b"PK\x03\x04"),
        ("odt", b"PK\x03\x04"),
        ("zip", b"PK\x03\x04"),
        ("jpg", &[0xFF, 0xD8, 0xFF]),
        ("gz", &[0x1F, 0x8B]),
    ];
    for (extension, magic) in expectations {
        let files = files_with_extension(&tree, extension);
        assert!(!files.is_empty(), "no .{extension} file");
        for (path, content) in files {
            assert!(
                content.starts_with(magic),
                "{} lacks its magic bytes",
                path.display()
            );
        }
    }
    for (path, content) in files_with_extension(&tree, "pdf") {
        assert!(content.ends_with(b"%%EOF\n"), "{}", path.display());
    }
    for (path, content) in files_with_extension(&tree, "jpg") {
        assert!(content.ends_with(&[0xFF, 0xD9]), "{}", path.display());
    }
    Ok(())
}

#[test]
fn office_documents_are_real_packages() -> TestResult {
    let root = tempfile::tempdir()?;
    generate_share(root.path(), &ShareSpec::tiny())?;
    let tree = snapshot(root.path())?;
    for (_, content) in files_with_extension(&tree, "odt") {
        // ODF: `mimetype` first, stored, no extra field, so its value sits at offset 38.
        assert_eq!(&content[8..10], &[0, 0], "mimetype must be stored");
        assert_eq!(
            &content[28..30],
            &[0, 0],
            "mimetype must have no extra field"
        );
        assert_eq!(&content[30..38], b"mimetype");
        assert!(content[38..].starts_with(b"application/vnd.oasis.opendocument.text"));
        let mut odt = zip::ZipArchive::new(Cursor::new(content))?;
        assert_eq!(odt.name_for_index(0), Some("mimetype"));
        assert!(read_member(&mut odt, "content.xml")?.contains("<text:p>"));
    }
    for (_, content) in files_with_extension(&tree, "docx") {
        let mut docx = zip::ZipArchive::new(Cursor::new(content))?;
        assert!(read_member(&mut docx, "[Content_Types].xml")?.contains("wordprocessingml"));
        let document = read_member(&mut docx, "word/document.xml")?;
        assert!(document.contains("<w:t xml:space=\"preserve\">"));
        assert!(
            document.chars().any(|c| "éèàç".contains(c)),
            "French text expected"
        );
    }
    for (_, content) in files_with_extension(&tree, "xlsx") {
        let mut xlsx = zip::ZipArchive::new(Cursor::new(content))?;
        assert!(read_member(&mut xlsx, "xl/worksheets/sheet1.xml")?.contains("<row r=\"2\">"));
    }
    Ok(())
}

fn read_member(
    archive: &mut zip::ZipArchive<Cursor<&Vec<u8>>>,
    name: &str,
) -> std::io::Result<String> {
    let mut text = String::new();
    archive.by_name(name)?.read_to_string(&mut text)?;
    Ok(text)
}

#[test]
fn archives_hold_documents() -> TestResult {
    let root = tempfile::tempdir()?;
    generate_share(root.path(), &ShareSpec::tiny())?;
    let tree = snapshot(root.path())?;
    for (_, content) in files_with_extension(&tree, "gz") {
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(content.as_slice()));
        let mut members = 0;
        for entry in tar.entries()? {
            let mut text = String::new();
            entry?.read_to_string(&mut text)?;
            assert!(!text.is_empty());
            members += 1;
        }
        assert!(members > 0);
    }
    for (_, content) in files_with_extension(&tree, "zip") {
        assert!(!zip::ZipArchive::new(Cursor::new(content))?.is_empty());
    }
    Ok(())
}

#[test]
fn tree_has_the_expected_landmarks() -> TestResult {
    let root = tempfile::tempdir()?;
    let summary = generate_share(root.path(), &ShareSpec::tiny())?;
    let tree = snapshot(root.path())?;
    assert!(tree
        .files
        .contains_key(Path::new("partage/enfance/Délibération du conseil.odt")));
    assert!(
        tree.files.values().any(Vec::is_empty),
        "an empty file is expected"
    );
    let empty_dirs = tree
        .dirs
        .iter()
        .filter(|dir| !tree.files.keys().any(|file| file.starts_with(dir)))
        .filter(|dir| {
            !tree
                .dirs
                .iter()
                .any(|other| other != *dir && other.starts_with(dir))
        });
    assert!(empty_dirs.count() >= 1, "an empty directory is expected");
    for folder in [
        "partage/etat-civil/actes-naissance/2024",
        "partage/eau/factures",
        "courriel",
        "logs",
    ] {
        assert!(tree.dirs.contains(Path::new(folder)), "{folder}");
    }
    let dump = &tree.files[Path::new("bases/etat_civil.sql")];
    let dump_share = dump.len() as f64 / summary.bytes as f64;
    assert!(
        (0.15..0.3).contains(&dump_share),
        "dump share {dump_share:.2}"
    );
    assert_eq!(tree.files.values().map(Vec::len).max(), Some(dump.len()));
    let dump = String::from_utf8(dump.clone())?;
    assert!(dump.starts_with("--\n-- PostgreSQL database dump\n"));
    assert!(dump.contains("CREATE TABLE public.naissances ("));
    assert!(dump.matches("\nINSERT INTO public.").count() > 1000);
    Ok(())
}

#[test]
fn text_compresses_like_text_and_media_do_not_compress() -> TestResult {
    let root = tempfile::tempdir()?;
    generate_share(root.path(), &ShareSpec::tiny())?;
    let tree = snapshot(root.path())?;
    for extension in ["csv", "mbox", "sql"] {
        for (path, content) in files_with_extension(&tree, extension) {
            let ratio = zstd_ratio(content)?;
            assert!(
                (2.5..6.5).contains(&ratio),
                "{}: {ratio:.2}",
                path.display()
            );
        }
    }
    for extension in ["jpg", "pdf", "zip", "gz", "docx", "odt", "xlsx"] {
        for (path, content) in files_with_extension(&tree, extension) {
            let ratio = zstd_ratio(content)?;
            assert!(ratio < 1.1, "{}: {ratio:.2}", path.display());
        }
    }
    Ok(())
}

#[test]
fn workday_reports_exactly_what_changed() -> TestResult {
    let root = tempfile::tempdir()?;
    generate_share(root.path(), &ShareSpec::tiny())?;
    for seed in [1, 2, 3] {
        let before = snapshot(root.path())?;
        let reported = simulate_workday(root.path(), seed)?;
        let after = snapshot(root.path())?;
        let modified: Vec<&PathBuf> = before
            .files
            .iter()
            .filter(|(path, content)| after.files.get(*path).is_some_and(|now| now != *content))
            .map(|(path, _)| path)
            .collect();
        let added = after
            .files
            .keys()
            .filter(|path| !before.files.contains_key(*path))
            .count();
        let deleted = before
            .files
            .keys()
            .filter(|path| !after.files.contains_key(*path))
            .count();
        let grown: u64 = modified
            .iter()
            .map(|path| (after.files[*path].len() - before.files[*path].len()) as u64)
            .sum();
        assert_eq!(reported.files_modified, modified.len() as u64, "day {seed}");
        assert_eq!(reported.files_added, added as u64, "day {seed}");
        assert_eq!(reported.files_deleted, deleted as u64, "day {seed}");
        assert_eq!(reported.bytes_appended, grown, "day {seed}");
        assert!(
            reported.files_modified >= 3
                && reported.files_added >= 1
                && reported.files_deleted >= 1
        );
        assert!(modified.contains(&&PathBuf::from("bases/etat_civil.sql")));
        // An ordinary day touches a small part of the share.
        assert!(modified.len() + added + deleted < before.files.len() / 2);
    }
    Ok(())
}

#[test]
fn workday_is_deterministic() -> TestResult {
    let (first, second) = (tempfile::tempdir()?, tempfile::tempdir()?);
    for root in [first.path(), second.path()] {
        generate_share(root, &ShareSpec::tiny())?;
        simulate_workday(root, 42)?;
    }
    assert_eq!(snapshot(first.path())?, snapshot(second.path())?);
    Ok(())
}

#[test]
fn workday_appends_valid_rows_to_the_dump() -> TestResult {
    let root = tempfile::tempdir()?;
    generate_share(root.path(), &ShareSpec::tiny())?;
    let dump_path = root.path().join("bases/etat_civil.sql");
    let before = fs::read_to_string(&dump_path)?;
    simulate_workday(root.path(), 5)?;
    let after = fs::read_to_string(&dump_path)?;
    let appended = after
        .strip_prefix(before.as_str())
        .ok_or("the dump was not appended to")?;
    assert!(!appended.is_empty());
    for line in appended.lines() {
        assert!(
            line.starts_with("INSERT INTO public.naissances VALUES (") && line.ends_with(");"),
            "{line}"
        );
    }
    Ok(())
}

#[test]
fn degenerate_sizes_still_give_a_valid_share() -> TestResult {
    for total_bytes in [0, 1, 50_000] {
        let root = tempfile::tempdir()?;
        let summary = generate_share(
            root.path(),
            &ShareSpec {
                seed: 1,
                total_bytes,
            },
        )?;
        assert!(summary.files > 10, "{summary:?}");
        simulate_workday(root.path(), 1)?;
    }
    Ok(())
}

#[test]
fn workday_on_an_empty_folder_only_adds_documents() -> TestResult {
    let root = tempfile::tempdir()?;
    let changes = simulate_workday(root.path(), 1)?;
    assert_eq!(
        (
            changes.files_modified,
            changes.files_deleted,
            changes.bytes_appended
        ),
        (0, 0, 0)
    );
    assert!(changes.files_added >= 2);
    Ok(())
}
