//! Input lines read with the record size limit applied while reading, so a
//! line of a gigabyte costs no more memory than one of the limit.

use std::io::{self, BufRead};

/// One input line as read: its number, its length, and its bytes (without
/// the newline), all of them or, when the line is longer than the limit,
/// only the first `limit`. Exists so an oversized line can be refused, and
/// shown in part, without ever being held whole.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// 1-based line number in the input.
    pub number: u64,
    /// Length of the whole line in bytes, newline excluded.
    pub len: u64,
    /// The line, or its first `limit` bytes when it is longer.
    pub bytes: &'a [u8],
    /// Bytes consumed from the input, newline included (for progress).
    pub consumed: u64,
}

impl Line<'_> {
    /// Whether the line was longer than the limit, so `bytes` is only its start.
    pub fn is_cut(&self) -> bool {
        self.len > self.bytes.len() as u64
    }
}

/// Reads lines from `input`, keeping at most `limit` bytes of each: the
/// rest of a longer line is read in the reader's own buffer-sized chunks
/// and counted, not stored.
pub struct LineReader<R> {
    input: R,
    limit: usize,
    buf: Vec<u8>,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    /// Lines of `input`, each kept up to `limit` bytes.
    pub fn new(input: R, limit: usize) -> LineReader<R> {
        LineReader {
            input,
            limit,
            buf: Vec::with_capacity(limit.min(1 << 16)),
            number: 0,
        }
    }

    /// The next line, or `None` at the end of the input. A last line without
    /// a newline is a line.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let span = self.append_line(&mut buf);
        self.buf = buf;
        Ok(span?.map(|s| Line {
            number: s.number,
            len: s.len,
            bytes: &self.buf,
            consumed: s.consumed,
        }))
    }

    /// Reads the next line onto the end of `buf` (at most `limit` bytes of
    /// it, as [`LineReader::next_line`]) and says where it is, or `None` at
    /// the end of the input: how a batch of lines is read into one buffer
    /// without a copy per line.
    pub fn append_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<LineSpan>> {
        let start = buf.len();
        let (mut len, mut consumed) = (0u64, 0u64);
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                if consumed == 0 {
                    return Ok(None);
                }
                break;
            }
            let newline = memchr::memchr(b'\n', chunk);
            let part = &chunk[..newline.unwrap_or(chunk.len())];
            let room = self.limit.saturating_sub(buf.len() - start);
            buf.extend_from_slice(&part[..part.len().min(room)]);
            len += part.len() as u64;
            let used = part.len() + usize::from(newline.is_some());
            consumed += used as u64;
            self.input.consume(used);
            if newline.is_some() {
                break;
            }
        }
        self.number += 1;
        Ok(Some(LineSpan {
            number: self.number,
            len,
            consumed,
            start,
            end: buf.len(),
        }))
    }
}

/// Where [`LineReader::append_line`] put a line in the caller's buffer, and
/// what [`Line`] says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSpan {
    /// 1-based line number in the input.
    pub number: u64,
    /// Length of the whole line in bytes, newline excluded.
    pub len: u64,
    /// Bytes consumed from the input, newline included.
    pub consumed: u64,
    /// The kept bytes are `buf[start..end]`.
    pub start: usize,
    pub end: usize,
}

impl LineSpan {
    /// The line as a [`Line`], its kept bytes in `buf`.
    pub fn line<'a>(&self, buf: &'a [u8]) -> Line<'a> {
        Line {
            number: self.number,
            len: self.len,
            bytes: &buf[self.start..self.end],
            consumed: self.consumed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], limit: usize, chunk: usize) -> Vec<(u64, u64, Vec<u8>, bool)> {
        let reader = io::BufReader::with_capacity(chunk, input);
        let mut r = LineReader::new(reader, limit);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push((l.number, l.len, l.bytes.to_vec(), l.is_cut()));
        }
        out
    }

    #[test]
    fn keeps_short_lines_whole_and_cuts_long_ones_at_the_limit() {
        let input = b"abc\n\n0123456789\nxyz";
        for chunk in [1, 3, 64] {
            assert_eq!(
                lines(input, 5, chunk),
                vec![
                    (1, 3, b"abc".to_vec(), false),
                    (2, 0, Vec::new(), false),
                    (3, 10, b"01234".to_vec(), true),
                    (4, 3, b"xyz".to_vec(), false),
                ],
                "chunk {chunk}"
            );
        }
        assert!(lines(b"", 5, 8).is_empty());
        assert_eq!(
            lines(b"12345\n", 5, 2),
            vec![(1, 5, b"12345".to_vec(), false)]
        );
    }

    #[test]
    fn a_line_far_over_the_limit_is_never_held_whole() {
        // 8 MiB with no newline, read through a 4 KiB buffer.
        let big = vec![b'x'; 8 << 20];
        let reader = io::BufReader::with_capacity(4096, &big[..]);
        let mut r = LineReader::new(reader, 100);
        let l = r.next_line().unwrap().unwrap();
        assert_eq!((l.len, l.bytes.len(), l.consumed), (8 << 20, 100, 8 << 20));
        assert!(r.buf.capacity() < 4096, "{}", r.buf.capacity());
        assert!(r.next_line().unwrap().is_none());
    }
}
