//! The records a task has handed to the producer and not yet seen
//! acknowledged, and the input offsets that are safe to commit because of it.
//!
//! Every output (stage change, dead letter) gets the next sequence number.
//! Acknowledgements arrive in any order. The *frontier* is the number of
//! outputs, from the first, that are all acknowledged. An input record is
//! *covered* once the frontier has passed every output issued before its
//! processing finished: only then may its offset be committed, and only
//! then may a snapshot that includes it become current. A failed output is
//! never acknowledged here, so the frontier, and every offset after it,
//! waits for its retry to succeed.

use std::collections::VecDeque;

/// One processing position waiting for the frontier: input `input` is
/// processed up to `offset` once every output below `needs` is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    needs: u64,
    input: usize,
    offset: i64,
}

/// The in-flight window of one task. `M` is what the task wants back when
/// an output is acknowledged (its metric labels and timestamps).
#[derive(Debug)]
pub struct InFlight<M> {
    /// Sequence number of `slots[0]`; everything below is acknowledged.
    base: u64,
    /// `Some`: waiting for its acknowledgement; `None`: acknowledged, but an
    /// earlier one is not yet.
    slots: VecDeque<Option<M>>,
    /// Waiting positions, in processing order (so `needs` never decreases).
    marks: VecDeque<Mark>,
    /// Per input, the newest covered offset not yet taken by `drain_covered`.
    covered: Vec<Option<i64>>,
    capacity: usize,
}

impl<M> InFlight<M> {
    /// A window for a task with `inputs` inbound partitions that should stop
    /// taking records while `capacity` outputs are unacknowledged.
    pub fn new(inputs: usize, capacity: usize) -> InFlight<M> {
        InFlight {
            base: 0,
            slots: VecDeque::new(),
            marks: VecDeque::new(),
            covered: vec![None; inputs],
            capacity: capacity.max(1),
        }
    }

    /// Registers one output handed to the producer; returns its sequence number.
    pub fn issue(&mut self, meta: M) -> u64 {
        self.slots.push_back(Some(meta));
        self.base + self.slots.len() as u64 - 1
    }

    /// Input `input` finished processing the record at `offset` (and issued
    /// all of its outputs).
    pub fn processed(&mut self, input: usize, offset: i64) {
        if self.slots.is_empty() {
            // Nothing outstanding: covered at once (the common case).
            self.covered[input] = Some(offset);
            return;
        }
        let needs = self.next_seq();
        // Marks with the same `needs` are a suffix; at most one per input.
        for m in self.marks.iter_mut().rev() {
            if m.needs != needs {
                break;
            }
            if m.input == input {
                m.offset = offset;
                return;
            }
        }
        self.marks.push_back(Mark {
            needs,
            input,
            offset,
        });
    }

    /// Records the acknowledgement of output `seq` and returns its `M`, or
    /// `None` if it was acknowledged before (a duplicate report).
    pub fn acknowledge(&mut self, seq: u64) -> Option<M> {
        let idx = seq.checked_sub(self.base)? as usize;
        let meta = self.slots.get_mut(idx)?.take()?;
        while let Some(None) = self.slots.front() {
            self.slots.pop_front();
            self.base += 1;
        }
        while let Some(m) = self.marks.front() {
            if m.needs > self.base {
                break;
            }
            self.covered[m.input] = Some(m.offset);
            self.marks.pop_front();
        }
        Some(meta)
    }

    /// Hands over each input's newest covered offset since the last call.
    pub fn drain_covered(&mut self, mut f: impl FnMut(usize, i64)) {
        for (input, c) in self.covered.iter_mut().enumerate() {
            if let Some(offset) = c.take() {
                f(input, offset);
            }
        }
    }

    /// The sequence number the next output will get.
    pub fn next_seq(&self) -> u64 {
        self.base + self.slots.len() as u64
    }

    /// Whether every output below `seq` is acknowledged.
    pub fn acknowledged_below(&self, seq: u64) -> bool {
        self.base >= seq
    }

    /// Outputs issued and not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Whether every output ever issued is acknowledged.
    pub fn is_settled(&self) -> bool {
        self.slots.is_empty()
    }

