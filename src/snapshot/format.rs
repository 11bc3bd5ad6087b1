//! The snapshot file frame: a fixed 24-byte header (magic, format version,
//! body length, CRC-32 of the body) in front of the protobuf body. The
//! length tells a truncated file from a complete one and the checksum tells
//! a damaged body from a good one, before a single byte is decoded.

use std::path::Path;

use super::error::SnapshotError;

/// First 8 bytes of every snapshot file: identifies the file type (and is
/// not valid UTF-8 text, so a stray text file never passes).
pub const MAGIC: [u8; 8] = *b"LSSNAP\0\x01";

/// Version of the frame + body layout this build writes and reads. Bumped
/// only for changes an older reader would misinterpret; new protobuf fields
/// do not need a bump (older readers skip unknown fields).
pub const FORMAT_VERSION: u32 = 2;

/// Size of the fixed header in bytes.
pub const HEADER_LEN: usize = 24;

/// The parsed fixed header of a snapshot file (all integers little-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version of the file (see [`FORMAT_VERSION`]).
    pub version: u32,
    /// Length of the body that follows the header, in bytes.
    pub body_len: u64,
    /// CRC-32 (IEEE, as `crc32fast` computes it) of the body.
    pub crc32: u32,
}

impl Header {
    /// The header for a body of `body_len` bytes with checksum `crc32`, in
    /// the current format version.
    pub fn new(body_len: u64, crc32: u32) -> Header {
        Header {
            version: FORMAT_VERSION,
            body_len,
            crc32,
        }
    }

    /// The 24 header bytes as written to disk.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..20].copy_from_slice(&self.body_len.to_le_bytes());
        b[20..24].copy_from_slice(&self.crc32.to_le_bytes());
        b
    }

    /// Parses the header at the start of `file` (the whole file or at least
    /// its first bytes; `file_len` is the full size on disk), checking the
    /// magic, the version and that the file is exactly header + body long.
    pub fn parse(path: &Path, file: &[u8], file_len: u64) -> Result<Header, SnapshotError> {
        let magic_part = &file[..file.len().min(MAGIC.len())];
        if magic_part != &MAGIC[..magic_part.len()] {
            return Err(SnapshotError::NotASnapshot {
                path: path.to_path_buf(),
            });
        }
        if file.len() < HEADER_LEN {
            return Err(SnapshotError::Truncated {
                path: path.to_path_buf(),
                detail: format!(
                    "the file has {file_len} bytes, fewer than the {HEADER_LEN}-byte header"
                ),
            });
        }
        let version = u32::from_le_bytes(file[8..12].try_into().expect("4 bytes"));
        let body_len = u64::from_le_bytes(file[12..20].try_into().expect("8 bytes"));
        let crc32 = u32::from_le_bytes(file[20..24].try_into().expect("4 bytes"));
        if version != FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let expected = (HEADER_LEN as u64).saturating_add(body_len);
        if file_len < expected {
            return Err(SnapshotError::Truncated {
                path: path.to_path_buf(),
                detail: format!(
                    "the header announces a {body_len}-byte body ({expected} bytes in all) but the file has {file_len} bytes"
                ),
            });
        }
        if file_len > expected {
            return Err(SnapshotError::Corrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "{} unexpected bytes after the {body_len}-byte body the header announces",
                    file_len - expected
                ),
            });
        }
        Ok(Header {
            version,
            body_len,
            crc32,
        })
    }
}

/// CRC-32 of `body`. Large bodies are split over up to two extra threads and
/// the partial checksums combined, since restore time is startup time.
pub fn checksum(body: &[u8]) -> u32 {
    const PARALLEL_FROM: usize = 64 << 20;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(3);
    if body.len() < PARALLEL_FROM || threads < 2 {
        return crc32fast::hash(body);
    }
    let chunk = body.len().div_ceil(threads);
    let parts: Vec<(u32, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = body
            .chunks(chunk)
            .map(|c| s.spawn(move || (crc32fast::hash(c), c.len() as u64)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("crc thread does not panic"))
            .collect()
    });
    let mut iter = parts.into_iter();
    let (first, first_len) = iter.next().expect("at least one chunk");
    let mut total = crc32fast::Hasher::new_with_initial_len(first, first_len);
    for (crc, len) in iter {
        total.combine(&crc32fast::Hasher::new_with_initial_len(crc, len));
    }
    total.finalize()
}

/// The words for a body that does not hash to its recorded checksum.
pub(crate) fn checksum_mismatch(recorded: u32, actual: u32, body_len: u64) -> String {
    format!(
        "checksum mismatch: the header records CRC-32 {recorded:08x} but the {body_len}-byte body hashes to {actual:08x}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrips() {
        let h = Header::new(1234, 0xdead_beef);
        let mut file = h.to_bytes().to_vec();
        file.resize(HEADER_LEN + 1234, 0);
        let parsed = Header::parse(Path::new("x"), &file, file.len() as u64).unwrap();
        assert_eq!(parsed, h);
    }

    #[test]
    fn short_and_foreign_files_are_classified() {
        let p = Path::new("x.snap");
        let e = Header::parse(p, b"LSSN", 4).unwrap_err();
        assert_eq!(e.fallback_kind(), "truncated");
        let e = Header::parse(p, b"hello world, not a snapshot", 27).unwrap_err();
        assert_eq!(e.fallback_kind(), "corrupt");
        let e = Header::parse(p, b"", 0).unwrap_err();
        assert_eq!(e.fallback_kind(), "truncated");
        let mut v2 = Header::new(0, 0).to_bytes();
        v2[8] = 3;
        let e = Header::parse(p, &v2, HEADER_LEN as u64).unwrap_err();
        assert_eq!(e.fallback_kind(), "unreadable");
        assert!(e.to_string().contains("x.snap"), "{e}");
    }

    #[test]
    fn parallel_checksum_equals_serial() {
        let body: Vec<u8> = (0..(70usize << 20)).map(|i| (i * 31 % 251) as u8).collect();
        assert_eq!(checksum(&body), crc32fast::hash(&body));
    }
}
