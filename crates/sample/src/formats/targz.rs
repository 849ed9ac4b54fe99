//! Deterministic `.tar.gz` archives: ustar headers with fixed owner, mode and mtime, and a
//! gzip header whose timestamp is the archive's date rather than the time of generation.

use std::io;

use flate2::{Compression, GzBuilder};

use crate::calendar::Date;

/// Archives `(path, content)` members, all dated `modified`.
pub(crate) fn tar_gz(members: &[(String, Vec<u8>)], modified: Date) -> io::Result<Vec<u8>> {
    let mtime = unix_time_at_noon(modified);
    let gzip = GzBuilder::new()
        .mtime(u32::try_from(mtime).unwrap_or(0))
        .write(Vec::new(), Compression::fast());
    let mut tar = tar::Builder::new(gzip);
    for (path, content) in members {
        let mut header = tar::Header::new_ustar();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(mtime);
        header.set_uid(1000);
        header.set_gid(1000);
        header.set_username("mairie")?;
        header.set_groupname("mairie")?;
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path, content.as_slice())?;
    }
    tar.into_inner()?.finish()
}

/// Seconds since 1970 at 12:00 UTC on `date` (days-from-civil algorithm).
fn unix_time_at_noon(date: Date) -> u64 {
    let (year, month, day) = (
        i64::from(date.year),
        i64::from(date.month),
        i64::from(date.day),
    );
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(days * 86_400 + 12 * 3_600).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_time_matches_known_dates() {
        let date = Date {
            year: 2018,
            month: 6,
            day: 1,
        };
        assert_eq!(unix_time_at_noon(date), 1_527_854_400);
        let date = Date {
            year: 1970,
            month: 1,
            day: 1,
        };
        assert_eq!(unix_time_at_noon(date), 43_200);
    }
}
