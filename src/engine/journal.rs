//! What changed in a task's state since the last look: the leads that were
//! created, changed or evicted, and the event ids the dedupe window took
//! in. Kept only when asked for (`TaskState::keep_journal`), by a task
//! that writes its state to a changelog topic; pure bookkeeping, so the
//! engine stays deterministic.

use std::collections::HashSet;

use super::lead_key::LeadKey;

/// Changes since the journal was last taken.
#[derive(Debug, Default)]
pub struct Journal {
    /// Leads created, changed or evicted (look them up: absent = evicted).
    pub touched: HashSet<LeadKey>,
    /// Event-id hashes and event times the dedupe window took in, in order.
    pub seen: Vec<(u64, i64)>,
}

impl Journal {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.touched.is_empty() && self.seen.is_empty()
    }
}
