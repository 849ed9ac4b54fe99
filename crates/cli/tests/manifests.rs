//! The workspace's manifests as `cargo metadata` reports them, and the rule
//! that every declared dependency is used: a dependency no source names is
//! compiled for nothing (on two cores, minutes) and hides the real graph.
//! docs.rs reads the same metadata to check the crate map.

use crate::common::workspace_root;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The part of `cargo metadata --format-version 1 --no-deps` these tests read.
#[derive(Deserialize)]
pub struct Metadata {
    pub packages: Vec<Package>,
}

#[derive(Deserialize)]
pub struct Package {
    pub name: String,
    pub manifest_path: PathBuf,
    pub dependencies: Vec<Dependency>,
    pub targets: Vec<Target>,
}

#[derive(Deserialize)]
pub struct Dependency {
    pub name: String,
    pub rename: Option<String>,
    /// `None` for a normal dependency, `"dev"` or `"build"` otherwise.
    pub kind: Option<String>,
    pub features: Vec<String>,
    pub optional: bool,
}

#[derive(Deserialize)]
pub struct Target {
    pub name: String,
    pub kind: Vec<String>,
}

impl Dependency {
    /// The dependency's name in its Cargo.toml (its key, which a `package =`
    /// rename makes differ from the package's name).
    pub fn key(&self) -> &str {
        self.rename.as_deref().unwrap_or(&self.name)
    }
}

impl Package {
    /// The directory holding the package's Cargo.toml.
    pub fn dir(&self) -> &Path {
        self.manifest_path.parent().unwrap_or(Path::new("."))
    }

    /// The name code uses for this package's library, if it has one.
    fn lib_name(&self) -> Option<&str> {
        self.targets
            .iter()
            .find(|t| t.kind.iter().any(|k| k == "lib" || k == "rlib"))
            .map(|t| t.name.as_str())
    }
}

/// External crates whose library name is not their package name with `-`
/// turned into `_` (`--no-deps` does not say, and reading the registry
/// would need the network).
const EXTERNAL_LIB_NAMES: &[(&str, &str)] = &[("md-5", "md5")];

/// Dependencies no source names on purpose, as (package, dependency), each
/// with the reason: used only through a feature or a macro's expansion.
const USED_WITHOUT_BEING_NAMED: &[(&str, &str)] = &[];

/// The workspace's packages, read from `cargo metadata`.
pub fn workspace_packages() -> Vec<Package> {
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata failed: {out:?}");
    let metadata: Metadata =
        serde_json::from_slice(&out.stdout).expect("cargo metadata prints its JSON format");
    assert!(
        metadata.packages.len() >= 2,
        "cargo metadata listed no workspace"
    );
    metadata.packages
}

/// The name under which `package`'s code refers to `dep`.
fn crate_name(dep: &Dependency, packages: &[Package]) -> String {
    if let Some(rename) = &dep.rename {
        return rename.replace('-', "_");
    }
    if let Some(lib) = packages
        .iter()
        .find(|p| p.name == dep.name)
        .and_then(Package::lib_name)
    {
        return lib.to_string();
    }
    EXTERNAL_LIB_NAMES
        .iter()
        .find(|(package, _)| *package == dep.name)
        .map_or_else(|| dep.name.replace('-', "_"), |(_, lib)| lib.to_string())
}

/// The Rust sources under `dir`, recursively, comment lines left out (a
/// comment naming a crate does not use it).
fn sources_under(dir: &Path) -> String {
    let mut text = String::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return text;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            text.push_str(&sources_under(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            text.push_str(&without_comment_lines(
                &fs::read_to_string(&path).unwrap_or_default(),
            ));
        }
    }
    text
}

fn without_comment_lines(source: &str) -> String {
    source
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .fold(String::new(), |text, line| text + line + "\n")
}

