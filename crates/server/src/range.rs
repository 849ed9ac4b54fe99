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
