//! Protobuf wire primitives (varints, keys, length-delimited fields) and the
//! field numbers of `snapshot.proto`, shared by the snapshot encoder and
//! decoder, which write and read straight from byte buffers so that
//! millions of lead records never go through an intermediate prost struct.
//! Reading varints and keys, skipping fields, and varint lengths are
//! `prost::encoding`'s (measured against the hand-written versions they
//! replaced: BENCHMARKS.md "Snapshots"); writing varints into the encoder's
//! cursor stays hand-written (prost's costs 28% more there). What else is
//! here: bounds-checked cursors that report the body offset of a problem.

use std::fmt;

/// Wire type of varint fields (int32/int64/uint32/uint64/sint64/enum).
pub(crate) const VARINT: u32 = 0;
/// Wire type of fixed64/double fields.
pub(crate) const FIXED64: u32 = 1;
/// Wire type of strings, messages and packed repeated fields.
pub(crate) const LEN: u32 = 2;
/// Wire type of fixed32/float fields.
pub(crate) const FIXED32: u32 = 5;

/// Field numbers of `leadscore.v1.Snapshot`; must match `snapshot.proto`
/// (checked by the prost cross-check test in `encode.rs`).
pub(crate) mod snapshot {
    pub const PARTITION: u32 = 1;
    pub const MODEL_VERSION: u32 = 2;
    pub const OFFSETS: u32 = 3;
    pub const WATERMARK_MS: u32 = 4;
    pub const LAST_SWEEP_MS: u32 = 5;
    pub const TAKEN_AT_MS: u32 = 6;
    pub const LEAD_COUNT: u32 = 7;
    pub const SEEN_ID_HASHES: u32 = 8;
    pub const SEEN_TIME_DELTAS: u32 = 9;
    pub const LEADS: u32 = 10;
    pub const SEEN_CUTOFF_MS: u32 = 11;
    pub const CHANGELOG_NEXT_OFFSET: u32 = 12;
}

/// Field numbers of `leadscore.v1.TopicOffset`.
pub(crate) mod topic_offset {
    pub const TOPIC: u32 = 1;
    pub const NEXT_OFFSET: u32 = 2;
}

/// Field numbers of `leadscore.v1.LeadRecord`.
pub(crate) mod lead {
    pub const LEAD_ID: u32 = 1;
    pub const LEAD_UUID: u32 = 2;
    pub const STAGE: u32 = 3;
    pub const LAST_EVENT_MS: u32 = 7;
    pub const BEHAVIOR_BITS: u32 = 12;
    pub const SLOT_HEAD: u32 = 13;
    pub const SLOT_AGE: u32 = 14;
    pub const SLOT_B: u32 = 15;
}

/// The key byte(s) of a field: `field << 3 | wire_type`. All our field
/// numbers are below 16, so a key is always one byte.
#[inline(always)]
pub(crate) const fn key(field: u32, wire_type: u32) -> u8 {
    ((field << 3) | wire_type) as u8
}

/// Bytes a varint of `v` takes (1..=10).
#[inline(always)]
pub(crate) const fn varint_len(v: u64) -> usize {
    prost::encoding::encoded_len_varint(v)
}

/// Appends `v` as a varint.
#[inline(always)]
pub(crate) fn put_varint(buf: &mut Vec<u8>, v: u64) {
    prost::encoding::encode_varint(v, buf);
}

/// Zigzag-maps a signed value so small magnitudes of either sign stay short (sint64).
#[inline(always)]
pub(crate) const fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline(always)]
pub(crate) const fn unzigzag(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// Appends a string (or bytes) field: key, length, bytes.
#[inline]
pub(crate) fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    buf.push(key(field, LEN));
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Appends a varint field unless it is zero (proto3 omits defaults).
#[inline(always)]
pub(crate) fn put_varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        buf.push(key(field, VARINT));
        put_varint(buf, v);
    }
}

/// Bytes [`put_varint_field`] appends.
#[inline(always)]
pub(crate) const fn varint_field_len(v: u64) -> usize {
    if v == 0 {
        0
    } else {
        1 + varint_len(v)
    }
}

/// A writer over a pre-sized slice: the hot lead encoder sizes each record
/// first, then writes it through this cursor, whose position stays in a
/// register (pushing byte by byte into a `Vec` reloads and stores its
/// length on every byte). Writing past the end is a bug and panics.
pub(crate) struct Out<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Out<'a> {
    /// A cursor at the start of `buf`.
    #[inline(always)]
    pub(crate) fn new(buf: &'a mut [u8]) -> Out<'a> {
        Out { buf, pos: 0 }
    }

    /// Bytes written so far.
    #[inline(always)]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Writes one byte.
    #[inline(always)]
    pub(crate) fn byte(&mut self, b: u8) {
        self.buf[self.pos] = b;
        self.pos += 1;
    }

    /// Writes a varint. Hand-written rather than `prost::encoding::
    /// encode_varint`, which costs the encoder 28% more instructions through
    /// a slice cursor (BENCHMARKS.md "Snapshots"); the byte format is the
    /// same, and `prost` decodes it (see the tests in `encode.rs`).
    #[inline(always)]
    pub(crate) fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    /// Writes raw bytes.
    #[inline(always)]
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    /// Writes a varint field unless it is zero.
    #[inline(always)]
    pub(crate) fn varint_field(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.byte(key(field, VARINT));
            self.varint(v);
        }
    }
}

