//! What one window of bytes looks like: text, ciphertext-like, base64 of
//! ciphertext, or other binary.
//!
//! Shannon entropy cannot tell ciphertext from compressed data: a zip, a
//! JPEG and an encrypted file are all near 8 bits per byte. The chi-square
//! statistic of the byte histogram can: ciphertext is uniform to within
//! sampling noise (chi-square about its 255 degrees of freedom), while
//! deflate, JPEG and other codecs leave biases that push it well above.
//! Written here because it is a loop over a 256-entry histogram: no crate
//! does it better.

/// A byte histogram.
pub type Histogram = [u32; 256];

/// Counts the first two bytes of every four: half the work of counting
/// every byte (the sampler's main cost), and still every kind of content a
/// window can hold, since ransomware encrypts blocks of 16 bytes or more
/// and alternating single or double bytes are counted alike.
pub fn add_half_to_histogram(hist: &mut Histogram, data: &[u8]) {
    let mut tables = [[0u32; 256]; 2];
    let (quads, rest) = data.as_chunks::<4>();
    let [t0, t1] = &mut tables;
    for &[a, b, _, _] in quads {
        count(t0, a);
        count(t1, b);
    }
    for &b in rest.iter().take(2) {
        count(t0, b);
    }
    add_tables(hist, &tables);
}

/// Counts each byte value. Four tables break the store-to-load dependency
/// between runs of equal bytes, which a single table serialises on.
pub fn add_to_histogram(hist: &mut Histogram, data: &[u8]) {
    let mut tables = [[0u32; 256]; 4];
    let (quads, rest) = data.as_chunks::<4>();
    let [t0, t1, t2, t3] = &mut tables;
    for &[a, b, c, d] in quads {
        count(t0, a);
        count(t1, b);
        count(t2, c);
        count(t3, d);
    }
    for &b in rest {
        count(t0, b);
    }
    add_tables(hist, &tables);
}

fn add_tables(hist: &mut Histogram, tables: &[Histogram]) {
    for (i, slot) in hist.iter_mut().enumerate() {
        *slot += tables.iter().filter_map(|t| t.get(i)).sum::<u32>();
    }
}

/// Adds one to the count of `byte`. A byte always indexes a histogram, so
/// the check compiles away.
#[inline(always)]
fn count(table: &mut Histogram, byte: u8) {
    if let Some(slot) = table.get_mut(usize::from(byte)) {
        *slot += 1;
    }
}

/// Chi-square of the histogram against the uniform distribution, divided by
/// its 255 degrees of freedom: 1 on average for uniformly random bytes.
/// Computed as `256 Σc² / n - n`, in integers but for the last step.
pub fn chi2_per_dof(hist: &Histogram) -> f64 {
    let (n, squares) = hist.iter().fold((0u64, 0u64), |(n, sq), &c| {
        let c = c as u64;
        (n + c, sq + c * c)
    });
    if n == 0 {
        return 0.0;
    }
    (256.0 * squares as f64 / n as f64 - n as f64) / 255.0
}

/// Shannon entropy of the histogram, in bits per byte.
pub fn entropy(hist: &Histogram) -> f64 {
    let n: u64 = hist.iter().map(|&c| c as u64).sum();
    if n == 0 {
        return 0.0;
    }
    let n = n as f64;
    hist.iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Fewer bytes than this say nothing reliable about randomness.
pub const MIN_RANDOMNESS_BYTES: usize = 64;

/// The largest chi-square per degree of freedom that still counts as
/// ciphertext for a sample of `n` bytes. For large samples the statistic of
/// random data is 1 ± 0.09; small samples spread wider. The bounds were set
/// from 100 000 windows of random bytes per size with none above them
/// (test `random_windows_pass_the_threshold`) and leave deflate, JPEG and
/// text, which sit far higher, on the other side.
pub fn random_threshold(n: usize) -> f64 {
    match n {
        0..=255 => 1.9,
        256..=1023 => 1.6,
        _ => 1.45,
    }
}

/// Whether `n` bytes with this histogram are indistinguishable from
/// ciphertext.
pub fn looks_random(hist: &Histogram, n: usize) -> bool {
    n >= MIN_RANDOMNESS_BYTES && chi2_per_dof(hist) < random_threshold(n)
}

/// Control bytes other than tab, line feed, carriage return, form feed and
/// escape: ciphertext has about 11 % of them, text almost none.
fn control_bytes(hist: &Histogram) -> u64 {
    (0u8..32)
        .chain(std::iter::once(127))
        .filter(|b| !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b))
        .filter_map(|b| hist.get(usize::from(b)))
        .map(|&c| c as u64)
        .sum()
}

/// Text: at most 1 % control bytes, and either mostly ASCII (Latin-1 and
/// UTF-8 accents are a few percent of a French text) or valid UTF-8 (other
/// scripts). Ciphertext is half high bytes and never valid UTF-8 for long.
pub fn is_text(window: &[u8], hist: &Histogram) -> bool {
    let n = counted(hist) as u64;
    let high: u64 = hist.iter().skip(128).map(|&c| c as u64).sum();
    n > 0 && control_bytes(hist) * 100 <= n && (high * 10 <= n * 3 || is_utf8_window(window))
}

