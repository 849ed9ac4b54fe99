//! `command` sources: any program whose standard output is the backup, and
//! the program that takes it back on its standard input (an application's
//! own export tool, `ldapsearch`/`ldapadd`, a vendor's dump script).
//!
//! They run under the same supervision as the database tools: the dump
//! fails when the program exits non-zero, is killed, writes anything on
//! standard error, writes nothing, or writes much less than the previous
//! night; the restore fails when its program exits non-zero, with that
//! program's standard error in the message. reprise knows nothing of the
//! data's structure, so the manifest has no tables.
//!
//! The programs run directly, without a shell: each word of `dump` and
//! `restore` is one argument.

use crate::supervise::{feed_tool, locate, start_dump, ManifestBase, Tool};
use crate::{DbError, Dump, DumpOptions};
use std::io::Read;

/// A program to back up from and one to restore into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSource {
    /// The dump program and its arguments.
    pub dump: Vec<String>,
    /// The restore program and its arguments.
    pub restore: Vec<String>,
}

impl CommandSource {
    /// Starts the dump program; its manifest names the program (engine
    /// `command`, no tables).
    pub fn dump(&self, options: &DumpOptions) -> Result<Dump, DbError> {
        let tool = tool_of(&self.dump, "dump")?;
        let base = ManifestBase {
            engine: "command",
            database: tool.name.clone(),
        };
        start_dump(tool, None, base, options)
    }

    /// Runs the restore program with `input` on its standard input.
    pub fn restore(&self, input: &mut (dyn Read + Send)) -> Result<(), DbError> {
        feed_tool(&tool_of(&self.restore, "restore")?, input)
    }
}

fn tool_of(words: &[String], role: &str) -> Result<Tool, DbError> {
    let Some((program, args)) = words.split_first() else {
        return Err(DbError::Invalid(format!(
            "the command source has no {role} program: give its {role} command"
        )));
    };
    let path = locate(&[program.as_str()], None, "that provides it").map_err(|_| {
        DbError::ToolMissing {
            tool: program.clone(),
            hint: format!(
                "the {role} program of a command source is not on PATH: give its full path, or \
                 install it"
            ),
        }
    })?;
    Ok(Tool {
        name: program.clone(),
        program: path,
        args: args.iter().map(Into::into).collect(),
        env: Vec::new(),
        target: program.clone(),
        missing_hint: format!("the {role} program of a command source: give its full path"),
    })
}
