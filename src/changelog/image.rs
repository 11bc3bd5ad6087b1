//! Rebuilding a task's state from the records of its changelog partition,
//! on top of a snapshot or of nothing.
//!
//! Records are taken in offset order; a lead's newest record wins, as
//! compaction would leave it. The state resumes at the newest of the base
//! (snapshot) position and the last checkpoint; a lead whose record covers
//! more than that (written by a flush whose checkpoint never made it) is
//! returned in [`Rebuilt::skips`], so the task does not apply its events
//! twice.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::error::ChangelogError;
use super::record::{decode, Checkpoint, Record};
use crate::engine::{LeadKey, LeadState, SeenEvents, TaskState};

/// Records of one partition, accumulated.
#[derive(Debug, Default)]
pub struct ChangelogImage {
    /// Newest record per lead; `None`: evicted.
    leads: HashMap<LeadKey, Option<(LeadState, Vec<i64>)>>,
    /// Live dedupe batches by sequence number.
    seen: BTreeMap<u64, Vec<(u64, i64)>>,
    checkpoint: Option<(i64, Checkpoint)>,
    records: u64,
}

/// A rebuilt state and what the task needs to go on writing the changelog.
#[derive(Debug)]
pub struct Rebuilt {
    pub state: TaskState,
    /// Next offset per inbound topic (the `topics` order given to `rebuild`).
    pub positions: Vec<i64>,
    /// Leads whose state covers more than `positions`: per lead, the next
    /// offset per topic its state already includes.
    pub skips: HashMap<LeadKey, Vec<i64>>,
    /// Dedupe batches that may hold live ids: `(seq, newest event time)`.
    pub seen_live: VecDeque<(u64, i64)>,
    /// Sequence number for the next dedupe batch.
    pub seen_next: u64,
    /// Lead records (and evictions) applied on top of the base.
    pub leads_applied: usize,
    /// Offset of the newest checkpoint read, if any.
    pub checkpoint_offset: Option<i64>,
}

/// The next offset recorded for a topic nothing was read of (the
/// pipeline's `FROM_BEGINNING`).
const NOTHING_READ: i64 = -2;

/// An offset as a position (nothing read = 0).
fn norm(o: i64) -> i64 {
    o.max(0)
}