/// Valid UTF-8 but for a sequence cut at either end of the window.
fn is_utf8_window(window: &[u8]) -> bool {
    let start = window
        .iter()
        .take(3)
        .take_while(|&&b| b & 0xc0 == 0x80)
        .count();
    match std::str::from_utf8(window.get(start..).unwrap_or_default()) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// The class of one sampled window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowClass {
    Text,
    Random,
    /// Base64 text whose decoded bytes are ciphertext-like.
    Armoured,
    /// Anything else: structured binary, compressed data, mixed content.
    Binary,
}

/// How many bytes a histogram counted.
fn counted(hist: &Histogram) -> usize {
    hist.iter().map(|&c| c as usize).sum()
}

/// Classifies a window. `hist` is the histogram of the window's bytes, or
/// of a regular part of them ([`add_half_to_histogram`]).
pub fn classify(window: &[u8], hist: &Histogram) -> WindowClass {
    let n = counted(hist);
    if is_text(window, hist) {
        if is_armoured(window) {
            return WindowClass::Armoured;
        }
        return WindowClass::Text;
    }
    if looks_random(hist, n) {
        WindowClass::Random
    } else {
        WindowClass::Binary
    }
}

fn base64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// RFC 4648 base32, either case.
fn base32_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a'),
        b'2'..=b'7' => Some(b - b'2' + 26),
        _ => None,
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A text encoding of bytes: the value of each character, and its bits.
struct Encoding {
    value: fn(u8) -> Option<u8>,
    bits: u32,
}

/// Base64 first (its alphabet holds the other two, whose text decoded as
/// base64 is far from uniform), then base32, then hex.
const ENCODINGS: [Encoding; 3] = [
    Encoding {
        value: base64_value,
        bits: 6,
    },
    Encoding {
        value: base32_value,
        bits: 5,
    },
    Encoding {
        value: hex_value,
        bits: 4,
    },
];

/// Text made only of base64 (standard or URL alphabet), base32 or hex
/// characters (any line length, with padding) whose decoded bytes are
/// ciphertext-like: ciphertext disguised as text. The decode is done here
/// rather than with a crate because a window starts and ends mid-stream,
/// mid-line and mid-group, which a strict decoder rejects; a window that
/// starts between two characters of a group decodes to shifted bits, which
/// are as uniform as the aligned ones when the data is ciphertext.
fn is_armoured(window: &[u8]) -> bool {
    ENCODINGS.iter().any(|e| decodes_to_random(window, e))
}

