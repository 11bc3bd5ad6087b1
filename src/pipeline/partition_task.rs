//! One task: partition p of every inbound topic. It merges its partitions
//! in a deterministic order, scores each event, publishes the changes, and
//! stores offsets only once those changes are acknowledged.
//!
//! Merge order: the head record with the smallest Kafka timestamp goes
//! first (ties: topic order, then offset), and a task waits for every
//! partition to have a head or to be at its end before choosing (Kafka
//! Streams' rule). So the order depends only on the data in the topics,
//! and a restart from a snapshot derives exactly the same changes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset};

use super::context::{PipelineConsumer, PipelineContext};
use super::publisher::Pending;
use super::tasks::{Input, TaskEnv};
use crate::codec::decode_event;
use crate::emit;
use crate::engine::{Outcome, TaskState};
use crate::snapshot::{SnapshotStore, WriteOutcome};
use crate::telemetry::events::{
    EventsProcessed, LeadsInMemory, RecordDeadLettered, SnapshotAge, SnapshotWritten,
};

/// Records processed between two acknowledgement barriers at most.
const BATCH: usize = 4096;

/// Offset value recorded for an input that has consumed nothing yet: start
/// from the earliest retained offset.
pub const FROM_BEGINNING: i64 = -2;

/// Everything a task starts with.
pub struct TaskStart {
    pub partition: i32,
    pub state: TaskState,
    /// Next offset per input (same order as `TaskEnv::inputs`), or [`FROM_BEGINNING`].
    pub next_offsets: Vec<i64>,
    pub stop: Arc<AtomicBool>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Per-batch outcome counts, flushed to metrics at each barrier.
struct Tally {
    counts: Vec<[u64; 6]>,
}

impl Tally {
    fn new(inputs: usize) -> Tally {
        Tally {
            counts: vec![[0; 6]; inputs],
        }
    }