/// A malformed body: what was expected and where (byte offset in the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WireError {
    /// Byte offset in the body where decoding failed.
    pub at: usize,
    /// What was wrong there.
    pub what: String,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at body byte {}", self.what, self.at)
    }
}

/// A bounds-checked cursor over a protobuf-encoded slice. Never panics on
/// malformed input: every read returns a [`WireError`] instead.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the whole body, for error positions.
    base: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, which starts at body offset `base`.
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Reader<'a> {
        Reader { buf, pos: 0, base }
    }

    /// Whether everything has been read.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Bytes read so far.
    #[inline(always)]
    pub(crate) fn consumed(&self) -> usize {
        self.pos
    }

    /// Body offset of the next byte.
    #[inline(always)]
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// An error at the current position.
    pub(crate) fn error(&self, what: impl Into<String>) -> WireError {
        WireError {
            at: self.offset(),
            what: what.into(),
        }
    }

    /// Reads one varint.
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let mut rest = &self.buf[self.pos.min(self.buf.len())..];
        let before = rest.len();
        match prost::encoding::decode_varint(&mut rest) {
            Ok(v) => {
                self.pos += before - rest.len();
                Ok(v)
            }
            Err(e) => Err(self.error(format!("bad varint ({e})"))),
        }
    }

    /// Reads a field key: `(field number, wire type)`.
    #[inline(always)]
    pub(crate) fn key(&mut self) -> Result<(u32, u32), WireError> {
        let mut rest = &self.buf[self.pos.min(self.buf.len())..];
        let before = rest.len();
        match prost::encoding::decode_key(&mut rest) {
            Ok((field, wt)) => {
                self.pos += before - rest.len();
                Ok((field, wt as u32))
            }
            Err(e) => Err(self.error(format!("bad field key ({e})"))),
        }
    }

    /// Reads 8 little-endian bytes.
    #[inline(always)]
    pub(crate) fn fixed64(&mut self) -> Result<u64, WireError> {
        let end = self.pos + 8;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| self.error("unexpected end of data in a fixed64"))?;
        self.pos = end;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    /// Reads a length-delimited field's content, returning it and its body offset.
    #[inline(always)]
    pub(crate) fn len_delimited(&mut self) -> Result<(&'a [u8], usize), WireError> {
        let len = self.varint()?;
        let start = self.pos;
        let remaining = self.buf.len() - start;
        if len > remaining as u64 {
            return Err(self.error(format!(
                "length {len} runs past the end of its enclosing data ({remaining} bytes left)"
            )));
        }
        self.pos = start + len as usize;
        Ok((&self.buf[start..self.pos], self.base + start))
    }

    /// Skips field `field` of an unknown number (forward compatibility).
    pub(crate) fn skip(&mut self, field: u32, wire_type: u32) -> Result<(), WireError> {
        use prost::encoding::{skip_field, DecodeContext, WireType};
        let wt = WireType::try_from(u64::from(wire_type))
            .map_err(|_| self.error(format!("unsupported wire type {wire_type}")))?;
        let mut rest = &self.buf[self.pos.min(self.buf.len())..];
        let before = rest.len();
        match skip_field(wt, field, &mut rest, DecodeContext::default()) {
            Ok(()) => {
                self.pos += before - rest.len();
                Ok(())
            }
            Err(e) => Err(self.error(format!("cannot skip field {field} ({e})"))),
        }
    }

    /// Fails unless a known field came with its expected wire type.
    #[inline(always)]
    pub(crate) fn expect(&self, field: u32, got: u32, want: u32) -> Result<(), WireError> {
        if got == want {
            Ok(())
        } else {
            Err(self.error(format!(
                "field {field} has wire type {got}, expected {want}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_roundtrip_and_have_the_predicted_length() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX >> 1, u64::MAX] {
            let mut buf = Vec::new();
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
            let mut r = Reader::new(&buf, 0);
            assert_eq!(r.varint().unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn zigzag_roundtrips_extremes() {
        for v in [0i64, 1, -1, i64::MIN, i64::MAX, 123_456_789, -987_654_321] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn truncated_inputs_are_errors_not_panics() {
        let mut r = Reader::new(&[0x80, 0x80], 0);
        assert!(r.varint().is_err());
        let mut r = Reader::new(&[0x05, 1, 2], 0);
        assert!(r.len_delimited().is_err());
        let mut r = Reader::new(&[1, 2, 3], 0);
        assert!(r.fixed64().is_err());
        let mut r = Reader::new(&[0xff; 11], 0);
        assert!(r.varint().is_err());
    }
}
