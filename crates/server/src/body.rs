//! What a GET sends: an object read from the file the request opened, one
//! chunk at a time, only when the connection asks for the next one.
//!
//! hyper polls a response body only when it can send what it gets, so a
//! read holds at most one chunk (plus the connection's buffers) whatever
//! the object's size, and a client that stops reading stops the reading.
//! Each chunk is read on a blocking thread that is released as soon as the
//! chunk is read: no thread ever waits for a slow client.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::task::JoinHandle;

/// Bytes read from an object's file at a time.
pub(crate) const READ_CHUNK: usize = 256 << 10;

/// `len` bytes of an open file from `offset`, read as they are sent.
#[derive(Debug)]
pub(crate) struct FileBody {
    reading: Reading,
    offset: u64,
    remaining: u64,
}

#[derive(Debug)]
enum Reading {
    /// Waiting for the connection to ask for the next chunk.
    Idle(File),
    /// A chunk being read on a blocking thread, which gives the file back.
    Busy(JoinHandle<(File, io::Result<Vec<u8>>)>),
    /// Failed: nothing more is sent.
    Done,
}

impl FileBody {
    pub fn new(file: File, offset: u64, len: u64) -> FileBody {
        FileBody {
            reading: Reading::Idle(file),
            offset,
            remaining: len,
        }
    }

    /// Starts reading the next chunk.
    fn start(&self, file: File) -> Reading {
        let len = self.remaining.min(READ_CHUNK as u64) as usize;
        let offset = self.offset;
        Reading::Busy(tokio::task::spawn_blocking(move || {
            let chunk = read_chunk(&file, offset, len);
            (file, chunk)
        }))
    }

    /// Takes a chunk read: the file waits for the next request for one.
    fn advance(&mut self, file: File, chunk: Vec<u8>) -> Frame<Bytes> {
        let n = chunk.len() as u64;
        self.offset = self.offset.saturating_add(n);
        self.remaining = self.remaining.saturating_sub(n);
        self.reading = Reading::Idle(file);
        Frame::data(Bytes::from(chunk))
    }
}

/// Exactly `len` bytes at `offset`: a file shorter than it was when opened
/// is an error (the length was announced), never a short answer.
fn read_chunk(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut chunk = vec![0u8; len];
    file.read_exact_at(&mut chunk, offset)?;
    Ok(chunk)
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.reading, Reading::Done) {
                Reading::Done => return Poll::Ready(None),
                Reading::Idle(_) if this.remaining == 0 => return Poll::Ready(None),
                Reading::Idle(file) => this.reading = this.start(file),
                Reading::Busy(mut task) => {
                    return match Pin::new(&mut task).poll(cx) {
                        Poll::Pending => {
                            this.reading = Reading::Busy(task);
                            Poll::Pending
                        }
                        Poll::Ready(Ok((file, Ok(chunk)))) => {
                            Poll::Ready(Some(Ok(this.advance(file, chunk))))
                        }
                        Poll::Ready(Ok((_, Err(e)))) => Poll::Ready(Some(Err(e))),
                        Poll::Ready(Err(e)) => Poll::Ready(Some(Err(io::Error::other(e)))),
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 || matches!(self.reading, Reading::Done)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::io::Write;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_file_is_sent_in_bounded_chunks_from_its_offset() {
        let mut file = tempfile::tempfile().unwrap();
        let data: Vec<u8> = (0..READ_CHUNK * 2 + 10).map(|i| i as u8).collect();
        file.write_all(&data).unwrap();
        let mut body = FileBody::new(file, 5, data.len() as u64 - 5);
        assert_eq!(body.size_hint().exact(), Some(data.len() as u64 - 5));
        let mut sent = Vec::new();
        while let Some(frame) = body.frame().await {
            let chunk = frame.unwrap().into_data().unwrap();
            assert!(chunk.len() <= READ_CHUNK);
            sent.extend_from_slice(&chunk);
        }
        assert_eq!(sent, data[5..]);
        assert!(body.is_end_stream());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_file_shorter_than_announced_is_an_error() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"short").unwrap();
        let mut body = FileBody::new(file, 0, 100);
        let first = body.frame().await.unwrap();
        assert_eq!(first.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}
