//! Lead ids as the engine keeps them: a UUID in canonical text form as its
//! 16 bytes, any other id as its text. Exists so a task's millions of UUID
//! lead ids cost 16 bytes each instead of 36 plus a heap block, and so an
//! id is parsed and hashed once per event.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

use xxhash_rust::xxh3::xxh3_64;

/// Value of each byte as a lowercase hex digit, 0xff if it is not one.
const HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

/// Offsets of the 16 digit pairs in a canonical UUID text.
const UUID_PAIRS: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/// The 16 bytes of an id that is a UUID in canonical lowercase text form
/// (`8-4-4-4-12` lowercase hex digits); `None` for any other id. The text
/// is exactly [`uuid_text`] of the bytes, so nothing is lost.
#[inline]
pub fn uuid_bytes(id: &str) -> Option<[u8; 16]> {
    let s: &[u8; 36] = id.as_bytes().try_into().ok()?;
    if s[8] != b'-' || s[13] != b'-' || s[18] != b'-' || s[23] != b'-' {
        return None;
    }
    let mut out = [0u8; 16];
    let mut bad = 0u8;
    for (o, &i) in out.iter_mut().zip(&UUID_PAIRS) {
        let hi = HEX_VALUE[usize::from(s[i])];
        let lo = HEX_VALUE[usize::from(s[i + 1])];
        bad |= hi | lo;
        *o = (hi << 4) | (lo & 15);
    }
    // Every valid digit value is below 16.
    (bad < 16).then_some(out)
}

/// The canonical lowercase text form of a UUID (inverse of [`uuid_bytes`]).
#[inline]
pub fn uuid_text(b: &[u8; 16]) -> [u8; 36] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [b'-'; 36];
    let mut i = 0;
    for (j, byte) in b.iter().enumerate() {
        if matches!(j, 4 | 6 | 8 | 10) {
            i += 1;
        }
        out[i] = HEX[usize::from(byte >> 4)];
        out[i + 1] = HEX[usize::from(byte & 15)];
        i += 2;
    }
    out
}

/// A lead id parsed for lookups, borrowing the text when it is not a UUID.
/// Built once per event; its hash decides the table shard and bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeadId<'a> {
    /// A canonical UUID, as bytes.
    Uuid([u8; 16]),
    /// Any other id, as received.
    Text(&'a str),
}

impl<'a> LeadId<'a> {
    /// Parses an id as received in an event.
    #[inline]
    pub fn parse(id: &'a str) -> LeadId<'a> {
        match uuid_bytes(id) {
            Some(b) => LeadId::Uuid(b),
            None => LeadId::Text(id),
        }
    }

    /// The bytes the id is stored and hashed as.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            LeadId::Uuid(b) => b,
            LeadId::Text(s) => s.as_bytes(),
        }
    }

    /// The stable 64-bit hash of the id: the table's shard and bucket, and
    /// the eviction slice, all derive from it, so it must never change
    /// between releases that read each other's snapshots.
    #[inline]
    pub fn hash64(&self) -> u64 {
        match self {
            // A UUID's bytes are already well mixed only when random; hash
            // them anyway, the cost is a few nanoseconds.
            LeadId::Uuid(b) => xxh3_64(b),
            LeadId::Text(s) => xxh3_64(s.as_bytes()) ^ TEXT_SALT,
        }
    }

    /// An owned copy.
    pub fn to_key(&self) -> LeadKey {
        match self {
            LeadId::Uuid(b) => LeadKey::Uuid(*b),
            LeadId::Text(s) => LeadKey::Text(Box::from(*s)),
        }
    }

    /// Whether this is a UUID id.
    pub fn is_uuid(&self) -> bool {
        matches!(self, LeadId::Uuid(_))
    }
}

/// Keeps a text id whose bytes equal some UUID's 16 bytes from sharing its
/// hash (they would still compare unequal; this only spreads them).
const TEXT_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// An owned lead id, for the sets the task keeps in id order (promoted
/// leads) and for snapshot pre-images.
#[derive(Clone, PartialEq, Eq)]
pub enum LeadKey {
    /// A canonical UUID, as bytes.
    Uuid([u8; 16]),
    /// Any other id.
    Text(Box<str>),
}

impl LeadKey {
    /// The borrowed form, for lookups.
    #[inline]
    pub fn as_id(&self) -> LeadId<'_> {
        match self {
            LeadKey::Uuid(b) => LeadId::Uuid(*b),
            LeadKey::Text(s) => LeadId::Text(s),
        }
    }

    /// Parses an id as received.
    pub fn parse(id: &str) -> LeadKey {
        LeadId::parse(id).to_key()
    }

    /// Calls `f` with the id's text without allocating.
    pub fn with_text<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        match self {
            LeadKey::Uuid(b) => {
                let t = uuid_text(b);
                f(std::str::from_utf8(&t).expect("hex digits and dashes"))
            }
            LeadKey::Text(s) => f(s),
        }
    }
}

impl fmt::Display for LeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|s| f.write_str(s))
    }
}

impl fmt::Debug for LeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_text(|s| write!(f, "{s:?}"))
    }
}

impl Hash for LeadKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.as_id().hash64());
    }
}

impl Ord for LeadKey {
    /// Text order of the ids (a UUID compares as its canonical text), the
    /// order sweeps emit changes in.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // Lowercase hex digits sort like the nibbles they stand for.
            (LeadKey::Uuid(a), LeadKey::Uuid(b)) => a.cmp(b),
            (LeadKey::Text(a), LeadKey::Text(b)) => a.cmp(b),
            _ => self.with_text(|a| other.with_text(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for LeadKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uuids_and_only_those_are_bytes() {
        let id = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
        let b = uuid_bytes(id).unwrap();
        assert_eq!(b[0], 0x0a);
        assert_eq!(b[15], 0x89);
        assert_eq!(&uuid_text(&b), id.as_bytes());
        for other in [
            "0A1B2C3D-4E5F-6789-ABCD-EF0123456789",
            "0a1b2c3d4e5f6789abcdef0123456789",
            "0a1b2c3d-4e5f-6789-abcd-ef012345678",
            "0a1b2c3d-4e5f-6789-abcd-ef012345678g",
            "0a1b2c3d-4e5f-6789-abcd+ef0123456789",
            "lead-1",
            "",
        ] {
            assert_eq!(uuid_bytes(other), None, "{other}");
            assert_eq!(LeadId::parse(other), LeadId::Text(other));
        }
    }

    #[test]
    fn keys_order_by_their_text() {
        let mut keys: Vec<LeadKey> = [
            "ffffffff-0000-0000-0000-000000000000",
            "lead-b",
            "00000000-0000-0000-0000-00000000000a",
            "0a",
            "lead-a",
            "00000000-0000-0000-0000-000000000009",
        ]
        .iter()
        .map(|s| LeadKey::parse(s))
        .collect();
        keys.sort();
        let texts: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        let mut expected = texts.clone();
        expected.sort();
        assert_eq!(texts, expected);
        assert!(matches!(keys[0], LeadKey::Uuid(_)));
    }
}
