//! Content statistics of one file, from windows sampled while its bytes
//! stream through the backup: no second read.
//!
//! A file of up to 64 KiB is looked at whole, in consecutive 4 KiB windows,
//! the last one taking the remainder (up to 8 KiB): no window is too short
//! to judge, but in a file under 4 KiB. A larger one gets 16 windows spread evenly from its first byte to its
//! last, so encryption of the head only, of the tail, or of blocks at a
//! stride through a large file still lands in some window. The head and the
//! tail also give the file type from magic bytes and trailers.

use crate::magic;
use crate::window::{self, Histogram, WindowClass};
use reprise_format::ContentStats;

/// Bytes per window.
pub const WINDOW: usize = 4096;
/// Windows per file at most.
pub const MAX_WINDOWS: usize = 16;
/// Enough of the first window for every magic number `magic` knows (tar's
/// is at 257, the name of a zip's first member within 512).
const HEAD_BYTES: usize = 512;

/// The secret that places the sampled windows: 32 bytes derived from the
/// repository's master key (`Repository::detection_key`).
#[derive(Clone)]
pub struct DetectionKey([u8; 32]);

impl DetectionKey {
    pub fn new(key: [u8; 32]) -> DetectionKey {
        DetectionKey(key)
    }

    /// A key everyone knows, for measurements made outside a repository
    /// (tests, the benchmark's ground truth): its windows are predictable.
    pub fn public() -> DetectionKey {
        DetectionKey([0; 32])
    }

    /// `count` pseudo-random numbers for a file of `size` bytes (0 for a
    /// stream): a keyed BLAKE3 of the size, read as little-endian u64s.
    fn draws(&self, size: u64, count: usize) -> Vec<u64> {
        let mut hasher = blake3::Hasher::new_keyed(&self.0);
        hasher.update(&size.to_le_bytes());
        let mut bytes = vec![0u8; count * 8];
        hasher.finalize_xof().fill(&mut bytes);
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect()
    }
}

impl std::fmt::Debug for DetectionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DetectionKey(..)")
    }
}

/// Accumulates the statistics of one file, fed in order.
pub struct Sampler {
    size: u64,
    /// Start offsets of the windows, ascending, non-overlapping.
    starts: Vec<u64>,
    /// The window being filled.
    current: usize,
    buffer: Vec<u8>,
    head: Vec<u8>,
    tail: Vec<u8>,
    total: Histogram,
    sampled: u64,
    windows: u32,
    random: u32,
    text: u32,
    armoured: u32,
    binary: u32,
    head_class: Option<WindowClass>,
}

impl Sampler {
    /// A sampler for a file expected to be `size` bytes long (its length when
    /// listed; if it changes while read, the windows that fall beyond the
    /// new end are simply not filled), its windows placed by `key`.
    pub fn keyed(size: u64, key: &DetectionKey) -> Sampler {
        Sampler {
            size,
            starts: window_starts(size, key),
            current: 0,
            buffer: Vec::with_capacity(WINDOW.min(usize::try_from(size).unwrap_or(WINDOW))),
            head: Vec::new(),
            tail: Vec::new(),
            total: [0; 256],
            sampled: 0,
            windows: 0,
            random: 0,
            text: 0,
            armoured: 0,
            binary: 0,
            head_class: None,
        }
    }

    /// [`Sampler::keyed`] with the [public](DetectionKey::public) key.
    pub fn new(size: u64) -> Sampler {
        Sampler::keyed(size, &DetectionKey::public())
    }

    /// A sampler for a stream of unknown length (standard input): windows
    /// near doubling offsets (0, then from 64 KiB, 1 MiB, 2 MiB, 4 MiB...,
    /// each moved by a keyed amount up to half its distance from 0) and the
    /// last bytes, whatever the length turns out to be.
    pub fn stream_keyed(key: &DetectionKey) -> Sampler {
        let mut s = Sampler::keyed(u64::MAX, key);
        s.starts = stream_starts(key);
        s.buffer = Vec::with_capacity(WINDOW);
        s
    }

    /// [`Sampler::stream_keyed`] with the [public](DetectionKey::public) key.
    pub fn new_stream() -> Sampler {
        Sampler::stream_keyed(&DetectionKey::public())
    }

    /// The statistics of `data`, a whole file, its windows placed by `key`:
    /// windows are read in place and the tail is the end of `data`, with
    /// nothing copied.
    pub fn of_keyed(data: &[u8], key: &DetectionKey) -> ContentStats {
        let mut s = Sampler::keyed(data.len() as u64, key);
        s.feed_windows(0, data);
        s.finish_with_tail(last_bytes(data, WINDOW))
    }

    /// [`Sampler::of_keyed`] with the [public](DetectionKey::public) key.
    pub fn of(data: &[u8]) -> ContentStats {
        Sampler::of_keyed(data, &DetectionKey::public())
    }