fn decodes_to_random(window: &[u8], encoding: &Encoding) -> bool {
    let mut hist = [0u32; 256];
    let mut acc = 0u32;
    let mut bits = 0;
    let mut decoded = 0usize;
    for &b in window {
        if matches!(b, b'\n' | b'\r' | b'=' | b' ' | b'\t') {
            continue;
        }
        let Some(v) = (encoding.value)(b) else {
            return false;
        };
        acc = (acc << encoding.bits) | v as u32;
        bits += encoding.bits;
        if bits >= 8 {
            bits -= 8;
            count(&mut hist, ((acc >> bits) & 0xff) as u8);
            decoded += 1;
        }
    }
    looks_random(&hist, decoded)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn hist_of(data: &[u8]) -> Histogram {
        let mut h = [0; 256];
        add_to_histogram(&mut h, data);
        h
    }

    /// splitmix64: a deterministic stand-in for ciphertext in tests.
    pub(crate) fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed;
        let mut out = Vec::with_capacity(len + 8);
        while out.len() < len {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        }
        out.truncate(len);
        out
    }

    #[test]
    fn half_histograms_classify_like_whole_ones() {
        let half = |w: &[u8]| {
            let mut h = [0; 256];
            add_half_to_histogram(&mut h, w);
            classify(w, &h)
        };
        let random = pseudo_random(9, 4096);
        assert_eq!(half(&random), WindowClass::Random);
        let text = "Procès-verbal de la séance du 12 mai. ".repeat(120);
        assert_eq!(half(&text.as_bytes()[..4096]), WindowClass::Text);
        // Every other 16 bytes encrypted: neither text nor random.
        let striped: Vec<u8> = text.as_bytes()[..4096]
            .iter()
            .zip(&random)
            .enumerate()
            .map(|(i, (t, r))| if (i / 16) % 2 == 0 { *r } else { *t })
            .collect();
        assert_eq!(half(&striped), WindowClass::Binary);
    }

    #[test]
    fn random_windows_pass_the_threshold() {
        for &n in &[64usize, 200, 512, 1000, 4096] {
            let data = pseudo_random(n as u64, n * 20_000);
            let misses = data
                .chunks_exact(n)
                .filter(|w| classify(w, &hist_of(w)) != WindowClass::Random)
                .count();
            assert_eq!(misses, 0, "{misses} random windows of {n} bytes missed");
        }
    }

    #[test]
    fn text_and_skewed_bytes_are_not_random() {
        let text = "Le conseil municipal de Saint-Exemple s'est réuni le 3 mars. ".repeat(80);
        let w = &text.as_bytes()[..4096];
        assert_eq!(classify(w, &hist_of(w)), WindowClass::Text);
        // Bytes uniform over 200 values only: high entropy, not ciphertext.
        let skewed: Vec<u8> = pseudo_random(7, 4096).iter().map(|b| b % 200).collect();
        assert_eq!(classify(&skewed, &hist_of(&skewed)), WindowClass::Binary);
    }

    #[test]
    fn base64_of_ciphertext_is_armoured_and_base64_of_text_is_not() {
        let engine = |data: &[u8]| -> Vec<u8> {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let mut out = Vec::new();
            for (i, c) in data.chunks(3).enumerate() {
                let v = (c[0] as u32) << 16
                    | (*c.get(1).unwrap_or(&0) as u32) << 8
                    | *c.get(2).unwrap_or(&0) as u32;
                for k in 0..4 {
                    out.push(ALPHABET[((v >> (18 - 6 * k)) & 63) as usize]);
                }
                if i % 19 == 18 {
                    out.push(b'\n');
                }
            }
            out
        };
        let armoured = engine(&pseudo_random(3, 4000));
        let w = &armoured[..4096];
        assert_eq!(classify(w, &hist_of(w)), WindowClass::Armoured);
        let plain = engine("bonjour tout le monde, ".repeat(200).as_bytes());
        let w = &plain[..4096];
        assert_eq!(classify(w, &hist_of(w)), WindowClass::Text);
    }

    pub(crate) fn hex(data: &[u8], upper: bool, line: usize) -> Vec<u8> {
        let digits: &[u8] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let mut out = Vec::new();
        for (i, b) in data.iter().enumerate() {
            out.push(digits[(b >> 4) as usize]);
            out.push(digits[(b & 15) as usize]);
            if line > 0 && i % line == line - 1 {
                out.push(b'\n');
            }
        }
        out
    }

    pub(crate) fn base32(data: &[u8], line: usize) -> Vec<u8> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut out = Vec::new();
        for group in data.chunks(5) {
            let mut v = 0u64;
            for k in 0..5 {
                v = v << 8 | *group.get(k).unwrap_or(&0) as u64;
            }
            let chars = (group.len() * 8).div_ceil(5);
            for k in 0..8 {
                out.push(if k < chars {
                    ALPHABET[((v >> (35 - 5 * k)) & 31) as usize]
                } else {
                    b'='
                });
            }
            if line > 0 && out.len() % (line + 1) == line {
                out.push(b'\n');
            }
        }
        out
    }

    fn class_of_every_window(data: &[u8]) -> Vec<WindowClass> {
        data.chunks_exact(4096)
            .map(|w| {
                let mut h = [0; 256];
                add_half_to_histogram(&mut h, w);
                classify(w, &h)
            })
            .collect()
    }

    #[test]
    fn hex_and_base32_of_ciphertext_are_armoured() {
        let secret = pseudo_random(11, 20_000);
        for data in [
            hex(&secret, false, 0),
            hex(&secret, true, 32),
            base32(&secret, 0),
            base32(&secret, 76),
            base32(&secret, 64).to_ascii_lowercase(),
        ] {
            let classes = class_of_every_window(&data);
            assert!(
                classes.iter().all(|c| *c == WindowClass::Armoured),
                "{classes:?} for {}",
                String::from_utf8_lossy(&data[..80])
            );
        }
        // Cut one character in: the groups are misaligned, still armoured.
        let shifted = hex(&secret, false, 30);
        assert!(class_of_every_window(&shifted[1..])
            .iter()
            .all(|c| *c == WindowClass::Armoured));
    }

    #[test]
    fn hex_of_structured_data_and_checksum_lists_are_text() {
        let text = "Procès-verbal de la séance du conseil municipal. ".repeat(200);
        let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
        elf.extend((0..20_000u32).map(|i| if i % 7 == 0 { (i % 251) as u8 } else { 0 }));
        for data in [hex(text.as_bytes(), false, 16), hex(&elf, false, 30)] {
            let classes = class_of_every_window(&data);
            assert!(
                classes.iter().all(|c| *c == WindowClass::Text),
                "{classes:?}"
            );
        }
        // `sha256sum` output: the digests are random, the names are not hex.
        let mut sums = Vec::new();
        for i in 0..200u64 {
            sums.extend(hex(&pseudo_random(i, 32), false, 0));
            sums.extend(format!("  ./dossiers/deliberation-{i:03}.odt\n").as_bytes());
        }
        let classes = class_of_every_window(&sums);
        assert!(
            classes.iter().all(|c| *c == WindowClass::Text),
            "{classes:?}"
        );
    }

    #[test]
    fn entropy_and_chi2_of_extremes() {
        let zeros = [0u8; 4096];
        assert_eq!(entropy(&hist_of(&zeros)), 0.0);
        let all: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert!((entropy(&hist_of(&all)) - 8.0).abs() < 1e-9);
        assert_eq!(chi2_per_dof(&hist_of(&all)), 0.0);
        assert_eq!(chi2_per_dof(&[0; 256]), 0.0);
    }
}