    fn flush(&mut self, env: &TaskEnv) {
        for (i, c) in self.counts.iter_mut().enumerate() {
            for o in Outcome::ALL {
                let n = std::mem::take(&mut c[o as usize]);
                if n > 0 {
                    env.counters.add_outcome(o, n);
                    emit!(EventsProcessed {
                        topic: &env.inputs[i].topic,
                        outcome: o.as_str(),
                        count: n
                    });
                }
            }
            let n = std::mem::take(&mut c[5]);
            if n > 0 {
                env.counters.add_dlq(n);
                emit!(EventsProcessed {
                    topic: &env.inputs[i].topic,
                    outcome: "dlq",
                    count: n
                });
            }
        }
    }
}

/// What a task has done since its last checkpoint: records handed to the
/// producer, offsets they cover, outcome counts, and when to snapshot.
struct Progress {
    partition: i32,
    pending: Vec<Pending>,
    /// Last processed offset per input since the last barrier.
    processed: Vec<Option<i64>>,
    /// Next offset per input covered by acknowledged work (what snapshots record).
    next_offsets: Vec<i64>,
    tally: Tally,
    in_batch: usize,
    since_snapshot: u64,
    last_snapshot: Instant,
    writer: Option<SnapshotWriter>,
}

impl Progress {
    /// Waits for every pending ack, stores the covered offsets, then
    /// snapshots when due (or always when `force`d and there is news).
    /// Returns false if shutdown forced a stop before everything was acked.
    fn checkpoint(
        &mut self,
        env: &TaskEnv,
        consumer: &PipelineConsumer,
        state: &TaskState,
        force: bool,
    ) -> bool {
        if self.in_batch > 0 || force {
            if !barrier(
                env,
                consumer,
                self.partition,
                &mut self.pending,
                &mut self.processed,
                &mut self.next_offsets,
                &mut self.tally,
            ) {
                return false;
            }
            self.in_batch = 0;
        }
        maybe_snapshot(
            env,
            &mut self.writer,
            state,
            &self.next_offsets,
            &mut self.since_snapshot,
            &mut self.last_snapshot,
            force,
        );
        true
    }
}

/// Runs a task until it is stopped (revocation) or the service shuts down.
/// On the way out it acknowledges everything, stores offsets and snapshots.
pub fn run(
    env: Arc<TaskEnv>,
    consumer: Arc<PipelineConsumer>,
    queues: Vec<PartitionQueue<PipelineContext>>,
    wake: Receiver<()>,
    start: TaskStart,
) {
    let TaskStart {
        partition,
        mut state,
        next_offsets,
        stop,
    } = start;
    let inputs: &[Input] = &env.inputs;
    let mut heads: Vec<Option<(BorrowedMessage<'_>, Instant)>> =
        (0..queues.len()).map(|_| None).collect();
    let mut at_end = vec![false; queues.len()];
    let mut progress = Progress {
        partition,
        pending: Vec::new(),
        processed: vec![None; queues.len()],
        next_offsets,
        tally: Tally::new(queues.len()),
        in_batch: 0,
        since_snapshot: 0,
        last_snapshot: Instant::now(),
        writer: env.store.clone().map(|s| SnapshotWriter::new(s, partition)),
    };
    let mut waiting_since: Option<Instant> = None;
    let idle = Duration::from_millis(env.max_task_idle_ms);
    let mut last_gauges = Instant::now();
    let stopping = || stop.load(Ordering::SeqCst) || env.shutdown.is_triggered();

    while !stopping() {
        // Fill heads without blocking.
        for (i, q) in queues.iter().enumerate() {
            if heads[i].is_some() {
                continue;
            }
            match q.poll(Duration::ZERO) {
                Some(Ok(m)) => {
                    at_end[i] = false;
                    heads[i] = Some((m, Instant::now()));
                }
                Some(Err(KafkaError::PartitionEOF(_))) => at_end[i] = true,
                Some(Err(e)) => {
                    tracing::warn!(partition, topic = %inputs[i].topic, error = %e, "consumer error")
                }
                None => {}
            }
        }
        let missing = (0..queues.len()).any(|i| heads[i].is_none() && !at_end[i]);
        let any_head = heads.iter().any(Option::is_some);
        let idle_over = match (missing, waiting_since) {
            (false, _) => {
                waiting_since = None;
                false
            }
            (true, None) => {
                waiting_since = Some(Instant::now());
                false
            }
            (true, Some(since)) => {
                let over = since.elapsed() >= idle;
                if over && since.elapsed() < idle + Duration::from_millis(50) {
                    let silent: Vec<&str> = (0..queues.len())
                        .filter(|i| heads[*i].is_none() && !at_end[*i])
                        .map(|i| inputs[i].topic.as_str())
                        .collect();
                    tracing::warn!(partition, ?silent, "merging without silent partitions after max_task_idle_ms; order is no longer guaranteed to match a replay");
                }
                over
            }
        };
        if !any_head || (missing && !idle_over) {
            // Nothing to do until a partition delivers: make the batch durable first.
            if !progress.checkpoint(&env, &consumer, &state, false) {
                break;
            }
            refresh_gauges(partition, &state, &progress.writer, &mut last_gauges);
            match wake.recv_timeout(Duration::from_millis(100)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // The smallest (timestamp, topic order, offset) among the heads.
        let j = (0..heads.len())
            .filter_map(|i| {
                heads[i]
                    .as_ref()
                    .map(|(m, _)| ((m.timestamp().to_millis().unwrap_or(0), i, m.offset()), i))
            })
            .min()
            .map(|(_, i)| i)
            .expect("some head is present");
        let (msg, taken_at) = heads[j].take().expect("chosen head is present");
        process(
            &env,
            &mut state,
            &inputs[j],
            j,
            &msg,
            taken_at,
            &mut progress.pending,
            &mut progress.tally,
        );
        progress.processed[j] = Some(msg.offset());
        drop(msg);
        progress.in_batch += 1;
        progress.since_snapshot += 1;
        if progress.in_batch >= BATCH && !progress.checkpoint(&env, &consumer, &state, false) {
            break;
        }
    }
    // Finish in-flight work, then snapshot and let go.
    drop(heads);
    if !progress.checkpoint(&env, &consumer, &state, true) {
        tracing::warn!(partition, "stopping with unacknowledged stage changes; offsets not stored, they will be reprocessed");
    }
    if let Some(w) = progress.writer.take() {
        w.finish();
    }
    tracing::info!(partition, leads = state.lead_count(), "task stopped");
}

/// Decodes, scores and publishes one record.
#[allow(clippy::too_many_arguments)]
fn process(
    env: &TaskEnv,
    state: &mut TaskState,
    input: &Input,
    idx: usize,
    msg: &BorrowedMessage<'_>,
    taken_at: Instant,
    pending: &mut Vec<Pending>,
    tally: &mut Tally,
) {
    let payload = msg.payload().unwrap_or_default();
    match decode_event(
        payload,
        input.format,
        Some(input.event_type),
        Some(now_ms()),
        &env.limits,
    ) {
        Err(e) => {
            let reason = e.to_string();
            emit!(RecordDeadLettered {
                topic: msg.topic(),
                partition: msg.partition(),
                offset: msg.offset(),
                reason: &reason
            });
            pending.push(env.publisher.send_dead_letter(msg, &reason));
            tally.counts[idx][5] += 1;
        }
        Ok(event) => {
            let applied = state.apply(&env.model, &event);
            if let Some(o) = applied.outcome {
                tally.counts[idx][o as usize] += 1;
            }
            if !applied.changes.is_empty() {
                let now = now_ms();
                for c in &applied.changes {
                    pending.push(env.publisher.send_change(c, now, taken_at));
                }
            }
        }
    }
}

/// Waits for every pending record's ack, then stores the offsets they cover.
/// Returns false when shutdown forced a stop before everything was acked.
fn barrier(
    env: &TaskEnv,
    consumer: &PipelineConsumer,
    partition: i32,
    pending: &mut Vec<Pending>,
    processed: &mut [Option<i64>],
    next_offsets: &mut [i64],
    tally: &mut Tally,
) -> bool {
    if !env.publisher.settle(pending, &env.shutdown) {
        return false;
    }
    for (i, p) in processed.iter_mut().enumerate() {
        if let Some(off) = p.take() {
            next_offsets[i] = off + 1;
            if let Err(e) = consumer.store_offset(&env.inputs[i].topic, partition, off) {
                tracing::debug!(partition, error = %e, "store_offset failed (partition revoked?)");
            }
        }
    }
    tally.flush(env);
    true
}

fn refresh_gauges(
    partition: i32,
    state: &TaskState,
    writer: &Option<SnapshotWriter>,
    last: &mut Instant,
) {
    if last.elapsed() < Duration::from_secs(1) {
        return;
    }
    *last = Instant::now();
    emit!(LeadsInMemory {
        partition,
        leads: state.lead_count()
    });
    if let Some(w) = writer {
        if let Some(t) = w.last_written {
            emit!(SnapshotAge {
                partition,
                age: t.elapsed()
            });
        }
    }
}

/// Takes a snapshot when due (or when `force`d at the end of the task).
/// Only called right after a barrier, so every change derived from the
/// covered events is acknowledged.
fn maybe_snapshot(
    env: &TaskEnv,
    writer: &mut Option<SnapshotWriter>,
    state: &TaskState,
    next_offsets: &[i64],
    since: &mut u64,
    last: &mut Instant,
    force: bool,
) {
    let Some(w) = writer.as_mut() else { return };
    let due = *since > 0
        && (*since >= env.snapshot_every_events || last.elapsed() >= env.snapshot_interval);
    if !(due || (force && *since > 0) || (force && w.last_written.is_none())) {
        return;
    }
    let offsets: Vec<(String, i64)> = env
        .inputs
        .iter()
        .zip(next_offsets)
        .map(|(i, o)| (i.topic.clone(), *o))
        .collect();
    // One capture per task at a time: skip this one while the previous is
    // still being encoded, unless it is the last (then wait for it).
    let captured = loop {
        match SnapshotStore::capture(w.partition, state, &offsets, &env.model.version, now_ms()) {
            Some(c) => break c,
            None if force => std::thread::sleep(Duration::from_millis(1)),
            None => return,
        }
    };
    w.submit(captured, force);
    *since = 0;
    *last = Instant::now();
}

/// Writes a task's snapshots on a background thread so the task only pays
/// for the in-memory capture.
struct SnapshotWriter {
    partition: i32,
    tx: Option<std::sync::mpsc::SyncSender<crate::snapshot::Captured>>,
    thread: Option<std::thread::JoinHandle<()>>,
    done: Arc<std::sync::Mutex<Option<Instant>>>,
    last_written: Option<Instant>,
}

impl SnapshotWriter {
    fn new(store: SnapshotStore, partition: i32) -> SnapshotWriter {
        let (tx, rx) = std::sync::mpsc::sync_channel::<crate::snapshot::Captured>(1);
        let done = Arc::new(std::sync::Mutex::new(None));
        let done2 = done.clone();
        let thread = std::thread::Builder::new()
            .name(format!("snapshot-{partition}"))
            .spawn(move || {
                for captured in rx {
                    write_one(&store, partition, &captured);
                    *done2.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
                }
            })
            .expect("spawn snapshot writer thread");
        SnapshotWriter {
            partition,
            tx: Some(tx),
            thread: Some(thread),
            done,
            last_written: None,
        }
    }

    fn submit(&mut self, captured: crate::snapshot::Captured, wait: bool) {
        if let Some(tx) = &self.tx {
            // Blocks only while the previous snapshot is still being written.
            let _ = tx.send(captured);
        }
        if wait {
            self.finish_inner();
        }
        self.last_written = *self.done.lock().unwrap_or_else(|e| e.into_inner());
    }

    fn finish_inner(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.last_written = *self.done.lock().unwrap_or_else(|e| e.into_inner());
    }

    fn finish(mut self) {
        self.finish_inner();
    }
}

fn write_one(store: &SnapshotStore, partition: i32, captured: &crate::snapshot::Captured) {
    let started = Instant::now();
    match store.write(captured) {
        Ok(WriteOutcome::Written { bytes, .. }) => {
            emit!(SnapshotWritten {
                partition,
                bytes,
                leads: captured.lead_count(),
                duration: started.elapsed()
            })
        }
        Ok(WriteOutcome::Stale { newer }) => {
            tracing::warn!(partition, newer = %newer.display(), "snapshot not written: a newer one exists (another instance owns this task now)")
        }
        Err(e) => {
            tracing::error!(partition, error = %e, "snapshot write failed; the previous snapshot stays in place")
        }
    }
}

/// Seek target for an input's recorded next offset.
pub fn seek_offset(next: i64) -> Offset {
    if next >= 0 {
        Offset::Offset(next)
    } else {
        Offset::Beginning
    }
}
