//! `reprise key add|list|remove|passwd`: the passwords of a repository.

use crate::cli::{GlobalOptions, KeyCommand};
use crate::commands::init::kdf_params;
use crate::{exit, output, password, repo_open};
use anyhow::Result;

pub fn run(g: &GlobalOptions, command: &KeyCommand) -> Result<u8> {
    let repo = repo_open::open(g)?;
    match command {
        KeyCommand::Add(a) => {
            let pw = password::new(a.new_password_file.as_deref())?;
            let id = repo.add_key(pw.as_bytes(), kdf_params(&a.kdf))?;
            report(g, "added", &id.to_hex())?;
        }
        KeyCommand::List => {
            let keys = repo.list_keys()?;
            if g.json {
                output::json(&keys)?;
            } else {
                println!("  {:<8}  {:<35}  {:<16}  user", "ID", "created", "host");
                for k in &keys {
                    let short = &k.id[..8.min(k.id.len())];
                    if let Some(reason) = &k.damaged {
                        println!("! {short:<8}  damaged: {reason}");
                        continue;
                    }
                    let mark = if k.current { '*' } else { ' ' };
                    println!(
                        "{mark} {short:<8}  {:<35}  {:<16}  {}",
                        k.created, k.hostname, k.username
                    );
                }
                let damaged = keys.iter().filter(|k| k.damaged.is_some()).count();
                if damaged > 0 {
                    eprintln!("warning: {damaged} key file(s) are damaged (marked !): no password opens them; the others work. Remove them with `reprise key remove ID` once you have checked that every password you need is among the others");
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
        }
    }
    Ok(exit::OK)
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
