//! Sizes on the command line: plain bytes or a number with a binary unit (`50M`, `1G`,
//! `1.5G`, `10GiB`), since benchmark sizes are always quoted in powers of two.

/// Parses `123`, `4K`, `50M`, `1G`, `1.5G`, `2T` (optionally `KiB`, `MB`, ...: all binary).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (examples: 4096, 50M, 1G, 1.5G)"))?;
    let multiplier = unit_multiplier(unit)
        .ok_or_else(|| format!("unknown unit `{unit}` in `{text}` (use K, M, G or T)"))?;
    Ok((number * multiplier as f64).round() as u64)
}

fn unit_multiplier(unit: &str) -> Option<u64> {
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit
        .strip_suffix("IB")
        .or_else(|| unit.strip_suffix('B'))
        .unwrap_or(&unit);
    let power = match unit {
        "" => 0,
        "K" => 1,
        "M" => 2,
        "G" => 3,
        "T" => 4,
        _ => return None,
    };
    Some(1u64 << (10 * power))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("50M"), Ok(50 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("10GiB"), Ok(10 << 30));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("2KB"), Ok(2048));
        assert!(parse_size("big").is_err());
        assert!(parse_size("3X").is_err());
    }
}
