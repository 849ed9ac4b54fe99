//! Trees: the entries of one directory, each a [`Node`] with full metadata.
//!
//! A tree is a JSON document `{"nodes": [...]}` stored as a blob of type
//! `Tree`. Names and link targets are byte strings: written as a JSON string
//! when they are valid UTF-8, else as `{"base64": "..."}`, so non-UTF-8 names
//! survive byte for byte. Decoding validates every name, because a forged
//! tree must not be able to make a restore write outside its target.

use crate::{BlobId, FormatError};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Bytes that are shown as text when they are UTF-8.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RawBytes(pub Vec<u8>);

impl RawBytes {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lossy text, for display only.
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
}

impl std::fmt::Debug for RawBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum RawBytesRepr {
    Text(String),
    Bytes { base64: String },
}

impl Serialize for RawBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => RawBytesRepr::Bytes {
                base64: B64.encode(&self.0),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for RawBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawBytesRepr::deserialize(d)? {
            RawBytesRepr::Text(t) => Ok(RawBytes(t.into_bytes())),
            RawBytesRepr::Bytes { base64 } => B64
                .decode(base64)
                .map(RawBytes)
                .map_err(serde::de::Error::custom),
        }
    }
}

mod base64_bytes {
    use super::*;
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s).map_err(serde::de::Error::custom)
    }
}

/// The kind of a file system entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    Chardev,
    Blockdev,
}

/// One extended attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Xattr {
    pub name: RawBytes,
    #[serde(with = "base64_bytes")]
    pub value: Vec<u8>,
}

/// What the content of a file looked like when it was backed up, measured by
/// ransomware detection on windows sampled across the data as it streamed
/// through (docs/DETECTION.md). Absent on files backed up with detection off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContentStats {
    /// Type recognised from the first bytes: a format name such as `pdf`,
    /// `zip`, `ooxml`, `jpeg`, `sqlite`, `pgp`; or `text`, `random`
    /// (ciphertext-like), `data` (other binary) or `empty`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Format recognised from the last bytes, for formats with a trailer
    /// (`zip`, `pdf`, `jpeg`, `png`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tail: Option<String>,
    /// Windows sampled (4 KiB each, at most 16).
    pub windows: u32,
    /// Windows whose bytes are indistinguishable from ciphertext.
    pub random: u32,
    /// Windows of text.
    pub text: u32,
    /// Windows of base64 text that decodes to ciphertext-like bytes.
    #[serde(default, skip_serializing_if = "is_zero32")]
    pub armoured: u32,
    /// Shannon entropy of all sampled bytes, in bits per byte.
    pub entropy: f32,
    /// Chi-square statistic of all sampled bytes against the uniform
    /// distribution, divided by its 255 degrees of freedom: close to 1 for
    /// ciphertext, far above for compressed data and text.
    pub chi2: f32,
    /// Bytes sampled.
    pub sampled: u64,
}

fn is_zero32(v: &u32) -> bool {
    *v == 0
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// One directory entry and everything needed to recreate it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    pub name: RawBytes,
    #[serde(rename = "type")]
    pub kind: NodeKind,
    /// Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    pub atime_ns: i64,
    pub ctime_ns: i64,
    pub size: u64,
    pub inode: u64,
    pub device: u64,
    pub links: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rdev: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<RawBytes>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xattrs: Vec<Xattr>,
    /// Chunks of a file's content, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<BlobId>,
    /// The tree of a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<BlobId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<ContentStats>,
}

impl Node {
    /// A node with only a name and kind set: the caller fills in the rest.
    pub fn new(name: Vec<u8>, kind: NodeKind) -> Self {
        Node {
            name: RawBytes(name),
            kind,
            mode: 0,
            uid: 0,
            gid: 0,
            user: None,
            group: None,
            mtime_ns: 0,
            atime_ns: 0,
            ctime_ns: 0,
            size: 0,
            inode: 0,
            device: 0,
            links: 0,
            rdev: 0,
            target: None,
            xattrs: Vec::new(),
            content: Vec::new(),
            subtree: None,
            stats: None,
        }
    }
}

/// The entries of one directory, sorted by name bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

/// A name that can be safely joined under a restore target: non-empty, no
/// slash, no NUL, and not `.` or `..`.
pub fn is_safe_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

impl Tree {
    /// The JSON stored as the tree's blob. An error (which serde_json
    /// reports only for maps with non-string keys, which a tree has none
    /// of) is returned rather than storing an empty tree.
    pub fn to_json(&self) -> Result<Vec<u8>, FormatError> {
        serde_json::to_vec(self).map_err(|e| FormatError::Encode {
            what: "tree",
            detail: e.to_string(),
        })
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        let tree: Tree = serde_json::from_slice(bytes)
            .map_err(|e| FormatError::malformed("tree", e.to_string()))?;
        tree.validate()?;
        Ok(tree)
    }

    fn validate(&self) -> Result<(), FormatError> {
        let mut previous: Option<&[u8]> = None;
        for node in &self.nodes {
            let name = node.name.as_bytes();
            if !is_safe_name(name) {
                return Err(FormatError::malformed(
                    "tree",
                    format!("unsafe entry name {:?}", node.name),
                ));
            }
            if previous.is_some_and(|p| p >= name) {
                return Err(FormatError::malformed(
                    "tree",
                    format!("entries not sorted or duplicated at {:?}", node.name),
                ));
            }
            if node.kind == NodeKind::Dir && node.subtree.is_none() {
                return Err(FormatError::malformed(
                    "tree",
                    format!("directory {:?} has no subtree", node.name),
                ));
            }
            previous = Some(name);
        }
        Ok(())
    }

    pub fn sort(&mut self) {
        self.nodes.sort_by(|a, b| a.name.cmp(&b.name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_names_round_trip_byte_exact() {
        let mut tree = Tree::default();
        tree.nodes
            .push(Node::new(b"caf\xe9.txt".to_vec(), NodeKind::File));
        tree.nodes.push(Node::new(
            "Délibération.odt".as_bytes().to_vec(),
            NodeKind::File,
        ));
        tree.sort();
        let json = tree.to_json().unwrap();
        assert!(String::from_utf8_lossy(&json).contains("base64"));
        assert_eq!(Tree::from_json(&json).unwrap(), tree);
    }

    #[test]
    fn trees_with_unsafe_names_are_refused() {
        for bad in [&b".."[..], b".", b"a/b", b"", b"a\0"] {
            let tree = Tree {
                nodes: vec![Node::new(bad.to_vec(), NodeKind::File)],
            };
            assert!(
                Tree::from_json(&tree.to_json().unwrap()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn unsorted_or_duplicate_entries_are_refused() {
        let tree = Tree {
            nodes: vec![
                Node::new(b"b".to_vec(), NodeKind::File),
                Node::new(b"a".to_vec(), NodeKind::File),
            ],
        };
        assert!(Tree::from_json(&tree.to_json().unwrap()).is_err());
    }
}
