//! `partage/enfance/`: the childhood service's OpenDocument texts (canteen menus, after-school
//! registrations, holiday-centre programmes) and the council deliberation whose name has
//! spaces and accents, to exercise UTF-8 path handling.

use std::io;

use super::office_paragraphs;
use crate::calendar::Date;
use crate::formats::odf::odt;
use crate::rng::{derived_rng, split_budget};
use crate::words::{file_name_form, surname};
use crate::writer::ShareWriter;

pub(crate) const DELIBERATION_PATH: &str = "partage/enfance/Délibération du conseil.odt";
const TYPICAL_DOCUMENT_BYTES: u64 = 20 * 1024;

pub(crate) fn write_childhood_documents(
    share: &mut ShareWriter,
    seed: u64,
    budget: u64,
) -> io::Result<()> {
    let mut rng = derived_rng(seed, "enfance");
    let sizes = split_budget(&mut rng, budget, TYPICAL_DOCUMENT_BYTES);
    let (deliberation_size, others) = sizes
        .split_first()
        .map_or((0, &[][..]), |(first, rest)| (*first, rest));
    let paragraphs = office_paragraphs(&mut rng, deliberation_size);
    let modified = Date::random_in(&mut rng, 2024);
    share.write(
        DELIBERATION_PATH,
        &odt(
            "Délibération du conseil municipal : tarifs de la restauration scolaire",
            &paragraphs,
            modified,
        )?,
    )?;
    for (index, size) in others.iter().enumerate() {
        let number = index + 1;
        let (path, title) = match index % 3 {
            0 => (
                format!("partage/enfance/cantine/menus-semaine-{number:02}.odt"),
                format!("Menus de la cantine, semaine {number}"),
            ),
            1 => {
                let family = surname(&mut rng);
                (
                    format!(
                        "partage/enfance/periscolaire/inscription-{number:03}-{}.odt",
                        file_name_form(family)
                    ),
                    format!("Inscription périscolaire : famille {family}"),
                )
            }
            _ => (
                format!("partage/enfance/centre-de-loisirs/programme-{number:03}.odt"),
                format!("Programme du centre de loisirs n° {number}"),
            ),
        };
        let paragraphs = office_paragraphs(&mut rng, *size);
        share.write(
            &path,
            &odt(&title, &paragraphs, Date::random_in(&mut rng, 2024))?,
        )?;
    }
    Ok(())
}
