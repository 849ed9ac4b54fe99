//! `partage/eau/factures/`: monthly water-billing exports of the municipal water service, one
//! CSV line per subscriber.

use std::io;

use fastrand::Rng;

use super::finances::month_going_back;
use crate::calendar::Date;
use crate::rng::derived_rng;
use crate::rng::split_budget;
use crate::words::{amount_csv, first_name, street_address, surname};
use crate::writer::ShareWriter;

const TYPICAL_EXPORT_BYTES: u64 = 250 * 1024;
const HEADER: &str = "abonne;nom;prenom;adresse;compteur;index_precedent;index_actuel;\
                      consommation_m3;abonnement;montant_ht;tva;montant_ttc;echeance\n";
/// Price of a cubic metre and of the monthly subscription, in cents.
const CENTS_PER_CUBIC_METRE: u64 = 412;
const SUBSCRIPTION_CENTS: u64 = 1_250;

pub(crate) fn write_water_bills(share: &mut ShareWriter, seed: u64, budget: u64) -> io::Result<()> {
    let mut rng = derived_rng(seed, "eau");
    for (index, size) in split_budget(&mut rng, budget, TYPICAL_EXPORT_BYTES)
        .into_iter()
        .enumerate()
    {
        let (year, month) = month_going_back(index);
        let csv = billing_export(&mut rng, year, month, size);
        share.write(
            &format!("partage/eau/factures/facturation-eau-{year}-{month:02}.csv"),
            csv.as_bytes(),
        )?;
    }
    Ok(())
}

fn billing_export(rng: &mut Rng, year: u16, month: u8, approx_bytes: u64) -> String {
    let mut csv = String::with_capacity(approx_bytes as usize + 256);
    csv.push_str(HEADER);
    let due = Date::random_in_month(rng, year, month).french_numeric();
    let mut subscriber = 0;
    while (csv.len() as u64) < approx_bytes {
        subscriber += 1;
        push_bill(rng, &mut csv, subscriber, &due);
    }
    csv
}

fn push_bill(rng: &mut Rng, csv: &mut String, subscriber: u32, due: &str) {
    let previous_index = rng.u64(100..90_000);
    let consumption = rng.u64(0..40);
    let net = consumption * CENTS_PER_CUBIC_METRE + SUBSCRIPTION_CENTS;
    // Drinking water carries the reduced 5.5% VAT rate.
    let vat = net * 55 / 1000;
    csv.push_str(&format!(
        "AB-{subscriber:06};{};{};{};C{:08};{previous_index};{};{consumption};{};{};{};{};{due}\n",
        surname(rng),
        first_name(rng),
        street_address(rng),
        rng.u32(10_000_000..99_999_999),
        previous_index + consumption,
        amount_csv(SUBSCRIPTION_CENTS),
        amount_csv(net),
        amount_csv(vat),
        amount_csv(net + vat),
    ));
}
