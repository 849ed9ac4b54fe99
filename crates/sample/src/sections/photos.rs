//! `partage/communication/`: event photos (JPEG) sorted by event, and the posters folder the
//! communication officer created but never filled (an empty directory worth backing up).

use std::io;

use crate::formats::jpeg::photo_jpeg;
use crate::rng::{derived_rng, split_budget};
use crate::writer::ShareWriter;

pub(crate) const EMPTY_DIR: &str = "partage/communication/affiches";
const TYPICAL_PHOTO_BYTES: u64 = 320 * 1024;
const EVENTS: &[&str] = &[
    "2024-fete-du-village",
    "2024-ceremonie-8-mai",
    "2024-inauguration-ecole",
    "2023-marche-de-noel",
];

pub(crate) fn write_photos(share: &mut ShareWriter, seed: u64, budget: u64) -> io::Result<()> {
    let mut rng = derived_rng(seed, "photos");
    for (index, size) in split_budget(&mut rng, budget, TYPICAL_PHOTO_BYTES)
        .into_iter()
        .enumerate()
    {
        let event = EVENTS[index % EVENTS.len()];
        // Camera numbering: each event continues the counter of the same camera.
        let path = format!(
            "partage/communication/photos/{event}/IMG_{:04}.JPG",
            1000 + index
        );
        share.write(&path, &photo_jpeg(&mut rng, size)?)?;
    }
    share.empty_dir(EMPTY_DIR)
}
