//! MariaDB (and MySQL) through their own client tools: `mariadb-dump` for
//! dumps, `mariadb` for restores, queries and checks; `mysqldump` and
//! `mysql` when the MariaDB names are absent.
//!
//! **The dump** is plain SQL, uncompressed, of one database without its
//! `CREATE DATABASE` (so it can be restored under another name):
//! - `--single-transaction`: one consistent snapshot of InnoDB tables
//!   without locking writers out (MyISAM tables have no such snapshot);
//! - `--skip-extended-insert`: one `INSERT` per row and per line, so rows
//!   are counted and checksummed one by one and a changed row changes one
//!   line, which keeps night-to-night deduplication high;
//! - `--order-by-primary --skip-dump-date`: the same data gives the same
//!   bytes every night;
//! - `--routines --events --triggers`: the database's code comes back with
//!   it. The dumping user needs the `SELECT`, `SHOW VIEW`, `TRIGGER`,
//!   `EVENT` and `LOCK TABLES` privileges (and access to `mysql.proc` for
//!   routines); a missing one makes the dump fail, loudly;
//! - `--hex-blob`: binary columns as hexadecimal, so a dump is text that
//!   any client loads as it is.
//!
//! Recent `mariadb-dump` versions (10.11.8 and later in the 10.11 series)
//! open their output with a `/*M!999999\- enable the sandbox mode */` line
//! that older `mariadb` clients reject: restore with a client at least as
//! new as the dump tool.
//!
//! Views, triggers and routines keep their `DEFINER`: restored into a
//! server where that account does not exist, they are created but fail
//! when used, until the account is created (or the definer changed).
//!
//! **A restore** creates the database and runs the `mariadb` client on the
//! dump, which stops at the first error (no `--force`). MariaDB commits DDL
//! as it goes, so a failed restore is not rolled back by the server: the
//! half-loaded database is dropped instead, so nothing looks restored. On
//! its way to the client, the dump's consecutive one-row `INSERT`s of a
//! table are merged into multi-row ones of at most 1 MiB (`batch.rs`), the
//! shape mariadb-dump gives by default, which the server loads about three
//! times faster. The dump stored stays one row a line, and a restore by
//! hand (`mariadb db < dump.sql`) gives the same database, only slower.
//!
//! The password reaches the tools as `MYSQL_PWD`, never on their command
//! line; the client's `--connect-timeout=30` makes an unreachable server
//! fail instead of hanging (`mariadb-dump` has no such option).

use crate::stats::{compare_tables, Dialect, StatsCollector};
use crate::supervise::{
    feed_tool, locate, read_password, run_tool, start_dump, tables_of, ManifestBase, Tool,
};
use crate::{Connection, DbError, Dump, DumpManifest, DumpOptions, Engine, Replace, Verification};
use batch::InsertBatcher;
use std::io::Read;

mod batch;

/// The server's own databases: never listed, never dropped.
const SYSTEM: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];
const PACKAGE: &str = "mariadb-client";

/// A MariaDB or MySQL server reached through its client tools.
#[derive(Debug, Clone)]
pub struct MariaDb {
    connection: Connection,
}

impl MariaDb {
    pub fn new(connection: Connection) -> MariaDb {
        MariaDb { connection }
    }

    /// The first of `programs` found, with the connection's options and
    /// password, working on `target`.
    fn tool(&self, programs: &[&str], target: &str) -> Result<Tool, DbError> {
        let path = locate(programs, self.connection.bin_dir.as_deref(), PACKAGE)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| programs.join("/"));
        let mut env = Vec::new();
        if let Some(password) = read_password(&self.connection)? {
            env.push(("MYSQL_PWD".to_owned(), password));
        }
        let mut tool = Tool {
            name,
            program: path,
            args: Vec::new(),
            env,
            target: target.to_owned(),
            missing_hint: format!("install the Debian package {PACKAGE}"),
        };
        if let Some(host) = &self.connection.host {
            tool = tool.arg(format!("--host={host}"));
        }
        if let Some(port) = self.connection.port {
            tool = tool.arg(format!("--port={port}"));
        }
        if let Some(user) = &self.connection.user {
            tool = tool.arg(format!("--user={user}"));
        }
        Ok(tool)
    }

    /// The `mariadb` client in batch mode: no column names, raw values,
    /// tab-separated.
    fn client(&self, target: &str) -> Result<Tool, DbError> {
        Ok(self.tool(&["mariadb", "mysql"], target)?.args([
            "--connect-timeout=30",
            "--batch",
            "--skip-column-names",
            "--raw",
        ]))
    }

    /// Runs `sql` and returns the first field of each output line.
    fn query(&self, target: &str, sql: &str) -> Result<Vec<String>, DbError> {
        let output = run_tool(&self.client(target)?.arg("--execute").arg(sql), None)?;
        Ok(String::from_utf8_lossy(&output)
            .lines()
            .map(|line| line.split('\t').next().unwrap_or_default().to_owned())
            .collect())
    }
}

