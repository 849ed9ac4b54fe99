//! A file of a snapshot, read back: its content blobs in order, one at a
//! time, each verified against its id. Memory stays at one blob (at most
//! the chunker's maximum size) whatever the size of the file.

use crate::{RepoError, Repository, Result};
use reprise_format::{BlobId, BlobType, Node, NodeKind};
use std::io::Read;

/// The content of one file node. As a [`Read`], a failed blob read is an
/// `io::Error` whose inner error is the [`RepoError`].
pub struct FileReader<'a> {
    repo: &'a Repository,
    chunks: std::slice::Iter<'a, BlobId>,
    current: Vec<u8>,
    pos: usize,
}

impl<'a> FileReader<'a> {
    /// A reader of `node`'s content; only a regular file has one.
    pub fn new(repo: &'a Repository, node: &'a Node) -> Result<Self> {
        if node.kind != NodeKind::File {
            return Err(RepoError::NotAFile {
                name: String::from_utf8_lossy(node.name.as_bytes()).into_owned(),
                kind: node.kind,
            });
        }
        Ok(FileReader {
            repo,
            chunks: node.content.iter(),
            current: Vec::new(),
            pos: 0,
        })
    }

    /// The next content blob, whole; `None` after the last.
    pub fn next_blob(&mut self) -> Result<Option<Vec<u8>>> {
        match self.chunks.next() {
            Some(id) => self.repo.read_blob(BlobType::Data, id).map(Some),
            None => Ok(None),
        }
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.current.len() {
            match self.next_blob().map_err(std::io::Error::other)? {
                Some(blob) => self.current = blob,
                None => return Ok(0),
            }
            self.pos = 0;
        }
        let rest = self.current.get(self.pos..).unwrap_or_default();
        let n = buf.len().min(rest.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), rest.get(..n)) {
            to.copy_from_slice(from);
        }
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::browse::testing::{fresh_repo, snapshot_of, Entry};

    fn root_nodes(repo: &Repository, entries: &[Entry]) -> Vec<Node> {
        let (_, snapshot) = snapshot_of(repo, entries);
        repo.load_tree(&snapshot.tree).unwrap().nodes
    }

    #[test]
    fn a_file_reads_back_chunk_after_chunk() {
        let (_dir, repo) = fresh_repo();
        let nodes = root_nodes(
            &repo,
            &[Entry::Chunked("f", &[b"first ", b"second ", b"", b"third"])],
        );
        let mut content = String::new();
        FileReader::new(&repo, &nodes[0])
            .unwrap()
            .read_to_string(&mut content)
            .unwrap();
        assert_eq!(content, "first second third");
        let mut blobs = FileReader::new(&repo, &nodes[0]).unwrap();
        assert_eq!(blobs.next_blob().unwrap().unwrap(), b"first ");
    }

    #[test]
    fn small_reads_cross_chunk_boundaries() {
        let (_dir, repo) = fresh_repo();
        let nodes = root_nodes(&repo, &[Entry::Chunked("f", &[b"abc", b"defg"])]);
        let mut reader = FileReader::new(&repo, &nodes[0]).unwrap();
        let mut two = [0u8; 2];
        let mut got = Vec::new();
        loop {
            let n = reader.read(&mut two).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&two[..n]);
        }
        assert_eq!(got, b"abcdefg");
    }

    #[test]
    fn a_missing_blob_is_a_typed_error() {
        let (_dir, repo) = fresh_repo();
        let mut nodes = root_nodes(&repo, &[Entry::File("f", b"content")]);
        let missing = BlobId::from_bytes([5; 32]);
        nodes[0].content.push(missing);
        let mut reader = FileReader::new(&repo, &nodes[0]).unwrap();
        assert!(reader.next_blob().unwrap().is_some());
        assert!(matches!(reader.next_blob(), Err(RepoError::BlobNotFound(id)) if id == missing));
        let err = FileReader::new(&repo, &nodes[0])
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        let inner = err.get_ref().and_then(|e| e.downcast_ref::<RepoError>());
        assert!(matches!(inner, Some(RepoError::BlobNotFound(_))), "{err}");
    }

    #[test]
    fn only_a_file_has_content() {
        let (_dir, repo) = fresh_repo();
        let nodes = root_nodes(&repo, &[Entry::Dir("d", vec![])]);
        let err = FileReader::new(&repo, &nodes[0]).err().unwrap();
        assert!(matches!(err, RepoError::NotAFile { .. }), "{err}");
    }
}
