//! PostgreSQL through its own client tools: `pg_dump` for dumps, `psql` for
//! restores, queries and checks.
//!
//! **The dump** is `pg_dump --format=plain`: plain SQL, uncompressed, table
//! data as `COPY` rows (compact, fast to load, one row per line so that the
//! statistics and the repository's deduplication see rows), tables in
//! pg_dump's stable order. pg_dump reads the whole database in one
//! repeatable-read transaction, so the dump is consistent without locking
//! writers out. Since 15.18 (and 14.19, 13.22...) pg_dump writes a
//! `\restrict KEY` line with a random key at its top and an `\unrestrict`
//! at its end: two lines that differ every night, which neither the
//! per-table checksums (they cover rows only) nor the deduplication (one
//! chunk) care about, and which `psql` of the same version requires.
//!
//! Large objects are dumped and restored, but not counted in the per-table
//! statistics (they are not rows of a table).
//!
//! **Owners and privileges are left out** (`--no-owner --no-privileges`):
//! a restore goes into whatever server is at hand on the day, often a new
//! one where the original roles do not exist yet, and a dump that names
//! them would fail there on its first `ALTER ... OWNER TO`. Restored
//! objects belong to the user reprise connects as; the roles and grants
//! are the sysadmin's to recreate (`pg_dumpall --roles-only` keeps them).
//! Tablespaces are left out for the same reason (`--no-tablespaces`), and
//! subscriptions, which would start replicating from the old server the
//! moment they were restored (`--no-subscriptions`).
//!
//! **A restore** creates the database from `template0` (so nothing added to
//! `template1` on the target server collides with the dump), then runs
//! `psql -X --single-transaction -v ON_ERROR_STOP=1` on the dump: the first
//! SQL error rolls everything back, and the empty database is then dropped,
//! so a failed restore leaves nothing that looks restored.
//!
//! Every tool runs with `--no-password` (never a prompt on a terminal);
//! a password reaches them as `PGPASSWORD`, and `PGCONNECT_TIMEOUT`
//! defaults to 30 s so an unreachable server fails instead of hanging.

use crate::stats::{compare_tables, Dialect, StatsCollector};
use crate::supervise::{
    feed_tool, locate, read_password, run_tool, start_dump, tables_of, ManifestBase, Tool,
};
use crate::{Connection, DbError, Dump, DumpManifest, DumpOptions, Engine, Replace, Verification};
use std::io::Read;

/// The databases a restore or drill must never drop.
const PROTECTED: [&str; 3] = ["postgres", "template0", "template1"];
const PACKAGE: &str = "postgresql-client";

/// A PostgreSQL server reached through its client tools.
#[derive(Debug, Clone)]
pub struct Postgres {
    connection: Connection,
}

impl Postgres {
    pub fn new(connection: Connection) -> Postgres {
        Postgres { connection }
    }

    /// A PostgreSQL client tool with the connection's host, port, user and
    /// password, working on `target`.
    fn tool(&self, program: &str, target: &str) -> Result<Tool, DbError> {
        let path = locate(&[program], self.connection.bin_dir.as_deref(), PACKAGE)?;
        let mut env = Vec::new();
        if let Some(password) = read_password(&self.connection)? {
            env.push(("PGPASSWORD".to_owned(), password));
        }
        if std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
            env.push(("PGCONNECT_TIMEOUT".to_owned(), "30".to_owned()));
        }
        let mut tool = Tool {
            name: program.to_owned(),
            program: path,
            args: Vec::new(),
            env,
            target: target.to_owned(),
            missing_hint: format!("install the Debian package {PACKAGE}"),
        }
        .arg("--no-password");
        if let Some(host) = &self.connection.host {
            tool = tool.arg("--host").arg(host);
        }
        if let Some(port) = self.connection.port {
            tool = tool.arg("--port").arg(port.to_string());
        }
        if let Some(user) = &self.connection.user {
            tool = tool.arg("--username").arg(user);
        }
        Ok(tool)
    }

    /// `psql` on `database`, quiet, stopping at the first error, with none
    /// of the user's `.psqlrc`.
    fn psql(&self, database: &str) -> Result<Tool, DbError> {
        Ok(self.tool("psql", database)?.args([
            "-X".into(),
            "-q".into(),
            "-v".into(),
            "ON_ERROR_STOP=1".into(),
            "-d".into(),
            conninfo_dbname(database),
        ]))
    }

    /// Runs `sql` in the maintenance database with `:'name'`/`:"name"`
    /// standing for `name` quoted by psql itself (as a literal or as an
    /// identifier), and returns the rows' first column.
    fn admin_query(&self, sql: &str, name: &str) -> Result<Vec<String>, DbError> {
        let tool = self
            .psql("postgres")?
            .args(["-A", "-t", "-0", "-z", "-v"])
            .arg(format!("name={name}"));
        let output = run_tool(&tool, Some(sql.as_bytes()))?;
        Ok(records(&output))
    }

    fn create_database(&self, database: &str) -> Result<(), DbError> {
        self.admin_query("CREATE DATABASE :\"name\" TEMPLATE template0;\n", database)
            .map(drop)
    }
}

