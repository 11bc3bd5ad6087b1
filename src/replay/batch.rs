//! A batch of input lines together with their decoded events, as one value
//! that can be handed to another thread.
//!
//! Decoding is a pure function of a line, so it can run ahead of the
//! engine (which must see the lines in order) on a second core. The events
//! borrow their strings from the lines they were decoded from, so the bytes
//! and the events travel together in one self-referential value
//! ([`self_cell`]); the bytes' buffers come back to be read into again.

use std::io::{self, BufRead};

use self_cell::self_cell;

use super::lines::{Line, LineReader, LineSpan};
use crate::codec::{decode_event, DecodeError, DecodeLimits, Format};
use crate::engine::EventKeys;
use crate::event::Event;
use crate::model::Model;

/// A batch ends after this many lines...
const BATCH_LINES: usize = 2048;
/// ...or once its lines hold this many bytes.
const BATCH_BYTES: usize = 256 << 10;

/// The bytes of a batch's lines, one after the other, and where each is.
#[derive(Default)]
pub struct Lines {
    bytes: Vec<u8>,
    spans: Vec<LineSpan>,
    /// The input failed after these lines: the number of the line that
    /// could not be read, and why.
    failed: Option<(u64, io::Error)>,
    /// The emptied item list of a spent batch, to decode the next into:
    /// a batch's items are freed on the replaying thread, and memory the
    /// other thread allocated costs more to free there than to reuse.
    items: Vec<Item<'static>>,
}

impl Lines {
    /// Where each line is in [`Lines::bytes`], in input order.
    pub fn spans(&self) -> &[LineSpan] {
        &self.spans
    }

    /// The lines' bytes, one after the other.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The batch's lines, in input order.
    pub fn iter(&self) -> impl Iterator<Item = Line<'_>> {
        self.spans.iter().map(|s| s.line(&self.bytes))
    }

    /// Bytes consumed from the input by these lines (for progress).
    pub fn consumed(&self) -> u64 {
        self.spans.iter().map(|s| s.consumed).sum()
    }

    /// Why the input stopped after these lines, if it failed.
    pub fn failure(&self) -> Option<&(u64, io::Error)> {
        self.failed.as_ref()
    }

    /// Takes the read failure out, to be returned as an error.
    pub fn take_failure(&mut self) -> Option<(u64, io::Error)> {
        self.failed.take()
    }

    /// Empties the lines, keeping the buffers for the next batch.
    fn clear(&mut self) {
        self.bytes.clear();
        self.spans.clear();
        self.failed = None;
    }
}

/// One line, decoded.
// Most items are events, kept in a reused vector: boxing the big variant
// would cost an allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Item<'a> {
    /// Nothing but white space: skipped and not counted.
    Blank,
    /// A valid event, and its keys under the replay's model.
    Event(Event<'a>, EventKeys),
    /// Not a valid event (or longer than the record limit).
    Invalid(DecodeError),
}

/// The decoded items of a batch, one per line.
pub type Items<'a> = Vec<Item<'a>>;

self_cell!(
    /// Lines read from the input and what each decoded to.
    pub struct Batch {
        owner: Lines,
        #[covariant]
        dependent: Items,
    }
);

impl Batch {
    /// Each line with what it decoded to, in input order.
    pub fn items(&self) -> impl Iterator<Item = (Line<'_>, &Item<'_>)> {
        self.borrow_owner().iter().zip(self.borrow_dependent())
    }

    /// The batch's buffers, emptied, to read another batch into.
    pub fn into_lines(mut self) -> Lines {
        let mut spent = Vec::new();
        self.with_dependent_mut(|_, items| {
            // Drops the items and keeps the allocation (collecting an empty
            // vector into one of a same-sized type reuses it in place).
            let mut items = std::mem::take(items);
            items.clear();
            spent = items
                .into_iter()
                .map(|_| -> Item<'static> { unreachable!("the list is empty") })
                .collect();
        });
        let mut lines = self.into_owner();
        lines.items = spent;
        lines
    }
}

/// Reads the input in batches of lines and decodes them, working out each
/// event's keys under the model too.
pub struct BatchReader<'m, R> {
    model: &'m Model,
    lines: LineReader<R>,
    limits: DecodeLimits,
    /// Number of the last line read.
    last: u64,
    done: bool,
}

