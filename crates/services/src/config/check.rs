//! The checks across sections of a configuration that parsed: references
//! between entries, values the model's types cannot refuse alone, and the
//! credentials the file points to. All problems are returned at once, each
//! on the line of the key it is about, errors apart from warnings.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;

use super::load::{LoadedConfig, Problem};
use super::model::{Config, Databases, HealthCheck, ServerEngine, SourceConfig};
use crate::graph::{Graph, GraphError};

impl LoadedConfig {
    /// Every problem of the file's content, sorted by line (no network:
    /// reachability is checked apart).
    pub fn check(&self) -> Vec<Problem> {
        let mut checker = Checker {
            loaded: self,
            problems: Vec::new(),
        };
        checker.all();
        let mut problems = checker.problems;
        problems.sort_by_key(|p| (p.line, p.column, p.severity));
        problems
    }
}

struct Checker<'a> {
    loaded: &'a LoadedConfig,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn config(&self) -> &Config {
        &self.loaded.config
    }

    fn error(&mut self, path: &[&str], message: String) {
        let at = self.loaded.positions.of(path);
        self.problems.push(Problem::error(at, message));
    }

    fn warning(&mut self, path: &[&str], message: String) {
        let at = self.loaded.positions.of(path);
        self.problems.push(Problem::warning(at, message));
    }

    fn all(&mut self) {
        self.repositories();
        self.servers();
        self.sources();
        self.services();
        self.dependencies();
        self.recovery();
    }

    fn repositories(&mut self) {
        let config = self.config().clone();
        let mut default: Option<&str> = None;
        for (name, repo) in &config.repositories {
            let path = ["repositories", name.as_str()];
            if repo.location.trim().is_empty() {
                self.error(
                    &[path[0], path[1], "location"],
                    format!("[repositories.{name}] has an empty location: write a directory, rest:https://… or s3:https://…"),
                );
            }
            if repo.default {
                match default {
                    Some(first) => self.error(
                        &[path[0], path[1], "default"],
                        format!("[repositories.{name}] is a second default repository ([repositories.{first}] is one): keep `default = true` on one only"),
                    ),
                    None => default = Some(name),
                }
            }
            let sources = [
                repo.password_file.is_some(),
                repo.password_command.is_some(),
                repo.password_env.is_some(),
            ];
            match sources.iter().filter(|s| **s).count() {
                0 => self.warning(
                    &path,
                    format!("[repositories.{name}] names no password source: its password will have to come from REPRISE_PASSWORD_FILE, REPRISE_PASSWORD or a prompt; add password_file, password_command or password_env"),
                ),
                1 => {}
                _ => self.error(
                    &path,
                    format!("[repositories.{name}] names several password sources: keep one of password_file, password_command and password_env"),
                ),
            }
            let owner = format!("[repositories.{name}]");
            self.password_env(&path, &owner, repo.password_env.as_deref());
            self.password_file(&path, &owner, repo.password_file.as_deref());
        }
    }

    fn servers(&mut self) {
        let config = self.config().clone();
        for (name, server) in &config.servers {
            let path = ["servers", name.as_str()];
            let owner = format!("[servers.{name}]");
            if server.password_file.is_some() && server.password_env.is_some() {
                self.error(
                    &path,
                    format!("{owner} names both password_file and password_env: keep one"),
                );
            }
            self.password_env(&path, &owner, server.password_env.as_deref());
            self.password_file(&path, &owner, server.password_file.as_deref());
        }
    }

    /// A `password_env` must name a variable set (to something) now.
    fn password_env(&mut self, entry: &[&str], owner: &str, variable: Option<&str>) {
        let Some(variable) = variable else { return };
        let set = std::env::var_os(variable).is_some_and(|v| !v.is_empty());
        if !set {
            let path = [entry[0], entry[1], "password_env"];
            self.error(
                &path,
                format!("{owner}: the variable {variable} (password_env) is not set: set it in the environment reprise runs in, or use password_file"),
            );
        }
    }

    /// A `password_file` must exist, and only its owner should read it.
    fn password_file(&mut self, entry: &[&str], owner: &str, file: Option<&std::path::Path>) {
        let Some(file) = file else { return };
        let path = [entry[0], entry[1], "password_file"];
        let shown = file.display();
        match std::fs::metadata(file) {
            Err(e) => self.error(
                &path,
                format!("{owner}: the password file {shown} cannot be read ({e}): create it, or correct password_file"),
            ),
            Ok(meta) if meta.permissions().mode() & 0o077 != 0 => self.warning(
                &path,
                format!("{owner}: the password file {shown} can be read by other users (mode {:o}): chmod 600 {shown}", meta.permissions().mode() & 0o777),
            ),
            Ok(_) => {}
        }
    }

    fn sources(&mut self) {
        let config = self.config().clone();
        for (name, source) in &config.sources {
            let path = ["sources", name.as_str()];
            self.simple_name(&path, "source", name);
            match source {
                SourceConfig::Files { paths, .. } => {
                    if paths.is_empty() {
                        self.error(
                            &[path[0], path[1], "paths"],
                            format!(
                                "[sources.{name}] has no paths: list the directories to back up"
                            ),
                        );
                    }
                }
                SourceConfig::Postgres {
                    server,
                    databases,
                    min_fraction,
                } => {
                    self.database_source(name, server, ServerEngine::Postgres, databases);
                    self.min_fraction(name, *min_fraction);
                }
                SourceConfig::Mariadb {
                    server,
                    databases,
                    min_fraction,
                } => {
                    self.database_source(name, server, ServerEngine::Mariadb, databases);
                    self.min_fraction(name, *min_fraction);
                }
                SourceConfig::Sqlite {
                    path: file,
                    min_fraction,
                } => {
                    if file.as_os_str().is_empty() {
                        self.error(
                            &[path[0], path[1], "path"],
                            format!(
                                "[sources.{name}] has an empty path: give the SQLite database file"
                            ),
                        );
                    }
                    self.min_fraction(name, *min_fraction);
                }
                SourceConfig::Command {
                    dump,
                    restore,
                    filename,
                    min_fraction,
                } => {
                    for (key, argv) in [("dump", dump), ("restore", restore)] {
                        if argv.first().is_none_or(|p| p.trim().is_empty()) {
                            self.error(
                                &[path[0], path[1], key],
                                format!("[sources.{name}] has an empty {key} command: give the program and its arguments, as [\"slapcat\", \"-n\", \"1\"]"),
                            );
                        }
                    }
                    if filename.trim().is_empty() || filename.contains('/') {
                        self.error(
                            &[path[0], path[1], "filename"],
                            format!("[sources.{name}]: filename {filename:?} must be a plain file name, as \"annuaire.ldif\""),
                        );
                    }
                    self.min_fraction(name, *min_fraction);
                }
            }
            let used = config.services.values().any(|s| s.sources.contains(name));
            if !used {
                self.warning(
                    &path,
                    format!("[sources.{name}] is used by no service: `backup --all` and recoveries will leave it out; add it to a service's sources"),
                );
            }
        }
    }

    fn database_source(
        &mut self,
        name: &str,
        server: &str,
        engine: ServerEngine,
        databases: &Databases,
    ) {
        let kind = engine_name(engine);
        match self.config().servers.get(server).map(|s| s.engine) {
            None => {
                let known = names(&self.config().servers);
                self.error(
                    &["sources", name, "server"],
                    format!("[sources.{name}] names the server {server:?}, which is not in [servers] ({known})"),
                );
            }
            Some(actual) if actual != engine => self.error(
                &["sources", name, "server"],
                format!("[sources.{name}] is a {kind} source but [servers.{server}] is a {} server: use a {kind} server, or change the source's type", engine_name(actual)),
            ),
            Some(_) => {}
        }
        match databases {
            Databases::All(word) if word != "all" => self.error(
                &["sources", name, "databases"],
                format!("[sources.{name}]: databases = {word:?} is neither \"all\" nor a list: write databases = \"all\" or databases = [\"name\", …]"),
            ),
            Databases::List(list) if list.is_empty() => self.error(
                &["sources", name, "databases"],
                format!("[sources.{name}] lists no database: name at least one, or write databases = \"all\""),
            ),
            _ => {}
        }
    }

    fn min_fraction(&mut self, name: &str, fraction: Option<f64>) {
        let Some(fraction) = fraction else { return };
        if !(fraction > 0.0 && fraction <= 1.0) {
            self.error(
                &["sources", name, "min_fraction"],
                format!("[sources.{name}]: min_fraction = {fraction} is outside (0, 1]: write the smallest share of the previous dump accepted, as 0.5"),
            );
        }
    }

    /// Names that become snapshot tags: letters, digits, `-` and `_`.
    fn simple_name(&mut self, path: &[&str], what: &str, name: &str) {
        let simple = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !simple {
            self.error(
                path,
                format!("the {what} name {name:?} is not a simple name: use only letters, digits, '-' and '_' (it becomes a snapshot tag)"),
            );
        }
    }

    fn services(&mut self) {
        let config = self.config().clone();
        for (name, service) in &config.services {
            let path = ["services", name.as_str()];
            self.simple_name(&path, "service", name);
            if service.public_name.trim().is_empty() {
                self.error(
                    &[path[0], path[1], "public_name"],
                    format!("[services.{name}] has an empty public_name: write the name citizens know the service by"),
                );
            }
            for (i, source) in service.sources.iter().enumerate() {
                if !config.sources.contains_key(source) {
                    let index = i.to_string();
                    self.error(
                        &[path[0], path[1], "sources", &index],
                        format!("[services.{name}] uses the source {source:?}, which is not in [sources] ({})", names(&config.sources)),
                    );
                }
            }
            for (i, check) in service.health.iter().enumerate() {
                self.health_check(name, i, check);
            }
        }
    }

    fn health_check(&mut self, service: &str, index: usize, check: &HealthCheck) {
        let index = index.to_string();
        let path = ["services", service, "health", index.as_str()];
        let owner = format!("[services.{service}] health check {}", index);
        match check {
            HealthCheck::Sql {
                source, database, ..
            } => self.sql_check(service, &path, &owner, source, database.as_deref()),
            HealthCheck::Command { run } if run.first().is_none_or(|p| p.trim().is_empty()) => self
                .error(
                    &[path[0], path[1], path[2], path[3], "run"],
                    format!("{owner} has an empty command: give the program and its arguments"),
                ),
            _ => {}
        }
    }

    fn sql_check(
        &mut self,
        service: &str,
        path: &[&str; 4],
        owner: &str,
        source: &str,
        database: Option<&str>,
    ) {
        let source_path = [path[0], path[1], path[2], path[3], "source"];
        let config = self.config().clone();
        let Some(found) = config.sources.get(source) else {
            self.error(
                &source_path,
                format!(
                    "{owner} queries the source {source:?}, which is not in [sources] ({})",
                    names(&config.sources)
                ),
            );
            return;
        };
        let in_service = config
            .services
            .get(service)
            .is_some_and(|s| s.sources.iter().any(|s| s == source));
        if !in_service {
            self.error(
                &source_path,
                format!("{owner} queries the source {source:?}, which is not one of this service's sources: add it to its sources"),
            );
        }
        let databases = match found {
            SourceConfig::Postgres { databases, .. } | SourceConfig::Mariadb { databases, .. } => {
                databases
            }
            SourceConfig::Sqlite { .. } => return,
            _ => {
                self.error(
                    &source_path,
                    format!(
                        "{owner} is an SQL query on {source:?}, which is not a database source"
                    ),
                );
                return;
            }
        };
        let database_path = [path[0], path[1], path[2], path[3], "database"];
        match (databases, database) {
            (Databases::List(list), Some(db)) if !list.iter().any(|d| d == db) => self.error(
                &database_path,
                format!("{owner} queries the database {db:?}, which [sources.{source}] does not back up ({})", list.join(", ")),
            ),
            (Databases::List(list), None) if list.len() > 1 => self.error(
                &path[..],
                format!("{owner}: [sources.{source}] has several databases: say which one with database = \"…\""),
            ),
            (Databases::All(_), None) => self.error(
                &path[..],
                format!("{owner}: [sources.{source}] backs up all databases: say which one with database = \"…\""),
            ),
            _ => {}
        }
    }

    /// Unknown dependencies, all of them, then a cycle among the rest:
    /// the graph stops at the first unknown one, so each is dropped once
    /// reported and the graph built again.
    fn dependencies(&mut self) {
        let original = self.config().services.clone();
        let mut services = original.clone();
        // Each turn removes one dependency, so this ends.
        loop {
            match Graph::new(&services) {
                Ok(_) => return,
                Err(GraphError::Unknown { service, missing }) => {
                    let at = dependency_index(&original, &service, &missing);
                    let known = names(&original);
                    self.error(
                        &["services", &service, "depends_on", &at],
                        format!("[services.{service}] depends on {missing:?}, which is not in [services] ({known})"),
                    );
                    if let Some(s) = services.get_mut(&service) {
                        s.depends_on.retain(|d| d != &missing);
                    }
                }
                Err(cycle @ GraphError::Cycle(_)) => {
                    let GraphError::Cycle(names) = &cycle else {
                        return;
                    };
                    let (first, next) = (names.first(), names.get(1));
                    if let (Some(first), Some(next)) = (first, next) {
                        let at = dependency_index(&original, first, next);
                        self.error(
                            &["services", first, "depends_on", &at],
                            format!("{cycle}: no service of the cycle could ever come back first; remove one of these dependencies"),
                        );
                    }
                    return;
                }
            }
        }
    }

    fn recovery(&mut self) {
        let config = self.config().clone();
        if config.recovery.parallel == 0 {
            self.error(
                &["recovery", "parallel"],
                "[recovery] parallel = 0 would restore nothing: write 1 or more".to_string(),
            );
        }
        if let Some(server) = &config.recovery.drill_server {
            if !config.servers.contains_key(server) {
                self.error(
                    &["recovery", "drill_server"],
                    format!(
                        "[recovery] drill_server names {server:?}, which is not in [servers] ({})",
                        names(&config.servers)
                    ),
                );
            }
        }
    }
}