/// A name as a MariaDB identifier: in backquotes, inner ones doubled.
fn identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A name as a MariaDB string literal, in hexadecimal: immune to the
/// quoting rules that `sql_mode` changes (`NO_BACKSLASH_ESCAPES`).
fn literal(name: &str) -> String {
    let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    format!("CONVERT(X'{hex}' USING utf8mb4)")
}

fn check_name(database: &str) -> Result<(), DbError> {
    if database.is_empty() || database.contains(['\0', '\n', '\r']) || database.starts_with('-') {
        return Err(DbError::Invalid(format!(
            "{database:?} is not a usable database name (empty, a control character, or a \
             leading dash)"
        )));
    }
    Ok(())
}

impl Engine for MariaDb {
    fn name(&self) -> &'static str {
        "mariadb"
    }

    fn ping(&self) -> Result<(), DbError> {
        self.query("the server", "SELECT 1").map(drop)
    }

    fn list_databases(&self) -> Result<Vec<String>, DbError> {
        let mut names = self.query("the server", "SHOW DATABASES")?;
        names.retain(|name| !SYSTEM.contains(&name.as_str()) && !name.is_empty());
        names.sort();
        Ok(names)
    }

    fn dump(&self, database: &str, options: &DumpOptions) -> Result<Dump, DbError> {
        check_name(database)?;
        let tool = self.tool(&["mariadb-dump", "mysqldump"], database)?.args([
            "--single-transaction",
            "--skip-extended-insert",
            "--order-by-primary",
            "--skip-dump-date",
            "--routines",
            "--events",
            "--triggers",
            "--hex-blob",
            "--default-character-set=utf8mb4",
            database,
        ]);
        let base = ManifestBase {
            engine: "mariadb",
            database: database.to_owned(),
        };
        start_dump(
            tool,
            Some(StatsCollector::new(Dialect::MariaDb)),
            base,
            options,
        )
    }

    fn exists(&self, database: &str) -> Result<bool, DbError> {
        check_name(database)?;
        let sql = format!(
            "SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {}",
            literal(database)
        );
        Ok(!self.query(database, &sql)?.is_empty())
    }

    fn restore(
        &self,
        database: &str,
        dump: &mut (dyn Read + Send),
        replace: Replace,
    ) -> Result<(), DbError> {
        check_name(database)?;
        if self.exists(database)? {
            match replace {
                Replace::Never => {
                    return Err(DbError::Exists {
                        database: database.to_owned(),
                    })
                }
                Replace::Existing => self.drop_database(database)?,
            }
        }
        let created = self.query(
            database,
            &format!(
                "CREATE DATABASE {}; SELECT @@max_allowed_packet",
                identifier(database)
            ),
        )?;
        let max_allowed_packet = created.last().and_then(|v| v.parse().ok());
        let client = self
            .tool(&["mariadb", "mysql"], database)?
            .arg("--connect-timeout=30")
            .arg(format!("--database={database}"));
        // The dump has one INSERT a row (so that nights deduplicate), each a
        // statement the server parses and commits on its own: they are
        // merged into multi-row ones on the way (batch.rs). Autocommit stays
        // on, as for `mariadb < dump`: with statements of up to 1 MiB, one
        // transaction a table measured slower, not faster (bench/databases).
        let mut dump = InsertBatcher::new(dump, batch::limit_for(max_allowed_packet));
        let loaded = feed_tool(&client, &mut dump);
        if loaded.is_err() {
            // Partly loaded (DDL commits as it goes): dropped, so that
            // nothing looks restored.
            let _ = self.drop_database(database);
        }
        loaded
    }

    fn verify(&self, database: &str, expected: &DumpManifest) -> Result<Verification, DbError> {
        let actual = tables_of(self.dump(database, &DumpOptions::default())?, database)?;
        Ok(compare_tables(&expected.tables, &actual))
    }

    fn drop_database(&self, database: &str) -> Result<(), DbError> {
        check_name(database)?;
        if SYSTEM.contains(&database) {
            return Err(DbError::Invalid(format!(
                "refusing to drop {database}: the server needs it"
            )));
        }
        let sql = format!("DROP DATABASE IF EXISTS {}", identifier(database));
        self.query(database, &sql).map(drop)
    }

    fn query_scalar(&self, database: &str, sql: &str) -> Result<String, DbError> {
        check_name(database)?;
        let client = self
            .client(database)?
            .arg(format!("--database={database}"))
            .arg("--execute")
            .arg(sql);
        let output = run_tool(&client, None)?;
        let text = String::from_utf8_lossy(&output);
        let first_line = text.lines().next().unwrap_or_default();
        Ok(first_line.split('\t').next().unwrap_or_default().to_owned())
    }
}