/// The code that builds the package itself (src/ and build.rs), and the
/// code that only tests, benchmarks or demonstrates it.
fn package_sources(package: &Package) -> (String, String) {
    let dir = package.dir();
    let mut own = sources_under(&dir.join("src"));
    own.push_str(&without_comment_lines(
        &fs::read_to_string(dir.join("build.rs")).unwrap_or_default(),
    ));
    let others = ["tests", "benches", "examples"]
        .iter()
        .map(|d| sources_under(&dir.join(d)))
        .collect();
    (own, others)
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// True when `source` uses the crate `name`: a path through it
/// (`name::…`), `use name`, or `extern crate name`.
fn uses_crate(source: &str, name: &str) -> bool {
    source.match_indices(name).any(|(at, _)| {
        let before = &source[..at];
        let after = &source[at + name.len()..];
        if before.ends_with(is_ident_char) || after.starts_with(is_ident_char) {
            return false;
        }
        let before = before.trim_end();
        after.trim_start().starts_with("::")
            || before.ends_with("extern crate")
            || (before.ends_with("use") && !before[..before.len() - 3].ends_with(is_ident_char))
    })
}

/// What is wrong with one package's dependencies, one line each.
fn dependency_problems(package: &Package, packages: &[Package]) -> Vec<String> {
    let (own, others) = package_sources(package);
    let mut problems = Vec::new();
    let mut normal: BTreeMap<&str, &Dependency> = BTreeMap::new();
    for dep in package.dependencies.iter().filter(|d| d.kind.is_none()) {
        normal.insert(&dep.name, dep);
    }
    for dep in &package.dependencies {
        if USED_WITHOUT_BEING_NAMED.contains(&(package.name.as_str(), dep.name.as_str())) {
            continue;
        }
        let name = crate_name(dep, packages);
        let in_own = uses_crate(&own, &name);
        let in_any = in_own || uses_crate(&others, &name);
        let problem = match dep.kind.as_deref() {
            None | Some("build") if in_own => None,
            None if in_any => Some("is used only by tests: move it to [dev-dependencies]"),
            Some("dev")
                if normal
                    .get(dep.name.as_str())
                    .is_some_and(|n| same_as(n, dep)) =>
            {
                Some("is also a normal dependency: remove it from [dev-dependencies]")
            }
            Some("dev") if in_any => None,
            _ => Some("is declared but no source uses it: remove it"),
        };
        if let Some(problem) = problem {
            let kind = dep.kind.as_deref().unwrap_or("normal");
            problems.push(format!(
                "{}: {kind} dependency {} (`{name}`) {problem}",
                package.name, dep.name
            ));
        }
    }
    problems
}

/// A dev-dependency that adds nothing to the normal one of the same crate.
fn same_as(normal: &Dependency, dev: &Dependency) -> bool {
    dev.rename == normal.rename
        && !dev.optional
        && dev.features.iter().all(|f| normal.features.contains(f))
}

#[test]
fn every_declared_dependency_is_used() {
    let packages = workspace_packages();
    let problems: Vec<String> = packages
        .iter()
        .flat_map(|p| dependency_problems(p, &packages))
        .collect();
    assert!(
        problems.is_empty(),
        "unused or misplaced dependencies (a crate used only through a feature or a \
         macro goes in USED_WITHOUT_BEING_NAMED in {}, with the reason):\n{}",
        file!(),
        problems.join("\n")
    );
}

/// The names declared in the root Cargo.toml's `[workspace.dependencies]`.
fn workspace_dependency_names() -> Vec<String> {
    let manifest = fs::read_to_string(workspace_root().join("Cargo.toml"))
        .expect("the root Cargo.toml is readable");
    manifest
        .lines()
        .skip_while(|l| l.trim() != "[workspace.dependencies]")
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('=').map(|(name, _)| name.trim().to_string()))
        .filter(|name| !name.is_empty())
        .collect()
}

#[test]
fn every_workspace_dependency_is_used_by_a_crate() {
    let packages = workspace_packages();
    let declared = workspace_dependency_names();
    assert!(
        declared.iter().any(|d| d == "serde"),
        "could not read [workspace.dependencies] of the root Cargo.toml: {declared:?}"
    );
    let unused: Vec<&String> = declared
        .iter()
        .filter(|name| {
            !packages
                .iter()
                .any(|p| p.dependencies.iter().any(|d| d.key() == name.as_str()))
        })
        .collect();
    assert!(
        unused.is_empty(),
        "[workspace.dependencies] of the root Cargo.toml declares crates no member \
         depends on: remove {unused:?}"
    );
}

#[test]
fn crate_uses_are_recognised() {
    assert!(uses_crate("use serde::Deserialize;", "serde"));
    assert!(uses_crate("let x = ::hex::encode(b);", "hex"));
    assert!(uses_crate("pub use reprise_format;", "reprise_format"));
    assert!(uses_crate("extern crate libc;", "libc"));
    assert!(!uses_crate("fn hex(data: &[u8]) {}", "hex"));
    assert!(!uses_crate("use serde_json::Value;", "serde"));
    assert!(!uses_crate("let reuse = 1; reuse hex;", "hex"));
    assert!(!uses_crate(
        &without_comment_lines("// tempfile::TempDir\nfn f() {}"),
        "tempfile"
    ));
}