/// The position of `missing` in `service`'s depends_on, as a path segment.
fn dependency_index(
    services: &BTreeMap<String, super::model::ServiceConfig>,
    service: &str,
    missing: &str,
) -> String {
    services
        .get(service)
        .and_then(|s| s.depends_on.iter().position(|d| d == missing))
        .map_or_else(String::new, |i| i.to_string())
}

fn engine_name(engine: ServerEngine) -> &'static str {
    match engine {
        ServerEngine::Postgres => "postgres",
        ServerEngine::Mariadb => "mariadb",
    }
}

/// The names of a section, for messages: "known: a, b" or "it is empty".
fn names<T>(section: &BTreeMap<String, T>) -> String {
    if section.is_empty() {
        "the section is empty".to_string()
    } else {
        let list: Vec<&str> = section.keys().map(String::as_str).collect();
        format!("known: {}", list.join(", "))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::config::Severity;
    use std::path::Path;

    fn check(text: &str) -> Vec<Problem> {
        LoadedConfig::parse(text, Path::new("t.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
            .check()
    }

    /// The one problem whose message contains `needle`, asserted to be on
    /// `line` with `severity`.
    fn assert_problem(problems: &[Problem], needle: &str, line: usize, severity: Severity) {
        let found: Vec<&Problem> = problems
            .iter()
            .filter(|p| p.message.contains(needle))
            .collect();
        assert_eq!(found.len(), 1, "{needle:?} in {problems:#?}");
        assert_eq!(found[0].line, line, "{:?}", found[0]);
        assert_eq!(found[0].severity, severity, "{:?}", found[0]);
    }

    const PG: &str = "[servers.pg]\nengine = \"postgres\"\nhost = \"127.0.0.1\"\n";

    #[test]
    fn a_service_using_an_unknown_source_is_an_error_on_its_line() {
        let text = "[services.eau]\npublic_name = \"Eau\"\nsources = [\n  \"eau-db\",\n]\n";
        let p = check(text);
        assert_problem(&p, "uses the source \"eau-db\"", 4, Severity::Error);
    }

    #[test]
    fn every_unknown_dependency_is_reported_then_a_cycle_named() {
        let text = "\
[services.a]
public_name = \"A\"
depends_on = [\"b\", \"ghost\"]
[services.b]
public_name = \"B\"
depends_on = [\"phantom\", \"a\"]
";
        let p = check(text);
        assert_problem(&p, "depends on \"ghost\"", 3, Severity::Error);
        assert_problem(&p, "depends on \"phantom\"", 6, Severity::Error);
        assert_problem(&p, "cycle: a -> b -> a", 3, Severity::Error);
    }

    #[test]
    fn a_source_on_an_unknown_server_or_a_server_of_another_engine_is_an_error() {
        let text = format!(
            "{PG}[sources.paie]\ntype = \"mariadb\"\nserver = \"pg\"\ndatabases = [\"paie\"]\n\
             [sources.eau]\ntype = \"postgres\"\nserver = \"pg-mairie\"\ndatabases = [\"eau\"]\n"
        );
        let p = check(&text);
        assert_problem(
            &p,
            "is a mariadb source but [servers.pg] is a postgres server",
            6,
            Severity::Error,
        );
        assert_problem(
            &p,
            "names the server \"pg-mairie\", which is not in [servers] (known: pg)",
            10,
            Severity::Error,
        );
    }

    #[test]
    fn databases_all_misspelt_or_an_empty_list_is_an_error() {
        let text = format!(
            "{PG}[sources.a]\ntype = \"postgres\"\nserver = \"pg\"\ndatabases = \"al\"\n\
             [sources.b]\ntype = \"postgres\"\nserver = \"pg\"\ndatabases = []\n"
        );
        let p = check(&text);
        assert_problem(
            &p,
            "databases = \"al\" is neither \"all\"",
            7,
            Severity::Error,
        );
        assert_problem(&p, "[sources.b] lists no database", 11, Severity::Error);
    }

    #[test]
    fn a_source_used_by_no_service_is_a_warning_only() {
        let text = "[sources.orphan]\ntype = \"files\"\npaths = [\"/srv\"]\n";
        let p = check(text);
        assert_problem(&p, "is used by no service", 1, Severity::Warning);
        assert!(p.iter().all(|p| p.severity != Severity::Error), "{p:?}");
    }

    #[test]
    fn a_second_default_repository_is_an_error() {
        let text = "\
[repositories.a]
location = \"/srv/a\"
password_command = \"echo a\"
default = true
[repositories.b]
location = \"/srv/b\"
password_command = \"echo b\"
default = true
";
        let p = check(text);
        assert_problem(&p, "is a second default repository", 8, Severity::Error);
    }

    #[test]
    fn password_sources_none_is_a_warning_several_an_error() {
        let text = "\
[repositories.none]
location = \"/srv/a\"
[repositories.two]
location = \"/srv/b\"
password_command = \"echo b\"
password_file = \"/etc/hosts\"
[servers.pg]
engine = \"postgres\"
password_file = \"/etc/hosts\"
password_env = \"PATH\"
";
        let p = check(text);
        assert_problem(
            &p,
            "[repositories.none] names no password source",
            1,
            Severity::Warning,
        );
        assert_problem(
            &p,
            "[repositories.two] names several password sources",
            3,
            Severity::Error,
        );
        assert_problem(
            &p,
            "names both password_file and password_env",
            7,
            Severity::Error,
        );
    }

    #[test]
    fn missing_credentials_are_errors_and_a_readable_password_file_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::write(&open, "pw\n").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = format!(
            "[repositories.a]\nlocation = \"/srv/a\"\npassword_env = \"REPRISE_TEST_UNSET_VARIABLE_C1\"\n\
             [repositories.b]\nlocation = \"/srv/b\"\npassword_file = \"{}/missing\"\n\
             [repositories.c]\nlocation = \"/srv/c\"\npassword_file = \"{}\"\n",
            dir.path().display(),
            open.display()
        );
        let p = check(&text);
        assert_problem(
            &p,
            "REPRISE_TEST_UNSET_VARIABLE_C1 (password_env) is not set",
            3,
            Severity::Error,
        );
        assert_problem(&p, "missing cannot be read", 6, Severity::Error);
        assert_problem(
            &p,
            "can be read by other users (mode 644)",
            9,
            Severity::Warning,
        );
    }

    #[test]
    fn min_fraction_must_be_in_zero_one() {
        let text = "[sources.a]\ntype = \"sqlite\"\npath = \"/srv/a.db\"\nmin_fraction = 1.5\n\
                    [sources.b]\ntype = \"sqlite\"\npath = \"/srv/b.db\"\nmin_fraction = 0.0\n\
                    [sources.c]\ntype = \"sqlite\"\npath = \"/srv/c.db\"\nmin_fraction = 1.0\n";
        let p = check(text);
        assert_problem(&p, "min_fraction = 1.5 is outside", 4, Severity::Error);
        assert_problem(&p, "min_fraction = 0 is outside", 8, Severity::Error);
        assert!(
            !p.iter().any(|p| p.message.contains("[sources.c]: min")),
            "{p:?}"
        );
    }

    #[test]
    fn parallel_zero_and_an_unknown_drill_server_are_errors() {
        let text = "[recovery]\nparallel = 0\ndrill_server = \"scratch\"\n";
        let p = check(text);
        assert_problem(&p, "parallel = 0", 2, Severity::Error);
        assert_problem(&p, "drill_server names \"scratch\"", 3, Severity::Error);
    }

    #[test]
    fn empty_paths_dump_restore_and_health_commands_are_errors() {
        let text = "\
[sources.f]
type = \"files\"
paths = []
[sources.ldap]
type = \"command\"
dump = []
restore = [\"\"]
filename = \"a.ldif\"
[services.s]
public_name = \"S\"
sources = [\"f\", \"ldap\"]
[[services.s.health]]
type = \"command\"
run = []
";
        let p = check(text);
        assert_problem(&p, "[sources.f] has no paths", 3, Severity::Error);
        assert_problem(&p, "empty dump command", 6, Severity::Error);
        assert_problem(&p, "empty restore command", 7, Severity::Error);
        assert_problem(
            &p,
            "health check 0 has an empty command",
            14,
            Severity::Error,
        );
    }

    #[test]
    fn service_and_source_names_must_be_simple_and_public_names_not_empty() {
        let text = "\
[services.\"état civil\"]
public_name = \"État civil\"
[services.paie]
public_name = \"  \"
";
        let p = check(text);
        assert_problem(
            &p,
            "service name \"état civil\" is not a simple name",
            1,
            Severity::Error,
        );
        assert_problem(
            &p,
            "[services.paie] has an empty public_name",
            4,
            Severity::Error,
        );
    }

    #[test]
    fn an_sql_health_check_must_name_a_database_source_of_its_service() {
        let text = format!(
            "{PG}[sources.db]\ntype = \"postgres\"\nserver = \"pg\"\ndatabases = [\"a\", \"b\"]\n\
             [services.s]\npublic_name = \"S\"\nsources = [\"db\"]\n\
             [[services.s.health]]\ntype = \"sql\"\nsource = \"db\"\nquery = \"select 1\"\nexpect = \"1\"\n\
             [[services.s.health]]\ntype = \"sql\"\nsource = \"db\"\ndatabase = \"c\"\nquery = \"select 1\"\nexpect = \"1\"\n\
             [[services.s.health]]\ntype = \"sql\"\nsource = \"nope\"\nquery = \"select 1\"\nexpect = \"1\"\n"
        );
        let p = check(&text);
        assert_problem(
            &p,
            "has several databases: say which one",
            11,
            Severity::Error,
        );
        assert_problem(&p, "queries the database \"c\"", 19, Severity::Error);
        assert_problem(
            &p,
            "queries the source \"nope\", which is not in [sources]",
            24,
            Severity::Error,
        );
    }

    #[test]
    fn problems_are_sorted_by_line() {
        let text = "[recovery]\nparallel = 0\n[services.b]\npublic_name = \"\"\n[services.a]\npublic_name = \"\"\n";
        let lines: Vec<usize> = check(text).iter().map(|p| p.line).collect();
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted);
    }
}
