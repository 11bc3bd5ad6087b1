//! A task's side of the changelog: every flush interval it writes the leads
//! it changed (each once, as of one processing position P), the event ids
//! its dedupe window took in, and a checkpoint for P, in that order and
//! each step only once the one before is acknowledged:
//!
//! 1. capture at P: the engine's journal says which leads changed; their
//!    state is copied now (records are built, not sent);
//! 2. once every output derived up to P is acknowledged, the records go
//!    out (so no record covers an event whose stage change could be lost);
//! 3. once they are acknowledged, the checkpoint for P goes out;
//! 4. its acknowledged offset is where a snapshot taken from then on says
//!    the changelog is to be read from.
//!
//! One flush is in flight at a time, so a lead's records reach the log in
//! the order they were taken. After a restore, leads whose record covers
//! more than the restored position are skipped for the events they already
//! include (`skip`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::OwnedHeaders;

use super::changelog_reader::ReaderPool;
use super::delivery::OwnedRecord;
use super::outbox::{Outbox, OutputKind, OutputMeta};
use super::ownership::{Pending, Verdict};
use super::publisher::Publisher;
use super::task::Positions;
use crate::changelog::{
    checkpoint_key, encode_checkpoint, encode_lead_block, encode_seen_runs, lead_key, seen_batches,
    seen_key, Checkpoint, SEEN_BATCH,
};
use crate::emit;
use crate::engine::{LeadKey, TaskState};
use crate::telemetry::events::{ChangelogCheckpointAge, ChangelogFenced, ChangelogWritten};

/// What every task needs to write and read its changelog partition.
#[derive(Clone)]
pub struct ChangelogEnv {
    pub topic: String,
    pub flush_interval: Duration,
    /// The interval while the task has not been at the end of all its
    /// inputs since the last flush (a backlog).
    pub catch_up_flush_interval: Duration,
    /// The consumers that read it back (restores).
    pub readers: Arc<ReaderPool>,
    /// Longest a restore may spend reading one partition.
    pub read_timeout: Duration,
}

/// Where a task stands in its changelog partition: what a stopped task
/// hands on to the next run on this instance, and what a restore yields.
#[derive(Debug, Default, Clone)]
pub struct ChangelogCursor {
    /// The offset a snapshot taken now tells a restore to read from: the
    /// newest acknowledged (or restored) checkpoint.
    pub read_from: i64,
    /// Dedupe batches that may still hold live ids: `(seq, newest time)`.
    pub seen_live: VecDeque<(u64, i64)>,
    pub seen_next: u64,
    /// Leads whose restored state covers more than the restored position,
    /// with the next offset per input (task input order) it includes.
    pub skips: HashMap<LeadKey, Vec<i64>>,
    /// Leads of an image that was dropped (another model): written as
    /// evicted at the first flush.
    pub forget: Vec<LeadKey>,
}

