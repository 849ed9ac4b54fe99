//! `partage/etat-civil/`: scanned birth records as one-page PDFs, filed by year.

use std::collections::BTreeMap;
use std::io;

use crate::calendar::Date;
use crate::formats::pdf::scanned_pdf;
use crate::rng::{derived_rng, split_budget};
use crate::words::{file_name_form, first_name, surname};
use crate::writer::ShareWriter;

const TYPICAL_SCAN_BYTES: u64 = 160 * 1024;

pub(crate) fn write_birth_records(
    share: &mut ShareWriter,
    seed: u64,
    budget: u64,
) -> io::Result<()> {
    let mut rng = derived_rng(seed, "etat-civil");
    let mut next_number_by_year = BTreeMap::new();
    for (index, size) in split_budget(&mut rng, budget, TYPICAL_SCAN_BYTES)
        .into_iter()
        .enumerate()
    {
        // Most scans are this year's; last year's are still waiting to be archived.
        let year = if index % 4 == 3 { 2023 } else { 2024 };
        let number = next_number_by_year.entry(year).or_insert(0u32);
        *number += 1;
        let (family, given) = (surname(&mut rng), first_name(&mut rng));
        let title = format!("Acte de naissance n° {year}-{number:04} - {family} {given}");
        let scanned = Date::random_in(&mut rng, year);
        let pdf = scanned_pdf(&mut rng, &title, scanned, size)?;
        let path = format!(
            "partage/etat-civil/actes-naissance/{year}/N-{year}-{number:04}-{}.pdf",
            file_name_form(family)
        );
        share.write(&path, &pdf)?;
    }
    Ok(())
}
