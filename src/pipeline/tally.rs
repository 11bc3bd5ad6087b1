//! Outcome counts of one task, added up locally and handed to the metrics
//! and counters in batches, so the hot loop touches no shared counter per
//! record.

use super::counters::Counters;
use super::task::Input;
use crate::emit;
use crate::engine::Outcome;
use crate::telemetry::events::EventsProcessed;

/// Index of the dead-letter count, after the engine's outcomes.
const DLQ: usize = Outcome::ALL.len();

/// Counts per input and outcome since the last flush.
pub struct Tally {
    counts: Vec<[u64; DLQ + 1]>,
    pending: u64,
}

impl Tally {
    pub fn new(inputs: usize) -> Tally {
        Tally {
            counts: vec![[0; DLQ + 1]; inputs],
            pending: 0,
        }
    }

    pub fn outcome(&mut self, input: usize, o: Outcome) {
        self.counts[input][o as usize] += 1;
        self.pending += 1;
    }

    pub fn dead_letter(&mut self, input: usize) {
        self.counts[input][DLQ] += 1;
        self.pending += 1;
    }

    /// Records counted since the last flush.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Adds everything counted to `counters` and the metrics.
    pub fn flush(&mut self, inputs: &[Input], counters: &Counters) {
        if self.pending == 0 {
            return;
        }
        self.pending = 0;
        for (input, c) in inputs.iter().zip(self.counts.iter_mut()) {
            for o in Outcome::ALL {
                let n = std::mem::take(&mut c[o as usize]);
                if n > 0 {
                    counters.add_outcome(o, n);
                    emit!(EventsProcessed {
                        topic: &input.topic,
                        outcome: o.as_str(),
                        count: n
                    });
                }
            }
            let n = std::mem::take(&mut c[DLQ]);
            if n > 0 {
                counters.add_dlq(n);
                emit!(EventsProcessed {
                    topic: &input.topic,
                    outcome: "dlq",
                    count: n
                });
            }
        }
    }
}
