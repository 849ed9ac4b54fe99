//! Typed 256-bit ids, one type per kind of object, printed as lowercase hex.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// 32 raw bytes, the common representation of every id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id(pub [u8; 32]);

impl Id {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 8 hex digits, as snapshots are shown to people.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.short())
    }
}

impl FromStr for Id {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|e| format!("not a 64-digit hex id: {e}"))?;
        Ok(Id(out))
    }
}

impl Serialize for Id {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Id);

        impl $name {
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                $name(Id(bytes))
            }
            pub fn as_bytes(&self) -> &[u8; 32] {
                &(self.0).0
            }
            pub fn to_hex(&self) -> String {
                self.0.to_hex()
            }
            pub fn short(&self) -> String {
                self.0.short()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.short())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                s.parse().map($name)
            }
        }
    };
}

typed_id!(
    /// Keyed BLAKE3 of a blob's plaintext (a chunk of file data or a tree).
    BlobId
);
typed_id!(
    /// BLAKE3 of a pack file's bytes; also its object name.
    PackId
);
typed_id!(
    /// BLAKE3 of an index file's bytes; also its object name.
    IndexId
);
typed_id!(
    /// BLAKE3 of a snapshot object's bytes; also its object name.
    SnapshotId
);
typed_id!(
    /// BLAKE3 of a key file's bytes; also its object name.
    KeyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_hex_and_json() {
        let id = SnapshotId::from_bytes([7; 32]);
        assert_eq!(id.to_hex().parse::<SnapshotId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<SnapshotId>(&json).unwrap(), id);
        assert!("zz".parse::<Id>().is_err());
    }
}