impl<'m, R: BufRead> BatchReader<'m, R> {
    /// Batches of `input`'s lines, each kept up to the record limit and
    /// decoded with `limits`, for `model`.
    pub fn new(model: &'m Model, input: R, limits: DecodeLimits) -> BatchReader<'m, R> {
        BatchReader {
            model,
            lines: LineReader::new(input, limits.max_record_bytes),
            limits,
            last: 0,
            done: false,
        }
    }

    /// The next batch, read into `spare`'s buffers when given; `None` after
    /// the last line. A read error ends the batch that was being read,
    /// which carries it, and the input.
    pub fn next_batch(&mut self, spare: Option<Lines>) -> Option<Batch> {
        if self.done {
            return None;
        }
        let mut lines = spare.unwrap_or_default();
        lines.clear();
        while lines.spans.len() < BATCH_LINES && lines.bytes.len() < BATCH_BYTES {
            match self.lines.append_line(&mut lines.bytes) {
                Ok(Some(span)) => {
                    self.last = span.number;
                    lines.spans.push(span);
                }
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    lines.failed = Some((self.last + 1, e));
                    self.done = true;
                    break;
                }
            }
        }
        if lines.spans.is_empty() && lines.failed.is_none() {
            return None;
        }
        let (model, limits) = (self.model, self.limits);
        let spent = std::mem::take(&mut lines.items);
        Some(Batch::new(lines, move |l| {
            let mut items: Items<'_> = spent;
            items.extend(l.iter().map(|line| decode_line(model, line, &limits)));
            items
        }))
    }
}

/// What one line holds: a cut line is refused as oversized, a blank one
/// skipped, any other decoded.
fn decode_line<'a>(model: &Model, line: Line<'a>, limits: &DecodeLimits) -> Item<'a> {
    if line.is_cut() {
        return Item::Invalid(limits.oversized(line.len));
    }
    if line.bytes.iter().all(u8::is_ascii_whitespace) {
        return Item::Blank;
    }
    match decode_event(line.bytes, Format::Json, None, None, limits) {
        Ok(e) => {
            let keys = EventKeys::of(model, &e);
            Item::Event(e, keys)
        }
        Err(e) => Item::Invalid(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of `input` as (number, kind) over all batches, reading
    /// each batch into the previous one's buffers.
    fn kinds(input: &[u8], limits: DecodeLimits) -> Vec<(u64, &'static str)> {
        let model = Model::builtin();
        let mut r = BatchReader::new(&model, io::BufReader::with_capacity(7, input), limits);
        let mut out = Vec::new();
        let mut spare = None;
        while let Some(b) = r.next_batch(spare.take()) {
            for (line, item) in b.items() {
                let kind = match item {
                    Item::Blank => "blank",
                    Item::Event(..) => "event",
                    Item::Invalid(_) => "invalid",
                };
                out.push((line.number, kind));
            }
            let lines = b.into_lines();
            assert!(lines.items.capacity() > 0, "the item list is kept");
            spare = Some(lines);
        }
        out
    }

    #[test]
    fn lines_are_decoded_in_order_across_batches() {
        let good = br#"{"event_id":"e","lead_id":"l","occurred_at":1780000000000,"type":"form","form":"newsletter"}"#;
        let mut input = Vec::new();
        for i in 0..5000u64 {
            match i % 4 {
                0 => input.extend_from_slice(good),
                1 => input.extend_from_slice(b"  "),
                2 => input.extend_from_slice(b"{not json"),
                _ => input.extend(std::iter::repeat_n(b'x', 300)),
            }
            input.push(b'\n');
        }
        let limits = DecodeLimits {
            max_record_bytes: 200,
            ..DecodeLimits::default()
        };
        let got = kinds(&input, limits);
        assert_eq!(got.len(), 5000);
        for (i, (n, kind)) in got.into_iter().enumerate() {
            assert_eq!(n, i as u64 + 1);
            let want = ["event", "blank", "invalid", "invalid"][i % 4];
            assert_eq!(kind, want, "line {n}");
        }
    }

    #[test]
    fn a_read_error_ends_the_batch_and_names_the_next_line() {
        /// Two lines, then an error.
        struct Failing(usize);
        impl io::Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let data = b"a\nb\n";
                if self.0 < data.len() {
                    let n = (data.len() - self.0).min(buf.len());
                    buf[..n].copy_from_slice(&data[self.0..self.0 + n]);
                    self.0 += n;
                    Ok(n)
                } else {
                    Err(io::Error::other("disk on fire"))
                }
            }
        }
        let model = Model::builtin();
        let mut r = BatchReader::new(
            &model,
            io::BufReader::new(Failing(0)),
            DecodeLimits::default(),
        );
        let b = r.next_batch(None).expect("a batch");
        assert_eq!(b.items().count(), 2);
        let (line, e) = b.borrow_owner().failure().expect("the failure");
        assert_eq!((*line, e.to_string().as_str()), (3, "disk on fire"));
        assert!(r.next_batch(None).is_none());
    }
}