enum Phase {
    Idle,
    /// The group says the task is owned elsewhere now (or the last flush of
    /// a stopping task could not be confirmed): nothing more is written.
    Fenced,
    /// Taken at a position `at` (next offset per input, task order); waits
    /// for the outputs issued before `needs`, then for the group to confirm
    /// the task is still this instance's.
    Held {
        records: Vec<(OwnedRecord, &'static str)>,
        checkpoint: OwnedRecord,
        needs: u64,
        at: Vec<i64>,
    },
    /// Records sent; the checkpoint goes once they are acknowledged and
    /// the group confirms the task again.
    Sent {
        checkpoint: OwnedRecord,
        needs: u64,
        counts: [u64; 3],
        at: Vec<i64>,
    },
    /// The checkpoint is output `seq`.
    Confirming {
        seq: u64,
        counts: [u64; 3],
    },
}

/// The changelog writer of one task.
pub struct ChangelogWriter {
    env: ChangelogEnv,
    partition: i32,
    /// Inbound topic names, sorted (the order positions are written in)...
    topics: Vec<String>,
    /// ...and the task input index of each.
    order: Vec<usize>,
    model_version: Arc<str>,
    cursor: ChangelogCursor,
    /// Input positions the skips reach (task input order).
    skip_until: Vec<i64>,
    phase: Phase,
    last_flush: Instant,
    last_checkpoint: Instant,
    /// Position of the last checkpoint taken (nothing new: no flush).
    flushed_at: Vec<i64>,
    /// A flush is to be taken as soon as the one in flight is done.
    flush_requested: bool,
    /// The task has been at the end of all its inputs since the last
    /// flush (it is live, not catching up).
    caught_up: bool,
    /// How far into its interval the first flush comes, as a fraction of
    /// it brought forward (0 after the first flush): see [`stagger`].
    head: f64,
    /// The ownership question in flight, and when to ask again after an
    /// answer that said neither yes nor no.
    query: Option<Pending>,
    ask_after: Option<Instant>,
    /// The task is stopping: an unconfirmed last flush is given up.
    stopping: bool,
    /// The emptied vector of the last flush's records, filled again by the
    /// next (a fresh one per flush is fresh memory the kernel zeroes).
    spare: Vec<(OwnedRecord, &'static str)>,
}

/// Whether a step of the flush may write.
enum Gate {
    Go,
    Wait,
    /// Not this instance's task (any more), or not confirmed at the stop.
    Stop {
        reason: String,
        lost: bool,
    },
}

impl ChangelogWriter {
    pub fn new(
        env: ChangelogEnv,
        partition: i32,
        inputs: &[String],
        model_version: Arc<str>,
        next_offsets: &[i64],
        cursor: ChangelogCursor,
    ) -> ChangelogWriter {
        let (topics, order) = ChangelogWriter::sorted_inputs(inputs);
        let mut skip_until = vec![i64::MIN; inputs.len()];
        for covers in cursor.skips.values() {
            for (u, c) in skip_until.iter_mut().zip(covers) {
                *u = (*u).max(*c);
            }
        }
        ChangelogWriter {
            env,
            partition,
            topics,
            order,
            model_version,
            cursor,
            skip_until,
            phase: Phase::Idle,
            last_flush: Instant::now(),
            last_checkpoint: Instant::now(),
            // What was restored is in the changelog (or nothing is): no
            // flush until something changes.
            flushed_at: next_offsets.to_vec(),
            flush_requested: false,
            caught_up: false,
            head: stagger(partition),
            query: None,
            ask_after: None,
            stopping: false,
            spare: Vec::new(),
        }
    }

    /// Inbound topic names sorted, and the task input index of each.
    pub fn sorted_inputs(inputs: &[String]) -> (Vec<String>, Vec<usize>) {
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by(|a, b| inputs[*a].cmp(&inputs[*b]));
        (order.iter().map(|i| inputs[*i].clone()).collect(), order)
    }

    /// Whether the event at `offset` of input `input` for `lead_id` is
    /// already in the lead's restored state.
    pub fn skip(&self, input: usize, offset: i64, lead_id: &str) -> bool {
        if self.cursor.skips.is_empty() {
            return false;
        }
        self.cursor
            .skips
            .get(&LeadKey::parse(lead_id))
            .is_some_and(|covers| offset < covers[input])
    }

    /// Forgets the skips once every input has passed them.
    pub fn passed(&mut self, next_offsets: &[i64]) {
        if !self.cursor.skips.is_empty()
            && next_offsets
                .iter()
                .zip(&self.skip_until)
                .all(|(n, u)| n >= u)
        {
            self.cursor.skips.clear();
        }
    }

    /// The offset a snapshot of the current state reads the changelog
    /// from; `None` while restored leads cover more than the position (a
    /// snapshot now would claim their events are not yet applied).
    pub fn snapshot_read_from(&self) -> Option<i64> {
        self.cursor
            .skips
            .is_empty()
            .then_some(self.cursor.read_from)
    }

    /// The task is at the end of all its inputs: flushes follow
    /// `flush_interval` again.
    pub fn caught_up(&mut self) {
        self.caught_up = true;
    }

    /// Whether a flush is due `elapsed` after the last one (or, for the
    /// first, after the start brought forward by `head`).
    fn due(&self, elapsed: Duration) -> bool {
        let reached = |interval: Duration| elapsed + interval.mul_f64(self.head) >= interval;
        reached(self.env.flush_interval)
            && (self.caught_up || reached(self.env.catch_up_flush_interval))
    }

