//! `partage/finances/`: monthly invoice registers (CSV) and budget workbooks (xlsx), the
//! spreadsheets a town's accounting actually exchanges.

use std::io;

use fastrand::Rng;

use super::OFFICE_TEXT_PER_STORED_BYTE;
use crate::calendar::Date;
use crate::formats::ooxml::{xlsx, Cell};
use crate::rng::{derived_rng, pick, split_budget};
use crate::words::{amount_csv, paragraph, SUPPLIERS};
use crate::writer::ShareWriter;

const TYPICAL_REGISTER_BYTES: u64 = 150 * 1024;
const TYPICAL_WORKBOOK_BYTES: u64 = 60 * 1024;
const INVOICE_HEADER: &str =
    "numero;date_facture;fournisseur;objet;imputation;montant_ht;tva;montant_ttc;statut\n";
const WORKBOOKS: &[&str] = &[
    "budget-primitif-2024",
    "compte-administratif-2023",
    "suivi-subventions-2024",
    "decision-modificative-2024",
    "etat-de-la-dette-2024",
];
const STATUSES: &[&str] = &["mandatée", "payée", "en attente", "rejetée"];
const ACCOUNTS: &[&str] = &[
    "60612", "60632", "6064", "611", "61521", "6156", "6231", "6262", "2135", "2152",
];

pub(crate) fn write_finances(share: &mut ShareWriter, seed: u64, budget: u64) -> io::Result<()> {
    let mut rng = derived_rng(seed, "finances");
    let registers = split_budget(&mut rng, budget * 7 / 10, TYPICAL_REGISTER_BYTES);
    for (index, size) in registers.into_iter().enumerate() {
        let (year, month) = month_going_back(index);
        let csv = invoice_csv(&mut rng, year, month, size);
        share.write(
            &format!("partage/finances/factures/factures-{year}-{month:02}.csv"),
            csv.as_bytes(),
        )?;
    }
    let workbooks = split_budget(&mut rng, budget * 3 / 10, TYPICAL_WORKBOOK_BYTES);
    for (index, size) in workbooks.into_iter().enumerate() {
        let name = WORKBOOKS[index % WORKBOOKS.len()];
        let path = match index / WORKBOOKS.len() {
            0 => format!("partage/finances/{name}.xlsx"),
            copy => format!("partage/finances/{name} (version {}).xlsx", copy + 1),
        };
        share.write(&path, &budget_workbook(&mut rng, size)?)?;
    }
    Ok(())
}

/// The `index`-th month counting back from December 2024.
pub(crate) fn month_going_back(index: usize) -> (u16, u8) {
    let year = 2024 - (index / 12) as u16;
    (year, 12 - (index % 12) as u8)
}

/// An invoice register of about `approx_bytes`: semicolon-separated, decimal commas.
pub(crate) fn invoice_csv(rng: &mut Rng, year: u16, month: u8, approx_bytes: u64) -> String {
    let mut csv = String::with_capacity(approx_bytes as usize + 256);
    csv.push_str(INVOICE_HEADER);
    let mut number = u32::from(month) * 1000;
    while (csv.len() as u64) < approx_bytes {
        number += 1;
        push_invoice_row(rng, &mut csv, year, month, number);
    }
    csv
}

fn push_invoice_row(rng: &mut Rng, csv: &mut String, year: u16, month: u8, number: u32) {
    let net = rng.u64(1_500..2_500_000);
    let vat = net / 5;
    let object = paragraph(rng);
    let object = object.split(". ").next().unwrap_or_default();
    csv.push_str(&format!(
        "F{year}-{number:05};{};{};\"{object}\";{};{};{};{};{}\n",
        Date::random_in_month(rng, year, month).french_numeric(),
        pick(rng, SUPPLIERS),
        pick(rng, ACCOUNTS),
        amount_csv(net),
        amount_csv(vat),
        amount_csv(net + vat),
        pick(rng, STATUSES),
    ));
}

pub(crate) fn budget_workbook(rng: &mut Rng, stored_bytes: u64) -> io::Result<Vec<u8>> {
    let text_bytes = stored_bytes * OFFICE_TEXT_PER_STORED_BYTE;
    let header = ["Chapitre", "Article", "Libellé", "Prévu", "Réalisé"];
    let mut rows = vec![header.map(|title| Cell::Text(title.to_string())).into()];
    let mut size = 0;
    while size < text_bytes {
        let row = budget_row(rng);
        size += 120 + row_text_len(&row);
        rows.push(row);
    }
    xlsx("Budget", &rows, Date::random_in(rng, 2024))
}

fn budget_row(rng: &mut Rng) -> Vec<Cell> {
    let planned = rng.u64(10_000..50_000_000);
    let realised = planned * rng.u64(40..=110) / 100;
    let label = paragraph(rng);
    let label = label.split(", ").next().unwrap_or_default().to_string();
    vec![
        Cell::Text(format!("0{}", rng.u8(11..=23))),
        Cell::Text(pick(rng, ACCOUNTS).to_string()),
        Cell::Text(label),
        Cell::Number(format!("{}.{:02}", planned / 100, planned % 100)),
        Cell::Number(format!("{}.{:02}", realised / 100, realised % 100)),
    ]
}

fn row_text_len(row: &[Cell]) -> u64 {
    row.iter()
        .map(|cell| match cell {
            Cell::Text(text) | Cell::Number(text) => text.len() as u64,
        })
        .sum()
}
