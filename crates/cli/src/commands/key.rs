//! `reprise key add|list|remove|passwd`: the passwords of a repository.

use crate::cli::{GlobalOptions, KeyCommand};
use crate::commands::init::kdf_params;
use crate::password::Source;
use crate::{exit, output, password, repo_open};
use anyhow::Result;

pub fn run(g: &GlobalOptions, command: &KeyCommand) -> Result<u8> {
    let (repo, source) = repo_open::open_with_source(g)?;
    match command {
        KeyCommand::Add(a) => {
            let pw = password::new(a.new_password_file.as_deref())?;
            let id = repo.add_key(pw.as_bytes(), kdf_params(&a.kdf))?;
            report(g, "added", &id.to_hex())?;
        }
        KeyCommand::List => {
            let mut keys = repo.list_keys()?;
            if g.json {
                for k in &mut keys {
                    k.created = output::json_time_str(&k.created);
                }
                output::json(&keys)?;
            } else {
                println!("  {:<8}  {:<23}  {:<16}  user", "ID", "created", "host");
                for k in &keys {
                    let short = &k.id[..8.min(k.id.len())];
                    if let Some(reason) = &k.damaged {
                        println!("! {short:<8}  damaged: {reason}");
                        continue;
                    }
                    let mark = if k.current { '*' } else { ' ' };
                    println!(
                        "{mark} {short:<8}  {:<23}  {:<16}  {}",
                        output::text_time_str(&k.created),
                        k.hostname,
                        k.username
                    );
                }
                let damaged = keys.iter().filter(|k| k.damaged.is_some()).count();
                if damaged > 0 {
                    eprintln!("warning: {} damaged (marked !): no password opens {}; the others work. Remove them with `reprise key remove ID` once you have checked that every password you need is among the others", output::count(damaged as u64, "key file is", "key files are"), output::agree(damaged as u64, "it", "them"));
                }
            }
        }
        KeyCommand::Remove { id } => {
            let key = repo.find_key(id)?;
            repo.remove_key(&key)?;
            report(g, "removed", &key.to_hex())?;
        }
        KeyCommand::Passwd(a) => {
            let pw = password::new(a.new_password_file.as_deref())?;
            let id = repo.change_password(pw.as_bytes(), kdf_params(&a.kdf))?;
            report(g, "changed the password; new", &id.to_hex())?;
            if !g.quiet {
                eprintln!("{}", update_reminder(&source));
            }
        }
    }
    Ok(exit::OK)
}

/// After `key passwd`: the old password opens nothing any more, so the
/// place it came from must get the new one before the next backup.
fn update_reminder(source: &Source) -> String {
    let what = match source {
        Source::File(path, how) => format!(
            "write the new password into {} ({how}), the file the old one came from",
            path.display()
        ),
        Source::Command(cmd, how) => {
            format!("make the password command {cmd:?} ({how}) print the new password")
        }
        Source::Variable(name) => format!("set {name} to the new password"),
        Source::Prompt => "type the new password from now on".to_string(),
    };
    format!("note: the old password no longer opens this repository: {what}, or the next backup will fail with a wrong password (exit 12)")
}

fn report(g: &GlobalOptions, what: &str, id: &str) -> Result<()> {
    if g.json {
        output::json(&serde_json::json!({ "action": what, "key": id }))
    } else {
        if !g.quiet {
            println!("{what} key {}", &id[..8.min(id.len())]);
        }
        Ok(())
    }
}