    /// A flush was taken now: the next one is a whole interval away.
    fn flushed(&mut self) {
        self.last_flush = Instant::now();
        self.caught_up = false;
        self.head = 0.0;
    }

    /// Asks for a last flush of everything up to the current position,
    /// after the one in flight: the task is stopping.
    pub fn request_last_flush(&mut self) {
        self.flush_requested = true;
        self.stopping = true;
    }

    /// Whether the writer stopped writing: the task was found to be owned
    /// elsewhere, or its last flush could not be confirmed. Its state is
    /// then not to be kept or snapshotted.
    pub fn fenced(&self) -> bool {
        matches!(self.phase, Phase::Fenced)
    }

    /// Asks the group (once per step) whether this instance still owns the
    /// task, committing the acknowledged positions `at`.
    fn gate(&mut self, at: &[i64], positions: &dyn Positions) -> Gate {
        if let Some(q) = &self.query {
            let Some(verdict) = q.poll() else {
                return Gate::Wait;
            };
            self.query = None;
            match verdict {
                Verdict::Owned => return Gate::Go,
                Verdict::Lost(reason) => return Gate::Stop { reason, lost: true },
                Verdict::Unsure(reason) if self.stopping => {
                    return Gate::Stop {
                        reason,
                        lost: false,
                    }
                }
                Verdict::Unsure(reason) => {
                    tracing::debug!(partition = self.partition, %reason, "cannot confirm the task's ownership yet; the changelog flush waits");
                    self.ask_after = Some(Instant::now() + Duration::from_secs(1));
                    return Gate::Wait;
                }
            }
        }
        if self.ask_after.is_some_and(|t| Instant::now() < t) {
            return Gate::Wait;
        }
        self.ask_after = None;
        match positions.ask_owner(at) {
            None => Gate::Go,
            Some(q) => {
                self.query = Some(q);
                Gate::Wait
            }
        }
    }

    /// Stops writing for good.
    fn fence(&mut self, reason: &str, lost: bool) {
        self.phase = Phase::Fenced;
        self.query = None;
        emit!(ChangelogFenced {
            partition: self.partition,
            reason,
            lost
        });
    }

    /// Drives the flush: takes a new one when due (or requested), sends
    /// what has become sendable, and takes checkpoint acknowledgements.
    pub fn advance(
        &mut self,
        state: &mut TaskState,
        next_offsets: &[i64],
        outbox: &mut Outbox,
        publisher: &Publisher,
        positions: &dyn Positions,
    ) {
        let acked = outbox.take_checkpoints();
        loop {
            // A step that writes waits for the outputs before it to be
            // acknowledged, then for the group to confirm the task.
            if let Phase::Held { needs, at, .. } | Phase::Sent { needs, at, .. } = &self.phase {
                if !outbox.window_ref().acknowledged_below(*needs) {
                    return;
                }
                let at = at.clone();
                match self.gate(&at, positions) {
                    Gate::Go => {}
                    Gate::Wait => return,
                    Gate::Stop { reason, lost } => {
                        self.fence(&reason, lost);
                        return;
                    }
                }
            }
            match std::mem::replace(&mut self.phase, Phase::Idle) {
                Phase::Fenced => {
                    // The journal is never written again: keep it empty.
                    let _ = state.take_journal();
                    self.phase = Phase::Fenced;
                    return;
                }
                Phase::Idle => {
                    if !self.flush_requested && !self.due(self.last_flush.elapsed()) {
                        return;
                    }
                    self.flush_requested = false;
                    if self.take(state, next_offsets, outbox) {
                        continue;
                    }
                    return;
                }
                Phase::Held {
                    mut records,
                    checkpoint,
                    at,
                    ..
                } => {
                    let mut counts = [0u64; 3];
                    for (r, kind) in records.drain(..) {
                        counts[match kind {
                            "lead" => 0,
                            "evicted" => 1,
                            _ => 2,
                        }] += 1;
                        outbox.send(publisher, r, changelog_meta(OutputKind::Changelog));
                    }
                    self.spare = records;
                    self.phase = Phase::Sent {
                        checkpoint,
                        needs: outbox.window_ref().next_seq(),
                        counts,
                        at,
                    };
                }
                Phase::Sent {
                    checkpoint, counts, ..
                } => {
                    let seq = outbox.window_ref().next_seq();
                    outbox.send(
                        publisher,
                        checkpoint,
                        changelog_meta(OutputKind::Checkpoint),
                    );
                    self.phase = Phase::Confirming { seq, counts };
                }
                Phase::Confirming { seq, counts } => {
                    let Some(&(_, offset)) = acked.iter().find(|(s, _)| *s == seq) else {
                        self.phase = Phase::Confirming { seq, counts };
                        return;
                    };
                    self.cursor.read_from = offset;
                    self.last_checkpoint = Instant::now();
                    for (kind, n) in ["lead", "evicted", "seen"].into_iter().zip(counts) {
                        emit!(ChangelogWritten { kind, records: n });
                    }
                    emit!(ChangelogWritten {
                        kind: "checkpoint",
                        records: 1
                    });
                    return;
                }
            }
        }
    }

