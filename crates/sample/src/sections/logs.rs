//! `logs/`: the file server's, the backup job's and the authentication logs, with rotated
//! older files, plus the error log that stayed empty.

use std::io;

use fastrand::Rng;

use crate::calendar::Date;
use crate::rng::{chance, derived_rng, pick, split_budget};
use crate::words::{file_name_form, first_name};
use crate::writer::ShareWriter;

pub(crate) const EMPTY_LOG: &str = "logs/erreurs.log";
const TYPICAL_LOG_BYTES: u64 = 500 * 1024;
const LOGS: &[&str] = &["serveur-fichiers", "sauvegarde", "authentification"];
const SHARES: &[&str] = &[
    "etat-civil",
    "finances",
    "eau",
    "rh",
    "enfance",
    "communication",
];
const ACTIONS: &[&str] = &["opened", "closed", "renamed", "created", "deleted"];

pub(crate) fn write_logs(share: &mut ShareWriter, seed: u64, budget: u64) -> io::Result<()> {
    let mut rng = derived_rng(seed, "logs");
    for (index, size) in split_budget(&mut rng, budget, TYPICAL_LOG_BYTES)
        .into_iter()
        .enumerate()
    {
        let kind = index % LOGS.len();
        let path = match index / LOGS.len() {
            0 => format!("logs/{}.log", LOGS[kind]),
            rotation => format!("logs/{}.log.{rotation}", LOGS[kind]),
        };
        share.write(&path, log_text(&mut rng, kind, size).as_bytes())?;
    }
    share.write(EMPTY_LOG, b"")
}

fn log_text(rng: &mut Rng, kind: usize, approx_bytes: u64) -> String {
    let mut log = String::with_capacity(approx_bytes as usize + 256);
    let mut seconds: u32 = 0;
    while (log.len() as u64) < approx_bytes {
        seconds += rng.u32(1..300);
        let date = Date::from_ordinal(2024, seconds / 86_400);
        let time = format!(
            "{:02}:{:02}:{:02}",
            seconds / 3600 % 24,
            seconds / 60 % 60,
            seconds % 60
        );
        let line = match kind {
            0 => file_server_line(rng, date, &time),
            1 => backup_line(rng, date, &time),
            _ => authentication_line(rng, date, &time),
        };
        log.push_str(&line);
    }
    log
}

fn user(rng: &mut Rng) -> String {
    file_name_form(first_name(rng))
}

fn file_server_line(rng: &mut Rng, date: Date, time: &str) -> String {
    format!(
        "{}T{time}+01:00 srv-mairie smbd[{}]: {} {} partage/{}/document-{:04}.odt (read={}, write={})\n",
        date.iso(),
        rng.u32(1000..30000),
        user(rng),
        pick(rng, ACTIONS),
        pick(rng, SHARES),
        rng.u32(..5000),
        if chance(rng, 80) { "yes" } else { "no" },
        if chance(rng, 30) { "yes" } else { "no" },
    )
}

fn backup_line(rng: &mut Rng, date: Date, time: &str) -> String {
    let level = if chance(rng, 95) { "INFO" } else { "WARN" };
    format!(
        "{} {time} {level} sauvegarde[{}]: {} fichiers examinés, {} modifiés, {} Mo transférés en {} s\n",
        date.iso(),
        rng.u32(1000..30000),
        rng.u32(20_000..40_000),
        rng.u32(..500),
        rng.u32(..4000),
        rng.u32(10..3600),
    )
}

fn authentication_line(rng: &mut Rng, date: Date, time: &str) -> String {
    let outcome = if chance(rng, 90) {
        "Accepted password"
    } else {
        "Failed password"
    };
    format!(
        "{} {time} srv-mairie sshd[{}]: {outcome} for {} from 10.0.{}.{} port {} ssh2\n",
        date.ctime_day(),
        rng.u32(1000..30000),
        user(rng),
        rng.u8(..4),
        rng.u8(2..250),
        rng.u16(30_000..60_000),
    )
}
