//! What changed in a task's state since the last look: the leads that were
//! created, changed or evicted, and the event ids the dedupe window took
//! in. Kept only when asked for (`TaskState::keep_journal`), by a task
//! that writes its state to a changelog topic; pure bookkeeping, so the
//! engine stays deterministic.
//!
//! Every applied event touches its lead, so noting a lead costs one probe
//! of a table keyed by the lead hash the event already carries: no
//! re-hashing of the id and no allocation unless the lead is new to the
//! journal.

use hashbrown::HashTable;

use super::lead_key::{LeadId, LeadKey};

/// Changes since the journal was last taken.
#[derive(Debug, Default)]
pub struct Journal {
    /// Leads created, changed or evicted (look them up: absent = evicted),
    /// each with its [`LeadId::hash64`].
    touched: HashTable<(u64, LeadKey)>,
    /// The dedupe window's marks when the journal was last taken and when
    /// it was taken now: the event ids it took in between are read from
    /// the window's own queue (`SeenEvents::since_slices`), so an event
    /// costs the journal nothing.
    pub(crate) seen_from: u64,
    pub(crate) seen_to: u64,
}

impl Journal {
    /// An empty journal whose dedupe entries start at the window's `mark`.
    pub(crate) fn starting_at(mark: u64) -> Journal {
        Journal {
            seen_from: mark,
            seen_to: mark,
            ..Journal::default()
        }
    }

    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.touched.is_empty() && self.seen_from == self.seen_to
    }

    /// The dedupe window's positions this journal's event ids span
    /// (`from..to`; entries pruned since are expired and not needed).
    pub fn seen_span(&self) -> (u64, u64) {
        (self.seen_from, self.seen_to)
    }

    /// Notes that lead `id` (whose `hash64()` is `hash`) changed.
    #[inline]
    pub(crate) fn touch(&mut self, id: &LeadId<'_>, hash: u64) {
        debug_assert_eq!(hash, id.hash64());
        self.note(id, hash);
    }

    /// [`Journal::touch`] for any hash (tests force collisions with it).
    #[inline(always)]
    fn note(&mut self, id: &LeadId<'_>, hash: u64) {
        if self
            .touched
            .find(hash, |(h, k)| *h == hash && k.as_id() == *id)
            .is_none()
        {
            self.touched
                .insert_unique(hash, (hash, id.to_key()), |(h, _)| *h);
        }
    }

    /// [`Journal::touch`] for a lead known by its owned key (an evicted one).
    pub(crate) fn touch_key(&mut self, key: &LeadKey) {
        let id = key.as_id();
        self.note(&id, id.hash64());
    }

    /// Takes back the table of a journal taken before (`used`), emptied,
    /// if this one has not grown past it yet: a task that flushes every few
    /// seconds then fills the same memory again instead of growing a new
    /// table from nothing each time (whose fresh pages the kernel zeroes:
    /// 13% of a flush's cost in `perf`).
    pub(crate) fn reuse(&mut self, used: Journal) {
        let mut touched = used.touched;
        if self.touched.is_empty() && touched.capacity() > self.touched.capacity() {
            touched.clear();
            self.touched = touched;
        }
    }

    /// How many leads changed.
    pub fn touched_len(&self) -> usize {
        self.touched.len()
    }

    /// The leads that changed, in no particular order, each with its
    /// `hash64()` (to look it up with).
    pub fn touched(&self) -> impl Iterator<Item = (u64, &LeadKey)> {
        self.touched.iter().map(|(h, k)| (*h, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lead_touched_twice_is_listed_once() {
        let mut j = Journal::default();
        let a = LeadId::parse("lead-a");
        let b = LeadId::parse("0f8fad5b-d9cb-469f-a165-70867728950e");
        j.touch(&a, a.hash64());
        j.touch(&b, b.hash64());
        j.touch(&a, a.hash64());
        assert_eq!(j.touched_len(), 2);
        let mut ids: Vec<String> = j.touched().map(|(_, k)| k.to_string()).collect();
        ids.sort();
        assert_eq!(ids, ["0f8fad5b-d9cb-469f-a165-70867728950e", "lead-a"]);
        assert!(!j.is_empty());
    }

    #[test]
    fn leads_with_the_same_hash_are_kept_apart() {
        // Forced collision: the table must compare ids, not only hashes.
        let mut j = Journal::default();
        let a = LeadId::parse("lead-a");
        let b = LeadId::parse("lead-b");
        j.note(&a, 7);
        j.note(&b, 7);
        j.note(&a, 7);
        assert_eq!(j.touched_len(), 2);
    }

    #[test]
    fn a_journal_given_back_lends_its_table_and_nothing_it_held() {
        let mut active = Journal::default();
        let mut used = Journal::default();
        for i in 0..1_000 {
            let id = format!("lead-{i}");
            let id = LeadId::parse(&id);
            used.touch(&id, id.hash64());
        }
        let capacity = used.touched.capacity();
        active.reuse(used);
        assert!(active.is_empty(), "nothing of what it held");
        assert!(active.touched.capacity() >= capacity);
        // A journal that already took changes in keeps its own.
        let a = LeadId::parse("lead-a");
        active.touch(&a, a.hash64());
        let mut other = Journal::default();
        let b = LeadId::parse("lead-b");
        other.touch(&b, b.hash64());
        active.reuse(other);
        assert_eq!(active.touched_len(), 1);
        assert_eq!(
            active
                .touched()
                .next()
                .map(|(_, k)| k.to_string())
                .as_deref(),
            Some("lead-a")
        );
    }
}