    /// Whether every flush taken or requested so far is acknowledged.
    pub fn is_settled(&self) -> bool {
        self.fenced() || (matches!(self.phase, Phase::Idle) && !self.flush_requested)
    }

    /// Reports the checkpoint age gauge.
    pub fn refresh_gauges(&self) {
        emit!(ChangelogCheckpointAge {
            partition: self.partition,
            age: self.last_checkpoint.elapsed(),
        });
    }

    /// What the next run of this task on this instance starts from.
    pub fn into_cursor(self) -> ChangelogCursor {
        self.cursor
    }

    /// Takes a flush at the current position; false if nothing changed.
    fn take(&mut self, state: &mut TaskState, next_offsets: &[i64], outbox: &Outbox) -> bool {
        self.flushed();
        let journal = state.take_journal();
        let forget = std::mem::take(&mut self.cursor.forget);
        if journal.is_empty() && forget.is_empty() && self.flushed_at == next_offsets {
            // The last checkpoint (acknowledged, since this one is idle)
            // still covers everything.
            self.last_checkpoint = Instant::now();
            state.return_journal(journal);
            return false;
        }
        self.flushed_at = next_offsets.to_vec();
        let sorted = |v: &[i64]| -> Vec<i64> { self.order.iter().map(|i| v[*i]).collect() };
        let covers_now = sorted(next_offsets);
        let mut records = std::mem::take(&mut self.spare);
        records.reserve(journal.touched_len() + forget.len() + 2);
        let forgotten = forget.iter().map(|k| (k.as_id().hash64(), k));
        for (hash, key) in journal.touched().chain(forgotten) {
            // A restored lead that covers more keeps saying so.
            let wider = self.cursor.skips.get(key).map(|c| {
                let covers: Vec<i64> = next_offsets
                    .iter()
                    .zip(c)
                    .map(|(n, c)| (*n).max(*c))
                    .collect();
                sorted(&covers)
            });
            let covers = wider.as_deref().unwrap_or(&covers_now);
            let value = state.read_lead(key, hash, |lead| encode_lead_block(lead, covers));
            let kind = if value.is_some() { "lead" } else { "evicted" };
            records.push((self.record(key.with_text(lead_key), value), kind));
        }
        // A task catching up takes in ~10^5 ids per flush: cut them in
        // batches that stay far below a broker's message size limit,
        // encoded straight from the dedupe window's queue.
        let (seen_from, seen_to) = journal.seen_span();
        debug_assert_eq!(seen_to, state.seen().mark(), "read as the journal is taken");
        for batch in seen_batches(state.seen().since_slices(seen_from), SEEN_BATCH) {
            let seq = self.cursor.seen_next;
            self.cursor.seen_next += 1;
            let newest = batch.iter().flat_map(|r| r.iter()).map(|e| e.1).max();
            self.cursor
                .seen_live
                .push_back((seq, newest.unwrap_or(i64::MIN)));
            records.push((
                self.record(seen_key(seq), Some(encode_seen_runs(seq, &batch))),
                "seen",
            ));
        }
        state.return_journal(journal);
        let cutoff = state.seen().cutoff_ms();
        while let Some(&(seq, newest)) = self.cursor.seen_live.front() {
            if newest >= cutoff {
                break;
            }
            self.cursor.seen_live.pop_front();
            records.push((self.record(seen_key(seq), None), "seen"));
        }
        let checkpoint = Checkpoint {
            positions: self
                .topics
                .iter()
                .cloned()
                .zip(sorted(next_offsets))
                .collect(),
            watermark_ms: state.watermark_ms(),
            last_sweep_ms: state.last_sweep_ms(),
            seen_cutoff_ms: cutoff,
            seen_first_live: self
                .cursor
                .seen_live
                .front()
                .map_or(self.cursor.seen_next, |s| s.0),
            seen_next: self.cursor.seen_next,
            model_version: self.model_version.to_string(),
            written_at_ms: super::wall_clock_ms(),
        };
        let checkpoint = self.record(checkpoint_key(), Some(encode_checkpoint(&checkpoint)));
        self.phase = Phase::Held {
            records,
            checkpoint,
            needs: outbox.window_ref().next_seq(),
            at: next_offsets.to_vec(),
        };
        true
    }