/// A `dbname='...'` connection string: a database name given as it is
/// would be taken as a connection string when it contains `=`.
fn conninfo_dbname(database: &str) -> String {
    let quoted = database.replace('\\', "\\\\").replace('\'', "\\'");
    format!("dbname='{quoted}'")
}

/// The first field of every record of `psql -A -t -0 -z` output (fields
/// and records both end with a NUL byte there, so only single-column
/// queries use this).
fn records(output: &[u8]) -> Vec<String> {
    output
        .split(|&b| b == 0)
        .map(|r| String::from_utf8_lossy(r).trim_end_matches('\n').to_owned())
        .filter(|r| !r.is_empty())
        .collect()
}

fn check_name(database: &str) -> Result<(), DbError> {
    if database.is_empty() || database.contains(['\0', '\n', '\r']) {
        return Err(DbError::Invalid(format!(
            "{database:?} is not a usable database name (empty, or a control character in it)"
        )));
    }
    Ok(())
}

impl Engine for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn ping(&self) -> Result<(), DbError> {
        run_tool(&self.psql("postgres")?.args(["-c", "SELECT 1"]), None).map(drop)
    }

    fn list_databases(&self) -> Result<Vec<String>, DbError> {
        self.admin_query(
            "SELECT datname FROM pg_database WHERE NOT datistemplate AND datname <> 'postgres' \
             ORDER BY datname;\n",
            "",
        )
    }

    fn dump(&self, database: &str, options: &DumpOptions) -> Result<Dump, DbError> {
        check_name(database)?;
        let tool = self.tool("pg_dump", database)?.args([
            "--format=plain".to_owned(),
            "--no-owner".into(),
            "--no-privileges".into(),
            "--no-tablespaces".into(),
            "--no-subscriptions".into(),
            "--dbname".into(),
            conninfo_dbname(database),
        ]);
        let base = ManifestBase {
            engine: "postgres",
            database: database.to_owned(),
        };
        start_dump(
            tool,
            Some(StatsCollector::new(Dialect::Postgres)),
            base,
            options,
        )
    }

    fn exists(&self, database: &str) -> Result<bool, DbError> {
        check_name(database)?;
        let rows = self.admin_query(
            "SELECT 1 FROM pg_database WHERE datname = :'name';\n",
            database,
        )?;
        Ok(!rows.is_empty())
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
        self.create_database(database)?;
        let psql = self
            .psql(database)?
            .args(["--single-transaction", "-f", "-"]);
        let loaded = feed_tool(&psql, dump);
        if loaded.is_err() {
            // Rolled back, so empty: dropped, so that nothing looks restored.
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
        if PROTECTED.contains(&database) {
            return Err(DbError::Invalid(format!(
                "refusing to drop {database}: PostgreSQL needs it"
            )));
        }
        self.admin_query(
            "DROP DATABASE IF EXISTS :\"name\" WITH (FORCE);\n",
            database,
        )
        .map(drop)
    }

    fn query_scalar(&self, database: &str, sql: &str) -> Result<String, DbError> {
        check_name(database)?;
        let tool = self
            .psql(database)?
            .args(["-A", "-t", "-0", "-z", "-c", sql]);
        let output = run_tool(&tool, None)?;
        let first = output.split(|&b| b == 0).next().unwrap_or_default();
        Ok(String::from_utf8_lossy(first)
            .trim_end_matches('\n')
            .to_owned())
    }
}
