//! `partage/archives/`: documents of past years packed by the secretary, one `.zip` (council
//! minutes, invoices) and one `.tar.gz` (planning permits), already compressed as a whole.

use std::io;

use fastrand::Rng;

use super::finances::invoice_csv;
use crate::calendar::Date;
use crate::formats::targz::tar_gz;
use crate::formats::zipper::ZipBuilder;
use crate::rng::{derived_rng, split_budget};
use crate::words::prose;
use crate::writer::ShareWriter;

pub(crate) const ZIP_PATH: &str = "partage/archives/archives-2019.zip";
pub(crate) const TAR_GZ_PATH: &str = "partage/archives/urbanisme-2018.tar.gz";
/// Deflate at the fast level shrinks the generated text about this much (measured).
const TEXT_PER_COMPRESSED_BYTE: u64 = 2;
const TYPICAL_MEMBER_BYTES: u64 = 40 * 1024;

pub(crate) fn write_archives(share: &mut ShareWriter, seed: u64, budget: u64) -> io::Result<()> {
    let mut rng = derived_rng(seed, "archives");
    let zip = zip_of_2019(&mut rng, budget / 2 * TEXT_PER_COMPRESSED_BYTE)?;
    share.write(ZIP_PATH, &zip)?;
    let members = permits_of_2018(&mut rng, budget / 2 * TEXT_PER_COMPRESSED_BYTE);
    share.write(
        TAR_GZ_PATH,
        &tar_gz(
            &members,
            Date {
                year: 2019,
                month: 1,
                day: 15,
            },
        )?,
    )
}

fn zip_of_2019(rng: &mut Rng, text_bytes: u64) -> io::Result<Vec<u8>> {
    let mut zip = ZipBuilder::new(Date {
        year: 2020,
        month: 1,
        day: 10,
    })?;
    for (index, size) in split_budget(rng, text_bytes, TYPICAL_MEMBER_BYTES)
        .into_iter()
        .enumerate()
    {
        let month = (index % 12) as u8 + 1;
        if index % 2 == 0 {
            let minutes = prose(rng, size);
            zip.deflated(
                &format!("2019/conseil/compte-rendu-{index:03}-2019-{month:02}.txt"),
                minutes.as_bytes(),
            )?;
        } else {
            let invoices = invoice_csv(rng, 2019, month, size);
            zip.deflated(
                &format!("2019/finances/factures-{index:03}-2019-{month:02}.csv"),
                invoices.as_bytes(),
            )?;
        }
    }
    zip.finish()
}

fn permits_of_2018(rng: &mut Rng, text_bytes: u64) -> Vec<(String, Vec<u8>)> {
    split_budget(rng, text_bytes, TYPICAL_MEMBER_BYTES)
        .into_iter()
        .enumerate()
        .map(|(index, size)| {
            let path = format!("urbanisme-2018/permis/PC-12345-18-{:04}.txt", index + 1);
            (path, prose(rng, size).into_bytes())
        })
        .collect()
}