impl ChangelogImage {
    /// Takes the record at `offset`.
    pub fn apply(
        &mut self,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<(), ChangelogError> {
        self.records += 1;
        match decode(offset, key, value)? {
            Record::Lead { key, lead, covers } => {
                self.leads.insert(key, Some((lead, covers)));
            }
            Record::Evicted(k) => {
                self.leads.insert(k, None);
            }
            Record::Seen { seq, entries } => {
                self.seen.insert(seq, entries);
            }
            Record::SeenExpired(seq) => {
                self.seen.remove(&seq);
            }
            Record::Checkpoint(c) => self.checkpoint = Some((offset, c)),
        }
        Ok(())
    }

    /// The ids of every lead with a record (to write them as evicted).
    pub fn lead_keys(&self) -> Vec<LeadKey> {
        self.leads.keys().cloned().collect()
    }

    /// Records taken so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The newest checkpoint taken, if any.
    pub fn checkpoint(&self) -> Option<&Checkpoint> {
        self.checkpoint.as_ref().map(|c| &c.1)
    }

    /// Whether the newest checkpoint read contradicts a base standing at
    /// `base_positions` (next offset per topic of `topics`): it is neither
    /// behind nor ahead of the base on every topic. A checkpoint written
    /// after a snapshot by the same owner never is (its positions only move
    /// forward); one that is was written by another owner that resumed from
    /// an older checkpoint and took the topics in another order (live data),
    /// so the base and the changelog hold two histories that cannot be
    /// joined lead by lead without losing events.
    pub fn contradicts(&self, base_positions: &[i64], topics: &[String]) -> bool {
        let Some(checkpoint) = self.checkpoint_positions(topics) else {
            return false;
        };
        let (mut ahead, mut behind) = (false, false);
        for (o, b) in checkpoint.iter().zip(base_positions) {
            ahead |= norm(*o) > norm(*b);
            behind |= norm(*o) < norm(*b);
        }
        ahead && behind
    }

    /// The newest checkpoint's next offset per topic of `topics`.
    fn checkpoint_positions(&self, topics: &[String]) -> Option<Vec<i64>> {
        self.checkpoint.as_ref().map(|(_, c)| {
            topics
                .iter()
                .map(|t| {
                    c.positions
                        .iter()
                        .find(|(n, _)| n == t)
                        .map_or(NOTHING_READ, |(_, o)| *o)
                })
                .collect()
        })
    }

    /// Rebuilds the state on top of `base`, which stands at `base_positions`
    /// (next offset per topic of `topics`; all negative for an empty base).
    pub fn rebuild(
        self,
        mut base: TaskState,
        base_positions: &[i64],
        topics: &[String],
    ) -> Rebuilt {
        let from_checkpoint = self.checkpoint_positions(topics);
        let sum = |v: &[i64]| v.iter().map(|o| norm(*o)).sum::<i64>();
        let checkpoint_newer = from_checkpoint
            .as_ref()
            .is_some_and(|c| sum(c) > sum(base_positions));
        let positions: Vec<i64> = match (&from_checkpoint, checkpoint_newer) {
            (Some(c), true) => c.clone(),
            _ => base_positions.to_vec(),
        };

        // The clock and the dedupe window.
        let (watermark, last_sweep, cutoff) = match (&self.checkpoint, checkpoint_newer) {
            (Some((_, c)), true) => (c.watermark_ms, c.last_sweep_ms, c.seen_cutoff_ms),
            _ => (
                base.watermark_ms(),
                base.last_sweep_ms(),
                base.seen().cutoff_ms(),
            ),
        };
        let mut entries = base.seen().entries();
        for batch in self.seen.values() {
            entries.extend_from_slice(batch);
        }
        let seen = SeenEvents::from_entries(latest_once(entries, cutoff), cutoff);
        base.set_clock(watermark, last_sweep, seen);

        let covered_by_base = |covers: &[i64]| {
            covers
                .iter()
                .zip(base_positions)
                .all(|(c, b)| norm(*c) <= norm(*b))
        };
        let mut skips = HashMap::new();
        let mut leads_applied = 0;
        for (key, v) in self.leads {
            match v {
                Some((lead, covers)) => {
                    if covered_by_base(&covers) {
                        continue;
                    }
                    if covers
                        .iter()
                        .zip(&positions)
                        .any(|(c, p)| norm(*c) > norm(*p))
                    {
                        skips.insert(key, covers);
                    }
                    base.put_lead(lead);
                    leads_applied += 1;
                }
                None => {
                    if base.remove_lead(&key) {
                        leads_applied += 1;
                    }
                }
            }
        }

        // Dedupe batches: the ones read, and those the checkpoint says are
        // live but come before where reading began (their ids are in the
        // base; none is newer than its watermark).
        let (first_live, next) = self
            .checkpoint
            .as_ref()
            .map_or((0, 0), |(_, c)| (c.seen_first_live, c.seen_next));
        let mut seen_live: VecDeque<(u64, i64)> = VecDeque::new();
        let first_read = self.seen.keys().next().copied().unwrap_or(next);
        for seq in first_live..first_read.min(next) {
            seen_live.push_back((seq, base.watermark_ms()));
        }
        let mut seen_next = next;
        for (seq, batch) in &self.seen {
            let newest = batch.iter().map(|e| e.1).max().unwrap_or(i64::MIN);
            seen_live.push_back((*seq, newest));
            seen_next = seen_next.max(seq + 1);
        }
        Rebuilt {
            state: base,
            positions,
            skips,
            seen_live,
            seen_next,
            leads_applied,
            checkpoint_offset: self.checkpoint.map(|c| c.0),
        }
    }
}

/// Each id once (its newest entry), in arrival order, without expired ones.
fn latest_once(entries: Vec<(u64, i64)>, cutoff: i64) -> Vec<(u64, i64)> {
    let mut taken = HashSet::with_capacity(entries.len());
    let mut out: Vec<(u64, i64)> = entries
        .into_iter()
        .rev()
        .filter(|(id, t)| *t >= cutoff && taken.insert(*id))
        .collect();
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changelog::record::{checkpoint_key, encode_checkpoint};

    fn topics() -> Vec<String> {
        vec!["a".to_string(), "b".to_string()]
    }

    /// An image holding one checkpoint at positions `a`, `b`.
    fn with_checkpoint(a: i64, b: i64) -> ChangelogImage {
        let c = Checkpoint {
            positions: vec![("a".to_string(), a), ("b".to_string(), b)],
            watermark_ms: 0,
            last_sweep_ms: 0,
            seen_cutoff_ms: 0,
            seen_first_live: 0,
            seen_next: 0,
            model_version: "m".to_string(),
            written_at_ms: 0,
        };
        let mut image = ChangelogImage::default();
        image
            .apply(7, Some(&checkpoint_key()), Some(&encode_checkpoint(&c)))
            .expect("a checkpoint record decodes");
        image
    }

    #[test]
    fn a_checkpoint_ahead_of_or_behind_the_base_on_every_topic_does_not_contradict_it() {
        let base = [100, 50];
        for (a, b) in [
            (100, 50),
            (120, 50),
            (120, 70),
            (90, 50),
            (90, 40),
            (-2, -2),
        ] {
            assert!(
                !with_checkpoint(a, b).contradicts(&base, &topics()),
                "checkpoint ({a}, {b}) against base {base:?}"
            );
        }
        assert!(!ChangelogImage::default().contradicts(&base, &topics()));
    }

    #[test]
    fn a_checkpoint_ahead_on_one_topic_and_behind_on_another_contradicts_the_base() {
        let base = [100, 50];
        for (a, b) in [(120, 40), (90, 70), (-2, 60)] {
            assert!(
                with_checkpoint(a, b).contradicts(&base, &topics()),
                "checkpoint ({a}, {b}) against base {base:?}"
            );
        }
        // A topic the checkpoint does not name counts as nothing read.
        assert!(with_checkpoint(120, -2).contradicts(&base, &topics()));
    }
}