    /// Whether the task should wait for acknowledgements before taking more
    /// records (back-pressure).
    pub fn is_full(&self) -> bool {
        self.slots.len() >= self.capacity
    }

    /// The metadata of the oldest unacknowledged output (what holds the frontier).
    pub fn oldest_unacknowledged(&self) -> Option<&M> {
        self.slots.front().and_then(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn covered(w: &mut InFlight<&'static str>) -> Vec<(usize, i64)> {
        let mut v = Vec::new();
        w.drain_covered(|i, o| v.push((i, o)));
        v
    }

    #[test]
    fn records_without_outputs_are_covered_at_once() {
        let mut w: InFlight<&str> = InFlight::new(2, 10);
        w.processed(0, 5);
        w.processed(1, 9);
        w.processed(0, 6);
        assert_eq!(covered(&mut w), vec![(0, 6), (1, 9)]);
        assert_eq!(covered(&mut w), vec![], "each offset is handed over once");
    }

    #[test]
    fn acks_out_of_order_move_the_frontier_only_over_a_contiguous_prefix() {
        let mut w: InFlight<&str> = InFlight::new(1, 10);
        let a = w.issue("a");
        w.processed(0, 10);
        let b = w.issue("b");
        w.processed(0, 11);
        let c = w.issue("c");
        w.processed(0, 12);
        w.processed(0, 13); // no output of its own, but after c
        assert_eq!(w.acknowledge(c), Some("c"));
        assert_eq!(
            covered(&mut w),
            vec![],
            "c alone covers nothing: a and b are out"
        );
        assert_eq!(w.acknowledge(a), Some("a"));
        assert_eq!(covered(&mut w), vec![(0, 10)]);
        assert_eq!(w.acknowledge(b), Some("b"));
        assert_eq!(covered(&mut w), vec![(0, 13)]);
        assert!(w.is_settled());
        assert_eq!(w.acknowledge(b), None, "a duplicate ack is ignored");
    }

    #[test]
    fn an_unacknowledged_output_holds_every_later_offset_of_every_input() {
        let mut w: InFlight<&str> = InFlight::new(2, 10);
        w.processed(0, 1);
        let failed = w.issue("failed");
        w.processed(0, 2);
        for off in 3..100 {
            let s = w.issue("ok");
            w.processed((off % 2) as usize, off);
            w.acknowledge(s);
        }
        assert_eq!(covered(&mut w), vec![(0, 1)], "only what came before it");
        assert_eq!(w.oldest_unacknowledged(), Some(&"failed"));
        // The retry succeeds: everything after it is covered too.
        w.acknowledge(failed);
        assert_eq!(covered(&mut w), vec![(0, 98), (1, 99)]);
    }

    #[test]
    fn positions_are_compared_with_sequence_numbers() {
        let mut w: InFlight<u8> = InFlight::new(1, 10);
        let s0 = w.issue(0);
        let position = w.next_seq();
        let s1 = w.issue(1);
        assert!(!w.acknowledged_below(position));
        w.acknowledge(s1);
        assert!(!w.acknowledged_below(position));
        w.acknowledge(s0);
        assert!(w.acknowledged_below(position));
    }

    #[test]
    fn the_window_is_full_at_capacity_until_acks_arrive() {
        let mut w: InFlight<u8> = InFlight::new(1, 3);
        let seqs: Vec<u64> = (0..3).map(|i| w.issue(i)).collect();
        assert!(w.is_full());
        assert_eq!(w.unacknowledged(), 3);
        w.acknowledge(seqs[1]);
        assert!(
            w.is_full(),
            "a hole does not free the window: the frontier did not move"
        );
        w.acknowledge(seqs[0]);
        assert!(!w.is_full());
        assert_eq!(w.unacknowledged(), 1);
    }

    #[test]
    fn marks_stay_bounded_by_outputs_not_records() {
        let mut w: InFlight<u8> = InFlight::new(3, 10);
        let _held = w.issue(0);
        for off in 0..10_000 {
            w.processed((off % 3) as usize, off);
        }
        assert_eq!(w.marks.len(), 3, "one mark per input between two outputs");
    }
}
