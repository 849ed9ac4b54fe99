//! `partage/rh/`: the personnel department's Word documents (contracts, internal notes, job
//! descriptions).

use std::io;

use super::office_paragraphs;
use crate::calendar::Date;
use crate::formats::ooxml::docx;
use crate::rng::{derived_rng, split_budget};
use crate::words::{file_name_form, first_name, surname};
use crate::writer::ShareWriter;

const TYPICAL_DOCUMENT_BYTES: u64 = 24 * 1024;
const JOBS: &[&str] = &[
    "secretaire-de-mairie",
    "agent-technique",
    "atsem",
    "agent-d-accueil",
    "animateur-periscolaire",
    "agent-d-entretien",
    "comptable",
    "policier-municipal",
];

pub(crate) fn write_hr_documents(
    share: &mut ShareWriter,
    seed: u64,
    budget: u64,
) -> io::Result<()> {
    let mut rng = derived_rng(seed, "rh");
    for (index, size) in split_budget(&mut rng, budget, TYPICAL_DOCUMENT_BYTES)
        .into_iter()
        .enumerate()
    {
        let number = index + 1;
        let (path, title) = match index % 3 {
            0 => {
                let (family, given) = (surname(&mut rng), first_name(&mut rng));
                (
                    format!(
                        "partage/rh/contrats/contrat-{number:03}-{}.docx",
                        file_name_form(family)
                    ),
                    format!("Contrat de travail de {given} {family}"),
                )
            }
            1 => (
                format!("partage/rh/notes-de-service/note-de-service-2024-{number:03}.docx"),
                format!("Note de service n° {number}"),
            ),
            _ => {
                let job = JOBS[index % JOBS.len()];
                (
                    format!("partage/rh/fiches-de-poste/fiche-de-poste-{number:03}-{job}.docx"),
                    format!("Fiche de poste : {}", job.replace('-', " ")),
                )
            }
        };
        let paragraphs = office_paragraphs(&mut rng, size);
        share.write(
            &path,
            &docx(&title, &paragraphs, Date::random_in(&mut rng, 2024))?,
        )?;
    }
    Ok(())
}
