//! Sizes as people write them (`500M`, `20GiB`, `1.5 TB`, `4096`): the one
//! parser behind every size reprise reads, on a command line (`serve token
//! add --quota`, `reprise-bench-data generate --size`) or in the server's
//! configuration.
//!
//! The rule: a bare number is bytes (`B` may follow); `K`, `M`, `G`, `T`
//! and `KiB`, `MiB`, `GiB`, `TiB` are powers of 1024; `KB`, `MB`, `GB`,
//! `TB` are powers of 1000. Units are case-insensitive and may follow a
//! space. The number may have a fraction (`1.5G`), rounded to the nearest
//! byte. At most `i64::MAX` bytes, the largest integer TOML holds.

/// The largest size accepted: `i64::MAX`, the largest integer TOML holds.
pub const SIZE_MAX: u64 = i64::MAX as u64;

/// Digits of a fraction beyond these change no byte count below `SIZE_MAX`.
const FRACTION_DIGITS_MAX: usize = 24;

/// Parses a size by the rule of this module; the error says what was
/// wrong and shows the forms accepted.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor = unit_factor(unit).ok_or_else(|| {
        format!(
            "unknown unit {:?} in {text:?}: use K, M, G, T or KiB… (powers of 1024), KB, MB… (powers of 1000), or none for bytes",
            unit.trim()
        )
    })?;
    let bytes = scale(number, factor)
        .ok_or_else(|| format!("{text:?} is not a size such as 4096, 500M, 20GiB or 1.5 TB"))?;
    u64::try_from(bytes)
        .ok()
        .filter(|b| *b <= SIZE_MAX)
        .ok_or_else(|| format!("{text:?} is out of range: at most {SIZE_MAX} bytes (8 EiB)"))
}

/// Bytes per unit, or `None` for a unit that is not one.
fn unit_factor(unit: &str) -> Option<u128> {
    let (power, base): (u32, u128) = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => (0, 1),
        "k" | "kib" => (1, 1024),
        "m" | "mib" => (2, 1024),
        "g" | "gib" => (3, 1024),
        "t" | "tib" => (4, 1024),
        "kb" => (1, 1000),
        "mb" => (2, 1000),
        "gb" => (3, 1000),
        "tb" => (4, 1000),
        _ => return None,
    };
    Some(base.pow(power))
}

/// `number` (digits, at most one `.`, at least one digit) times `factor`,
/// rounded to the nearest integer, in exact integer arithmetic; `None` if
/// it is not such a number or exceeds `u128`.
fn scale(number: &str, factor: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let whole = if whole.is_empty() {
        0
    } else {
        whole.parse::<u128>().ok()?
    };
    let fraction = fraction.get(..FRACTION_DIGITS_MAX).unwrap_or(fraction);
    let scaled_fraction = if fraction.is_empty() {
        0
    } else {
        let denominator = 10u128.checked_pow(u32::try_from(fraction.len()).ok()?)?;
        let numerator = fraction.parse::<u128>().ok()?.checked_mul(factor)?;
        (numerator + denominator / 2) / denominator
    };
    whole.checked_mul(factor)?.checked_add(scaled_fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_decimal_units_and_bare_bytes() {
        for (text, bytes) in [
            ("4096", 4096),
            ("0", 0),
            ("12B", 12),
            ("1K", 1024),
            ("1k", 1024),
            ("1KiB", 1024),
            ("1KB", 1000),
            ("500M", 500 << 20),
            ("500 MiB", 500 << 20),
            ("500MB", 500_000_000),
            ("1.5 MiB", 1_572_864),
            ("1.5G", 3 << 29),
            (".5K", 512),
            ("20G", 20 << 30),
            ("10gib", 10 << 30),
            ("2TB", 2_000_000_000_000),
            ("2T", 2 << 40),
            (" 7 ", 7),
            ("9223372036854775807", SIZE_MAX),
        ] {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn fractions_round_to_the_nearest_byte_exactly() {
        assert_eq!(parse_size("1.0009765625K"), Ok(1025));
        assert_eq!(parse_size("0.0004K"), Ok(0));
        assert_eq!(parse_size("0.0005K"), Ok(1));
        assert_eq!(
            parse_size("1.333333333333333333333333333333M"),
            Ok(1_398_101)
        );
    }

    #[test]
    fn what_is_not_a_size_is_an_error_that_says_so() {
        for bad in [
            "",
            "M",
            ".",
            "1.2.3G",
            "10 parsecs",
            "-1",
            "+1",
            "1e3",
            "inf",
            "NaN",
            "1 K B",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
        let unit = parse_size("3X").unwrap_err();
        assert!(
            unit.contains("unknown unit \"X\"") && unit.contains("KiB"),
            "{unit}"
        );
        for huge in [
            "9223372036854775808",
            "99999999999T",
            "99999999999999999999999999999999999999999999T",
        ] {
            let err = parse_size(huge).unwrap_err();
            assert!(err.contains("range") || err.contains("not a size"), "{err}");
        }
        assert!(parse_size("8388608T").unwrap_err().contains("out of range"));
    }
}
