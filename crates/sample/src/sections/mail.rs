//! `courriel/`: the town hall's mailboxes exported as mbox files (plain text messages from
//! residents and partners), and the messages that arrive during a working day.

use std::io;

use fastrand::Rng;

use crate::calendar::Date;
use crate::rng::{derived_rng, pick, split_budget};
use crate::words::{file_name_form, first_name, paragraph, surname};
use crate::writer::ShareWriter;

const TYPICAL_MAILBOX_BYTES: u64 = 900 * 1024;
const MAILBOXES: &[&str] = &["accueil", "maire", "urbanisme", "secretariat"];
const DOMAIN: &str = "saint-exemple.fr";
const SENDER_DOMAINS: &[&str] = &[
    "laposte.net",
    "orange.fr",
    "free.fr",
    "gmail.com",
    "wanadoo.fr",
];
const TOPICS: &[&str] = &[
    "Demande de rendez-vous",
    "Facture d'eau",
    "Inscription à la cantine",
    "Permis de construire",
    "Réservation de la salle des fêtes",
    "Demande d'acte de naissance",
    "Réclamation voirie",
    "Convocation au conseil municipal",
    "Subvention de l'association",
    "Ramassage des encombrants",
];

pub(crate) fn write_mailboxes(share: &mut ShareWriter, seed: u64, budget: u64) -> io::Result<()> {
    let mut rng = derived_rng(seed, "courriel");
    for (index, size) in split_budget(&mut rng, budget, TYPICAL_MAILBOX_BYTES)
        .into_iter()
        .enumerate()
    {
        let mailbox = MAILBOXES[index % MAILBOXES.len()];
        let path = match index / MAILBOXES.len() {
            0 => format!("courriel/{mailbox}.mbox"),
            older => format!("courriel/{mailbox}-archive-{older}.mbox"),
        };
        share.write(&path, mailbox_text(&mut rng, mailbox, size).as_bytes())?;
    }
    Ok(())
}

fn mailbox_text(rng: &mut Rng, mailbox: &str, approx_bytes: u64) -> String {
    let mut mbox = String::with_capacity(approx_bytes as usize + 4096);
    let mut day = 0;
    while (mbox.len() as u64) < approx_bytes {
        // A few messages a day, in the order they arrived.
        day += u32::from(rng.u8(..3) == 0);
        push_message(rng, &mut mbox, mailbox, Date::from_ordinal(2024, day));
    }
    mbox
}

/// Appends one message, with its mbox `From ` separator line, received on `date`.
pub(crate) fn push_message(rng: &mut Rng, mbox: &mut String, mailbox: &str, date: Date) {
    let (family, given) = (surname(rng), first_name(rng));
    let sender = format!(
        "{}.{}@{}",
        file_name_form(given),
        file_name_form(family),
        pick(rng, SENDER_DOMAINS)
    );
    let time = format!(
        "{:02}:{:02}:{:02}",
        rng.u8(7..19),
        rng.u8(..60),
        rng.u8(..60)
    );
    mbox.push_str(&format!(
        "From {sender} {} {time} {}\nReturn-Path: <{sender}>\nFrom: {given} {family} <{sender}>\n\
         To: {mailbox}@{DOMAIN}\nSubject: {} - {family}\nDate: {} {time} +0100\n\
         Message-ID: <{:016x}@{}>\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n\
         Content-Transfer-Encoding: 8bit\n\nBonjour,\n\n",
        date.ctime_day(),
        date.year,
        pick(rng, TOPICS),
        date.rfc5322_day(),
        rng.u64(..),
        pick(rng, SENDER_DOMAINS),
    ));
    for _ in 0..rng.usize(1..=4) {
        mbox.push_str(&paragraph(rng));
        mbox.push_str("\n\n");
    }
    mbox.push_str(&format!("Cordialement,\n{given} {family}\n\n"));
}
