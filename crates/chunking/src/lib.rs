//! Content-defined chunking: cuts a byte stream into chunks whose boundaries
//! depend on the content, so an insertion shifts only the chunks around it.
//!
//! FastCDC (2020) with the repository's secret seed does the cutting. This
//! crate adds the streaming loop: one reusable buffer per reader, and every
//! cut whose position is already fixed returned at once, so the caller can
//! process many chunks of one large file in parallel.
use fastcdc::v2020::{FastCDC, Normalization};
use std::io::Read;
use std::ops::Range;

/// Chunk size bounds and the gear-table seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkerParams {
    pub min_size: usize,
    pub avg_size: usize,
    pub max_size: usize,
    pub seed: u64,
}

impl ChunkerParams {
    fn cut(&self, data: &[u8]) -> usize {
        // The first cut point of `data`; a FastCDC value is cheap to build.
        let cdc = FastCDC::with_level_and_seed(
            data,
            self.min_size,
            self.avg_size,
            self.max_size,
            Normalization::Level1,
            self.seed,
        );
        cdc.cut(0, data.len()).1
    }
}

/// A batch of chunks: the buffer they lie in and the range of each, in order.
pub type Batch<'a> = (&'a [u8], Vec<Range<usize>>);

/// Streams chunks out of a reader, a batch at a time.
pub struct Chunker<R> {
    params: ChunkerParams,
    reader: R,
    buffer: Vec<u8>,
    filled: usize,
    consumed: usize,
    eof: bool,
}

impl<R: Read> Chunker<R> {
    /// `batch_bytes` is how much data is read ahead (at least twice `max_size`):
    /// the larger, the more chunks each [`next_batch`](Self::next_batch) returns.
    pub fn new(reader: R, params: ChunkerParams, batch_bytes: usize) -> Self {
        let capacity = batch_bytes.max(2 * params.max_size);
        Chunker {
            params,
            reader,
            buffer: vec![0; capacity],
            filled: 0,
            consumed: 0,
            eof: false,
        }
    }

    /// Returns the buffer and the ranges of the next chunks in it, or `None`
    /// at the end of the stream. Every range is a final chunk: the cut was
    /// made with at least `max_size` bytes of lookahead, or at end of stream.
    pub fn next_batch(&mut self) -> std::io::Result<Option<Batch<'_>>> {
        self.compact_and_fill()?;
        if self.filled == 0 {
            return Ok(None);
        }
        let mut ranges = Vec::new();
        let mut start = 0;
        while start < self.filled {
            let remaining = self.filled - start;
            if !self.eof && remaining < self.params.max_size {
                break;
            }
            let len = self.params.cut(&self.buffer[start..self.filled]);
            ranges.push(start..start + len);
            start += len;
        }
        self.consumed = start;
        Ok(Some((&self.buffer[..self.filled], ranges)))
    }

    fn compact_and_fill(&mut self) -> std::io::Result<()> {
        if self.consumed > 0 {
            self.buffer.copy_within(self.consumed..self.filled, 0);
            self.filled -= self.consumed;
            self.consumed = 0;
        }
        while !self.eof && self.filled < self.buffer.len() {
            match self.reader.read(&mut self.buffer[self.filled..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Cuts an in-memory buffer completely; for tests and small inputs.
pub fn cut_all(data: &[u8], params: ChunkerParams) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let len = params.cut(&data[start..]);
        out.push(start..start + len);
        start += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn small() -> ChunkerParams {
        ChunkerParams {
            min_size: 256,
            avg_size: 1024,
            max_size: 4096,
            seed: 7,
        }
    }

    fn stream_all(data: &[u8], params: ChunkerParams, batch: usize) -> Vec<Vec<u8>> {
        let mut chunker = Chunker::new(data, params, batch);
        let mut out = Vec::new();
        while let Some((buf, ranges)) = chunker.next_batch().unwrap() {
            out.extend(ranges.into_iter().map(|r| buf[r].to_vec()));
        }
        out
    }

    #[test]
    fn streaming_cuts_match_whole_buffer_cuts() {
        let data = reprise_sample::random_bytes(200_000, 3);
        let whole: Vec<Vec<u8>> = cut_all(&data, small())
            .into_iter()
            .map(|r| data[r].to_vec())
            .collect();
        for batch in [8192, 10_000, 65536] {
            assert_eq!(stream_all(&data, small(), batch), whole);
        }
        assert_eq!(whole.concat(), data);
    }

    #[test]
    fn the_seed_changes_the_boundaries() {
        let data = reprise_sample::random_bytes(100_000, 9);
        let other = ChunkerParams { seed: 8, ..small() };
        assert_ne!(cut_all(&data, small()), cut_all(&data, other));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn boundaries_after_an_insertion_are_stable(seed in any::<u64>(), at in 0usize..50_000, insert in proptest::collection::vec(any::<u8>(), 1..100)) {
            let data = reprise_sample::random_bytes(100_000, seed);
            let mut edited = data[..at].to_vec();
            edited.extend_from_slice(&insert);
            edited.extend_from_slice(&data[at..]);
            let before: Vec<&[u8]> = cut_all(&data, small()).into_iter().map(|r| &data[r]).collect();
            let after: Vec<&[u8]> = cut_all(&edited, small()).into_iter().map(|r| &edited[r]).collect();
            // Chunks that end well past the edit (beyond one max-size window) are unchanged.
            let shared = before.iter().filter(|c| after.contains(c)).count();
            let far: usize = {
                let mut pos = 0; let mut n = 0;
                for c in &before { pos += c.len(); if pos > at + 2 * small().max_size { n += 1; } }
                n
            };
            prop_assert!(shared >= far, "only {} of {} chunks after the edit survived", shared, far);
        }
    }
}
