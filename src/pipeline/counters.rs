//! Plain in-process counters of the pipeline, for the demo's live progress
//! and the bench tool (Prometheus gets the same facts through telemetry).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::engine::{Outcome, Stage};

/// Totals since start. A cheap handle.
#[derive(Clone, Default, Debug)]
pub struct Counters {
    inner: Arc<Inner>,
}

#[derive(Default, Debug)]
struct Inner {
    outcomes: [AtomicU64; 5],
    dlq: AtomicU64,
    /// Indexed by `from * 3 + to`.
    changes: [AtomicU64; 9],
    producer_errors: AtomicU64,
    skipped: AtomicU64,
}

impl Counters {
    pub fn add_outcome(&self, o: Outcome, n: u64) {
        self.inner.outcomes[o as usize].fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_dlq(&self, n: u64) {
        self.inner.dlq.fetch_add(n, Ordering::Relaxed);
    }

    pub fn add_change(&self, from: Stage, to: Stage) {
        self.inner.changes[from as usize * 3 + to as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn add_producer_error(&self) {
        self.inner.producer_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Offsets skipped between consecutive records (see `OffsetsSkipped`).
    pub fn add_skipped(&self, n: u64) {
        self.inner.skipped.fetch_add(n, Ordering::Relaxed);
    }

    pub fn skipped(&self) -> u64 {
        self.inner.skipped.load(Ordering::Relaxed)
    }

    pub fn outcome(&self, o: Outcome) -> u64 {
        self.inner.outcomes[o as usize].load(Ordering::Relaxed)
    }

    pub fn dlq(&self) -> u64 {
        self.inner.dlq.load(Ordering::Relaxed)
    }

    pub fn change(&self, from: Stage, to: Stage) -> u64 {
        self.inner.changes[from as usize * 3 + to as usize].load(Ordering::Relaxed)
    }

    pub fn changes_total(&self) -> u64 {
        self.inner
            .changes
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    pub fn producer_errors(&self) -> u64 {
        self.inner.producer_errors.load(Ordering::Relaxed)
    }

    /// Every record taken from an inbound partition (all outcomes and DLQ).
    pub fn records(&self) -> u64 {
        self.inner
            .outcomes
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
            + self.dlq()
    }
}