    /// Gives the bytes at `offset` (feeds must come in order).
    pub fn feed(&mut self, offset: u64, data: &[u8]) {
        self.capture_tail(offset, data);
        self.feed_windows(offset, data);
    }

    fn feed_windows(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        while let Some(&start) = self.starts.get(self.current) {
            let window_end = self.window_end(start);
            let from = start + self.buffer.len() as u64;
            if from >= end {
                return;
            }
            if from < offset {
                // A window that began before this feed and was not filled:
                // the caller skipped bytes. Drop it rather than mis-sample.
                self.buffer.clear();
                self.current += 1;
                continue;
            }
            let upto = window_end.min(end);
            let a = (from - offset) as usize;
            let b = (upto - offset) as usize;
            // offset <= from < upto <= end: always within this feed.
            let Some(part) = data.get(a..b) else {
                return;
            };
            if self.buffer.is_empty() && upto == window_end {
                // The whole window is in this feed: no copy.
                self.close_window(part);
                continue;
            }
            self.buffer.extend_from_slice(part);
            if upto == window_end {
                self.close_buffered_window();
            } else {
                return;
            }
        }
    }

    /// Where the window starting at `start` ends: 4 KiB later, but for the
    /// last window of a small file, which runs to its end.
    fn window_end(&self, start: u64) -> u64 {
        let small = self.size <= (WINDOW * MAX_WINDOWS) as u64;
        if small && self.starts.get(self.current + 1).is_none() {
            self.size
        } else {
            (start + WINDOW as u64).min(self.size)
        }
    }

    fn capture_tail(&mut self, offset: u64, data: &[u8]) {
        let tail_start = match self.size {
            u64::MAX => 0,
            size => size.saturating_sub(WINDOW as u64),
        };
        let end = offset + data.len() as u64;
        if end <= tail_start {
            return;
        }
        let from = tail_start.max(offset);
        let part = data.get((from - offset) as usize..).unwrap_or_default();
        // Bounded even if the file grew far beyond its announced size.
        self.tail.extend_from_slice(last_bytes(part, WINDOW));
        let excess = self.tail.len().saturating_sub(WINDOW);
        self.tail.drain(..excess);
    }

    fn close_buffered_window(&mut self) {
        let window = std::mem::take(&mut self.buffer);
        self.close_window(&window);
        self.buffer = window;
        self.buffer.clear();
    }

    fn close_window(&mut self, window: &[u8]) {
        let mut hist = [0u32; 256];
        window::add_half_to_histogram(&mut hist, window);
        let mut counted = 0u64;
        for (t, h) in self.total.iter_mut().zip(hist.iter()) {
            *t += h;
            counted += *h as u64;
        }
        self.sampled += counted;
        let class = window::classify(window, &hist);
        if self.current == 0 {
            self.head_class = Some(class);
            self.head = window.get(..HEAD_BYTES).unwrap_or(window).to_vec();
        }
        self.windows += 1;
        match class {
            WindowClass::Text => self.text += 1,
            WindowClass::Random => self.random += 1,
            WindowClass::Armoured => self.armoured += 1,
            WindowClass::Binary => self.binary += 1,
        }
        self.current += 1;
    }

    /// The statistics of what was fed.
    pub fn finish(mut self) -> ContentStats {
        let tail = std::mem::take(&mut self.tail);
        self.finish_with_tail(&tail)
    }

    fn finish_with_tail(mut self, tail: &[u8]) -> ContentStats {
        if !self.buffer.is_empty() {
            // The file ended early (it shrank while read): judge what came.
            self.close_buffered_window();
        }
        let kind = self.kind();
        let tail = magic::tail_kind(tail).map(str::to_string);
        ContentStats {
            kind,
            tail,
            windows: self.windows,
            random: self.random,
            text: self.text,
            armoured: self.armoured,
            entropy: window::entropy(&self.total) as f32,
            chi2: window::chi2_per_dof(&self.total) as f32,
            sampled: self.sampled,
        }
    }

    fn kind(&self) -> String {
        if self.sampled == 0 {
            return "empty".into();
        }
        if let Some(kind) = magic::head_kind(&self.head) {
            return kind.into();
        }
        match self.head_class {
            Some(WindowClass::Text | WindowClass::Armoured) => "text",
            Some(WindowClass::Random) => "random",
            _ => "data",
        }
        .into()
    }
}

/// The last `n` bytes of `data`, or all of it when it is shorter.
fn last_bytes(data: &[u8], n: usize) -> &[u8] {
    data.get(data.len().saturating_sub(n)..).unwrap_or_default()
}

