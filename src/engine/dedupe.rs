//! The event-id dedupe window of one task: producer retries re-send an
//! event with the same `event_id`, and scoring it twice would inflate the lead.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use xxhash_rust::xxh3::xxh3_64;

/// Event ids (as 64-bit xxh3 hashes) seen within the window, with their
/// event times. Entries older than `watermark - window` are dropped by
/// [`SeenEvents::prune`]; the engine drops events that late anyway.
#[derive(Debug, Default, Clone)]
pub struct SeenEvents {
    ids: HashMap<u64, i64>,
    by_time: BinaryHeap<Reverse<(i64, u64)>>,
}

impl SeenEvents {
    /// The stable hash of an event id (stored in snapshots).
    pub fn hash_id(event_id: &str) -> u64 {
        xxh3_64(event_id.as_bytes())
    }

    /// Records an id; returns false when it was already present (a duplicate).
    pub fn insert(&mut self, id_hash: u64, occurred_at_ms: i64) -> bool {
        use std::collections::hash_map::Entry;
        match self.ids.entry(id_hash) {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(occurred_at_ms);
                self.by_time.push(Reverse((occurred_at_ms, id_hash)));
                true
            }
        }
    }

    /// Forgets ids whose event time is before `cutoff_ms`.
    pub fn prune(&mut self, cutoff_ms: i64) {
        while let Some(Reverse((t, id))) = self.by_time.peek().copied() {
            if t >= cutoff_ms {
                break;
            }
            self.by_time.pop();
            self.ids.remove(&id);
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Every entry as `(id_hash, occurred_at_ms)`, sorted, for snapshots.
    pub fn entries(&self) -> Vec<(u64, i64)> {
        let mut v: Vec<(u64, i64)> = self.ids.iter().map(|(k, t)| (*k, *t)).collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_insert_is_a_duplicate_until_pruned() {
        let mut s = SeenEvents::default();
        let id = SeenEvents::hash_id("e-1");
        assert!(s.insert(id, 1_000));
        assert!(!s.insert(id, 1_000));
        s.prune(1_000);
        assert!(!s.insert(id, 1_000), "entry at the cutoff is kept");
        s.prune(1_001);
        assert!(s.is_empty());
        assert!(s.insert(id, 1_000));
    }
}