    fn record(&self, key: Vec<u8>, value: Option<Vec<u8>>) -> OwnedRecord {
        OwnedRecord {
            topic: self.env.topic.clone(),
            partition: Some(self.partition),
            key: Some(key),
            payload: value,
            headers: OwnedHeaders::new_with_capacity(0),
        }
    }
}

/// The fraction of the interval by which task `partition`'s first flush
/// comes early. The tasks of an instance start together (at start-up, after
/// a rebalance); flushing all at once would put every task's changed leads
/// in the producer's queue in the same moment: during a catch-up, 96 tasks
/// of 6 000 leads each are 600 000 records, six times what librdkafka's
/// queue holds by default (`queue.buffering.max.messages`), so they wait
/// and are retried, and a stage change produced meanwhile queues behind
/// them. Spread by the golden ratio, consecutive partitions flush nearly
/// evenly over the interval (96 tasks: 8 to 12 in each tenth of it), and
/// each keeps its place afterwards.
fn stagger(partition: i32) -> f64 {
    (f64::from(partition.max(0)) * 0.618_033_988_749_895).fract()
}

fn changelog_meta(kind: OutputKind) -> OutputMeta {
    OutputMeta {
        kind,
        source_ts_ms: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::changelog_reader::ReaderPool;

    fn writer(partition: i32, flush_ms: u64, catch_up_ms: u64) -> ChangelogWriter {
        let env = ChangelogEnv {
            topic: "changelog".into(),
            flush_interval: Duration::from_millis(flush_ms),
            catch_up_flush_interval: Duration::from_millis(catch_up_ms),
            readers: Arc::new(ReaderPool::new(rdkafka::ClientConfig::new(), 1)),
            read_timeout: Duration::from_secs(1),
        };
        ChangelogWriter::new(
            env,
            partition,
            &["events".to_string()],
            Arc::from("model"),
            &[0],
            ChangelogCursor::default(),
        )
    }

    #[test]
    fn a_task_catching_up_flushes_at_the_longer_interval_a_live_one_at_the_shorter() {
        let mut w = writer(0, 5_000, 30_000);
        let s = Duration::from_secs;
        // Catching up (not at the end of its inputs since the last flush).
        assert!(!w.due(s(5)));
        assert!(!w.due(s(29)));
        assert!(w.due(s(30)));
        // Live.
        w.caught_up();
        assert!(!w.due(s(4)));
        assert!(w.due(s(5)));
    }

    #[test]
    fn the_first_flushes_of_tasks_started_together_are_spread_over_the_interval() {
        let s = Duration::from_secs;
        // Partition 1 is 0.618 of the way into its first interval.
        let mut w = writer(1, 10_000, 10_000);
        assert!(!w.due(s(3)));
        assert!(w.due(s(4)));
        // After its first flush, a whole interval again.
        w.flushed();
        assert!(!w.due(s(9)));
        assert!(w.due(s(10)));
        // Catching up, the longer interval is brought forward the same.
        let w = writer(1, 5_000, 30_000);
        assert!(!w.due(s(11)));
        assert!(w.due(s(12)));
        // 96 tasks: each tenth of the interval holds a tenth of the first
        // flushes, give or take two.
        let mut tenths = [0; 10];
        for p in 0..96 {
            tenths[(stagger(p) * 10.0) as usize] += 1;
        }
        assert!(tenths.iter().all(|n| (8..=12).contains(n)), "{tenths:?}");
    }
}