/// Where the windows of a file of `size` bytes start, ascending and
/// non-overlapping. A small file's last window takes the remainder: a file
/// of 5 000 bytes is one window, not one of 4 096 bytes and one of 904. A
/// large file's inner windows are one per stratum, at a keyed offset.
fn window_starts(size: u64, key: &DetectionKey) -> Vec<u64> {
    let window = WINDOW as u64;
    if size <= window * MAX_WINDOWS as u64 {
        let count = if size == 0 { 0 } else { (size / window).max(1) };
        return (0..count).map(|i| i * window).collect();
    }
    let last = size - window;
    let strata = MAX_WINDOWS as u64 - 2;
    // Between the first window's end and the last window's start; over
    // 64 KiB, each stratum holds at least one window.
    let inner = last - window;
    let draws = key.draws(size, strata as usize);
    let mut starts = vec![0];
    for (i, draw) in (0..strata).zip(draws) {
        // In u128: `i * inner` overflows u64 for sizes near its limit.
        let bound = |i: u64| window + (i as u128 * inner as u128 / strata as u128) as u64;
        let (from, to) = (bound(i), bound(i + 1));
        let room = (to - from).saturating_sub(window) + 1;
        starts.push(from + draw % room);
    }
    starts.push(last);
    starts
}

/// Where a stream's windows start: 0, then one in [b, 1.5 b - 4 KiB] for
/// b = 64 KiB, 1 MiB, 2 MiB, 4 MiB..., at a keyed offset.
fn stream_starts(key: &DetectionKey) -> Vec<u64> {
    let draws = key.draws(0, MAX_WINDOWS - 1);
    let bases =
        (0..MAX_WINDOWS as u32 - 1).map(|i| if i == 0 { 1 << 16 } else { 1u64 << (19 + i) });
    std::iter::once(0)
        .chain(bases.zip(draws).map(|(base, draw)| {
            let room = base / 2 - WINDOW as u64 + 1;
            base + draw % room
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::tests::pseudo_random;
    use proptest::prelude::*;

    fn starts(size: u64) -> Vec<u64> {
        window_starts(size, &DetectionKey::public())
    }

    #[test]
    fn windows_cover_small_files_and_spread_over_large_ones() {
        assert_eq!(starts(0), Vec::<u64>::new());
        assert_eq!(starts(100), vec![0]);
        assert_eq!(starts(5000), vec![0]);
        assert_eq!(starts(8192), vec![0, 4096]);
        assert_eq!(starts(64 * 1024).len(), MAX_WINDOWS);
        for size in [
            64 * 1024 + 1,
            64 * 1024 + 4095,
            100_000,
            100 << 20,
            u64::MAX,
        ] {
            let large = starts(size);
            assert_eq!(large.len(), MAX_WINDOWS);
            assert_eq!(large[0], 0);
            assert_eq!(*large.last().unwrap(), size - 4096);
            assert!(
                large.windows(2).all(|w| w[1] >= w[0] + 4096),
                "{size}: {large:?}"
            );
            // One window per fourteenth of the inner part: coverage stays even.
            let inner = size - 8192;
            for (i, start) in large[1..15].iter().enumerate() {
                let stratum = 4096 + (i as u128 * inner as u128 / 14) as u64;
                assert!(
                    *start >= stratum && *start - stratum < inner / 14 + 1,
                    "{size}: {large:?}"
                );
            }
        }
    }

    /// Two repositories place the windows of the same file differently, and
    /// neither where the unkeyed even spread of earlier versions put them.
    #[test]
    fn inner_windows_depend_on_the_key() {
        let size = 3 << 20;
        let a = window_starts(size, &DetectionKey::new([1; 32]));
        let b = window_starts(size, &DetectionKey::new([2; 32]));
        assert_eq!(a, window_starts(size, &DetectionKey::new([1; 32])));
        assert_ne!(a[1..15], b[1..15]);
        let even: Vec<u64> = (0..16).map(|i| i * (size - 4096) / 15).collect();
        assert_ne!(a[1..15], even[1..15]);
        let stream_a = stream_starts(&DetectionKey::new([1; 32]));
        assert_ne!(stream_a, stream_starts(&DetectionKey::new([2; 32])));
        assert!(stream_a.windows(2).all(|w| w[1] >= w[0] + 4096));
    }

    /// The evasion: a text file encrypted everywhere but the 16
    /// windows that fixed, evenly spread offsets would sample. The keyed
    /// windows land in ciphertext.
    #[test]
    fn encryption_around_the_unkeyed_windows_is_seen() {
        let size = 2 << 20;
        let mut data = pseudo_random(8, size);
        let text = "Registre des délibérations, séance du 4 juin.\n".repeat(100);
        let even = (0..16).map(|i| i * (size - 4096) / 15);
        for start in even {
            data[start..start + 4096].copy_from_slice(&text.as_bytes()[..4096]);
        }
        let stats = Sampler::of_keyed(&data, &DetectionKey::new([42; 32]));
        assert_eq!(stats.kind, "text");
        assert!(stats.random >= 8, "{stats:?}");
    }

    /// `sha256sum` output stays text (the names are not hex); a list of
    /// bare digests is hex of random bytes and looks armoured, as
    /// DETECTION.md §6 says.
    #[test]
    fn checksum_lists_stay_text_and_bare_digests_look_armoured() {
        use crate::window::tests::hex;
        let mut sums = Vec::new();
        let mut bare = Vec::new();
        for i in 0..200u64 {
            let digest = hex(&pseudo_random(i, 32), false, 0);
            sums.extend(&digest);
            sums.extend(format!("  registre/acte-{i:04}.pdf\n").as_bytes());
            bare.extend(&digest);
            bare.push(b'\n');
        }
        let stats = Sampler::of(&sums);
        assert_eq!(
            (stats.kind.as_str(), stats.armoured),
            ("text", 0),
            "{stats:?}"
        );
        let stats = Sampler::of(&bare);
        assert_eq!(stats.kind, "text");
        assert_eq!(stats.armoured, stats.windows, "{stats:?}");
    }

    #[test]
    fn ciphertext_text_and_pdf_are_told_apart() {
        let random = Sampler::of(&pseudo_random(1, 100_000));
        assert_eq!(random.kind, "random");
        assert_eq!(random.random, random.windows);
        assert!(random.chi2 < 1.2, "{}", random.chi2);
        let text = Sampler::of(
            "Délibération du conseil municipal.\n"
                .repeat(3000)
                .as_bytes(),
        );
        assert_eq!(text.kind, "text");
        assert_eq!(text.text, text.windows);
        let mut pdf = b"%PDF-1.4\n".to_vec();
        pdf.extend(pseudo_random(2, 50_000));
        pdf.extend(b"\ntrailer\n%%EOF\n");
        let pdf = Sampler::of(&pdf);
        assert_eq!(
            (pdf.kind.as_str(), pdf.tail.as_deref()),
            ("pdf", Some("pdf"))
        );
        assert_eq!(Sampler::of(b"").kind, "empty");
    }

    /// Base64 of ciphertext whose length is not a multiple of 4 KiB: the
    /// last window takes the remainder, so none is too short to decode into
    /// a measurable sample, and every window counts as armoured.
    #[test]
    fn the_last_window_of_a_small_file_takes_the_remainder() {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut armoured: Vec<u8> = pseudo_random(4, 28_672 + 45)
            .iter()
            .map(|b| ALPHABET[(b & 63) as usize])
            .collect();
        for i in (76..armoured.len()).step_by(77) {
            armoured[i] = b'\n';
        }
        let stats = Sampler::of(&armoured);
        assert_eq!((stats.kind.as_str(), stats.windows), ("text", 7));
        assert_eq!(stats.armoured, stats.windows, "{stats:?}");
        let random = Sampler::of(&pseudo_random(6, 4096 + 30));
        assert_eq!((stats.windows, random.random), (7, 1));
    }

    #[test]
    fn streams_of_unknown_length_are_sampled_at_doubling_offsets() {
        let data = pseudo_random(5, 3 << 20);
        let mut s = Sampler::new_stream();
        for (i, piece) in data.chunks(100_000).enumerate() {
            s.feed(i as u64 * 100_000, piece);
        }
        let stats = s.finish();
        // 0, from 64 KiB, from 1 MiB and from 2 MiB.
        assert_eq!(
            (stats.windows, stats.random, stats.kind.as_str()),
            (4, 4, "random")
        );
        let mut text = Sampler::new_stream();
        text.feed(0, b"CREATE TABLE naissances (id integer);\n");
        assert_eq!(text.finish().kind, "text");
    }

    proptest! {
        /// Feeding in pieces gives the same statistics as feeding at once.
        #[test]
        fn streaming_equals_whole(len in 0usize..300_000, cuts in proptest::collection::vec(1usize..70_000, 1..8)) {
            let data = pseudo_random(len as u64, len);
            let whole = Sampler::of(&data);
            let mut s = Sampler::new(len as u64);
            let mut offset = 0;
            for cut in cuts.iter().cycle() {
                if offset >= len { break; }
                let end = (offset + cut).min(len);
                s.feed(offset as u64, &data[offset..end]);
                offset = end;
            }
            prop_assert_eq!(s.finish(), whole);
        }

        /// A file that turns out shorter or longer than announced is no panic.
        #[test]
        fn size_changes_are_harmless(announced in 0u64..200_000, actual in 0usize..200_000) {
            let data = pseudo_random(3, actual);
            let mut s = Sampler::new(announced);
            s.feed(0, &data);
            let stats = s.finish();
            prop_assert!(stats.sampled <= actual as u64);
        }
    }
}
