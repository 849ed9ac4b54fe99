//! Calendar dates for the generated records: random days of a year, ISO and French spellings,
//! and weekdays (needed by mbox separator lines).

use fastrand::Rng;

const MONTH_NAMES: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const MONTH_ABBREVIATIONS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAY_ABBREVIATIONS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    pub fn random_in(rng: &mut Rng, year: u16) -> Date {
        let month = rng.u8(1..=12);
        Date::random_in_month(rng, year, month)
    }

    pub fn random_in_month(rng: &mut Rng, year: u16, month: u8) -> Date {
        let day = rng.u8(1..=days_in_month(year, month));
        Date { year, month, day }
    }

    /// The `ordinal`-th day of `year` counting from 0, clamped to the last day of the year.
    pub fn from_ordinal(year: u16, ordinal: u32) -> Date {
        let mut remaining = ordinal;
        for month in 1..=12 {
            let length = u32::from(days_in_month(year, month));
            if remaining < length || month == 12 {
                let day = (remaining.min(length - 1) + 1) as u8;
                return Date { year, month, day };
            }
            remaining -= length;
        }
        Date {
            year,
            month: 12,
            day: 31,
        }
    }

    /// `2024-03-05`, as databases and CSV exports write it.
    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `05/03/2024`, as French spreadsheets write it.
    pub fn french_numeric(self) -> String {
        format!("{:02}/{:02}/{:04}", self.day, self.month, self.year)
    }

    /// `5 mars 2024`, as letters and minutes write it.
    pub fn french_long(self) -> String {
        format!("{} {} {}", self.day, self.month_name(), self.year)
    }

    pub fn month_name(self) -> &'static str {
        MONTH_NAMES[usize::from(self.month - 1)]
    }

    /// `Tue Mar  5`, the start of an mbox `From ` line or a ctime() timestamp.
    pub fn ctime_day(self) -> String {
        format!(
            "{} {} {:2}",
            WEEKDAY_ABBREVIATIONS[self.weekday()],
            MONTH_ABBREVIATIONS[usize::from(self.month - 1)],
            self.day
        )
    }

    /// `Tue, 5 Mar 2024`, the date part of an RFC 5322 `Date:` header.
    pub fn rfc5322_day(self) -> String {
        format!(
            "{}, {} {} {}",
            WEEKDAY_ABBREVIATIONS[self.weekday()],
            self.day,
            MONTH_ABBREVIATIONS[usize::from(self.month - 1)],
            self.year
        )
    }

    /// 0 = Sunday (Sakamoto's method).
    fn weekday(self) -> usize {
        const OFFSETS: [u32; 12] = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4];
        let month = u32::from(self.month);
        let year = u32::from(self.year) - u32::from(month < 3);
        let days = year + year / 4 - year / 100
            + year / 400
            + OFFSETS[(month - 1) as usize]
            + u32::from(self.day);
        (days % 7) as usize
    }
}

pub(crate) fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_weekdays_are_right() {
        let date = Date {
            year: 2024,
            month: 3,
            day: 5,
        };
        assert_eq!(date.iso(), "2024-03-05");
        assert_eq!(date.french_numeric(), "05/03/2024");
        assert_eq!(date.french_long(), "5 mars 2024");
        assert_eq!(date.ctime_day(), "Tue Mar  5");
        assert_eq!(date.rfc5322_day(), "Tue, 5 Mar 2024");
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(
            Date::from_ordinal(2024, 0),
            Date {
                year: 2024,
                month: 1,
                day: 1
            }
        );
        assert_eq!(
            Date::from_ordinal(2024, 59),
            Date {
                year: 2024,
                month: 2,
                day: 29
            }
        );
        assert_eq!(
            Date::from_ordinal(2024, 400),
            Date {
                year: 2024,
                month: 12,
                day: 31
            }
        );
    }
}
