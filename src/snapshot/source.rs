//! A windowed, checksumming reader over a snapshot body. Restoring reads
//! the file through one reused window instead of into one buffer the size
//! of the file: fresh memory costs a page fault per 4 KiB, and for a large
//! snapshot those faults cost more than the reading itself. Every byte read
//! is fed to the CRC-32 on the way, so the checksum needs no second pass.

use std::io::{self, Read};

use super::wire::WireError;

/// Window size; grown only for a single field larger than this.
const WINDOW: usize = 8 << 20;

/// Why reading the body stopped.
#[derive(Debug)]
pub(crate) enum SourceError {
    /// The file could not be read (or shrank while being read).
    Io(io::Error),
    /// The bytes are not a valid body.
    Wire(WireError),
}

impl std::fmt::Display for SourceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SourceError::Io(e) => write!(f, "read error: {e}"),
            SourceError::Wire(e) => e.fmt(f),
        }
    }
}

impl From<WireError> for SourceError {
    fn from(e: WireError) -> Self {
        SourceError::Wire(e)
    }
}

/// Reads exactly `body_len` bytes from `src` through a sliding window.
pub(crate) struct BodySource<R> {
    src: R,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
    /// Body bytes not yet read from `src`.
    left: u64,
    /// Body offset of `buf[lo]`.
    pos: u64,
    crc: crc32fast::Hasher,
}

impl<R: Read> BodySource<R> {
    /// A source for a body of `body_len` bytes.
    pub(crate) fn new(src: R, body_len: u64) -> BodySource<R> {
        let window = usize::try_from(body_len).map_or(WINDOW, |n| n.clamp(64, WINDOW));
        BodySource {
            src,
            buf: vec![0; window],
            lo: 0,
            hi: 0,
            left: body_len,
            pos: 0,
            crc: crc32fast::Hasher::new(),
        }
    }

    /// The bytes read but not yet consumed.
    #[inline(always)]
    pub(crate) fn available(&self) -> &[u8] {
        &self.buf[self.lo..self.hi]
    }

    /// Body offset of the first available byte.
    #[inline(always)]
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Bytes of the body not yet consumed.
    #[inline(always)]
    pub(crate) fn remaining(&self) -> u64 {
        (self.hi - self.lo) as u64 + self.left
    }

    /// Whether the whole body has been consumed.
    #[inline(always)]
    pub(crate) fn at_end(&self) -> bool {
        self.remaining() == 0
    }

    /// Consumes `n` available bytes.
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.hi - self.lo);
        self.lo += n;
        self.pos += n as u64;
    }

    /// Makes at least `n` bytes available (fewer only if the body ends first).
    pub(crate) fn fill(&mut self, n: usize) -> Result<(), SourceError> {
        if self.hi - self.lo >= n {
            return Ok(());
        }
        if n as u64 > self.remaining() {
            return Err(SourceError::Wire(WireError {
                at: self.pos as usize,
                what: format!(
                    "a field of {n} bytes runs past the end of the body ({} bytes left)",
                    self.remaining()
                ),
            }));
        }
        self.buf.copy_within(self.lo..self.hi, 0);
        self.hi -= self.lo;
        self.lo = 0;
        if self.buf.len() < n {
            self.buf.resize(n, 0);
        }
        while self.hi < n {
            let room =
                (self.buf.len() - self.hi).min(usize::try_from(self.left).unwrap_or(usize::MAX));
            let got = match self.src.read(&mut self.buf[self.hi..self.hi + room]) {
                Ok(0) => {
                    return Err(SourceError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file ended before the body its header announces (was it truncated while being read?)",
                    )))
                }
                Ok(k) => k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(SourceError::Io(e)),
            };
            self.crc.update(&self.buf[self.hi..self.hi + got]);
            self.hi += got;
            self.left -= got as u64;
        }
        Ok(())
    }

    /// Reads the rest of the body (hashing it) and returns the CRC-32 of the
    /// whole body: used once decoding is done, or has failed and only the
    /// checksum verdict is still wanted.
    pub(crate) fn finish(mut self) -> io::Result<u32> {
        while self.left > 0 {
            let room = self
                .buf
                .len()
                .min(usize::try_from(self.left).unwrap_or(usize::MAX));
            match self.src.read(&mut self.buf[..room]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file ended before the body its header announces",
                    ))
                }
                Ok(k) => {
                    self.crc.update(&self.buf[..k]);
                    self.left -= k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.crc.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most 3 bytes per call.
    struct Dribble<'a>(&'a [u8]);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(3).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn window_slides_grows_and_hashes_everything() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        let mut s = BodySource::new(Dribble(&data), data.len() as u64);
        s.fill(10).unwrap();
        assert_eq!(&s.available()[..10], &data[..10]);
        s.consume(10);
        s.fill(500).unwrap();
        assert_eq!(&s.available()[..500], &data[10..510]);
        assert_eq!(s.pos(), 10);
        s.consume(500);
        assert!(s.fill(491).is_err(), "past the end");
        assert_eq!(s.finish().unwrap(), crc32fast::hash(&data));
    }

    #[test]
    fn short_file_is_an_io_error() {
        let data = [1u8; 10];
        let mut s = BodySource::new(&data[..], 20);
        assert!(matches!(s.fill(15), Err(SourceError::Io(_))));
    }
}
