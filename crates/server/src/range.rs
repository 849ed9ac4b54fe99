//! `Range` request headers: the one form the protocol serves (a single
//! `bytes=a-b`, `bytes=a-` or `bytes=-n`) and where it falls in an object.
//! Public so that the fuzz targets (crates/fuzz-targets) reach it.

use hyper::header::HeaderValue;

/// A `Range: bytes=…` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `a-b` or `a-` (inclusive).
    From(u64, Option<u64>),
    /// `-n`: the last n bytes.
    Last(u64),
}

/// The range a `Range` header asks for: `None` without one, an error
/// message (for the client) for any form the protocol does not serve.
pub fn parse_range(value: Option<&HeaderValue>) -> Result<Option<ByteRange>, String> {
    let Some(value) = value else { return Ok(None) };
    let bad = || "invalid Range header: send one range, such as bytes=0-99".to_string();
    let text = value.to_str().map_err(|_| bad())?.trim();
    let spec = text.strip_prefix("bytes=").ok_or_else(bad)?;
    if spec.contains(',') {
        return Err("only one range per request is supported".into());
    }
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, false) => Ok(Some(ByteRange::Last(num(b)?))),
        (false, true) => Ok(Some(ByteRange::From(num(a)?, None))),
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(bad());
            }
            Ok(Some(ByteRange::From(a, Some(b))))
        }
        (true, true) => Err(bad()),
    }
}

impl ByteRange {
    /// First and last byte within an object of `size` bytes, if any.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        let last = size.checked_sub(1)?;
        match self {
            ByteRange::From(a, b) if a <= last => Some((a, b.map_or(last, |b| b.min(last)))),
            ByteRange::From(..) => None,
            ByteRange::Last(0) => None,
            ByteRange::Last(n) => Some((size - n.min(size), last)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Result<Option<ByteRange>, String> {
        parse_range(Some(&HeaderValue::from_str(s).unwrap()))
    }

    #[test]
    fn ranges_parse_and_resolve_within_the_object() {
        assert_eq!(range("bytes=0-9"), Ok(Some(ByteRange::From(0, Some(9)))));
        assert_eq!(range("bytes=5-"), Ok(Some(ByteRange::From(5, None))));
        assert_eq!(range("bytes=-3"), Ok(Some(ByteRange::Last(3))));
        for bad in [
            "bytes=9-0",
            "bytes=-",
            "0-9",
            "bytes=a-b",
            "bytes=0-1,3-4",
            "items=0-1",
        ] {
            assert!(range(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_range(None), Ok(None));
        assert_eq!(ByteRange::From(0, Some(9)).resolve(5), Some((0, 4)));
        assert_eq!(ByteRange::From(5, None).resolve(5), None);
        assert_eq!(ByteRange::From(0, None).resolve(0), None);
        assert_eq!(ByteRange::Last(3).resolve(10), Some((7, 9)));
        assert_eq!(ByteRange::Last(30).resolve(10), Some((0, 9)));
        assert_eq!(ByteRange::Last(0).resolve(10), None);
    }
}
