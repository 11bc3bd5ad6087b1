//! One task: partition p of every inbound topic, on its own thread. It
//! restores its state, then takes records in merge order (`merge.rs`),
//! scores each with the engine, hands the outputs to its outbox
//! (`outbox.rs`) and goes on at once; acknowledgements come back while it
//! works and move the offsets it may commit and the snapshot it may make
//! current. When told to stop it drains: waits (bounded) for what is in
//! flight, stores its offsets, snapshots, and hands its state back.
//!
//! Follow one record: `Task::take` → `Task::process` (decode, `apply`,
//! `Outbox::send`) → `Outbox::poll` (acknowledged) → `InFlight` (covered)
//! → `Positions::store_offset`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::base_consumer::PartitionQueue;
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::Message;

use super::changelog_writer::{ChangelogEnv, ChangelogWriter};
use super::context::PipelineContext;
use super::counters::Counters;
use super::doorbell::Doorbell;
use super::merge::{Choice, Lane, Merge};
use super::outbox::{Outbox, OutputKind, OutputMeta};
use super::publisher::Publisher;
use super::restore::{restore, TaskImage};
use super::shutdown::Shutdown;
use super::snapshot_writer::{SnapshotDue, SnapshotStatus, SnapshotWriter};
use super::tally::Tally;
use crate::codec::{decode_event, DecodeLimits, Format};
use crate::config::OnModelChange;
use crate::emit;
use crate::engine::{Reason, TaskState};
use crate::event::EventType;
use crate::model::Model;
use crate::snapshot::SnapshotStore;
use crate::telemetry::events::{
    ChangelogCheckpointAge, EnforcedMerge, LeadsInMemory, OffsetsSkipped, RecordDeadLettered,
    TaskConsumerError,
};
use crate::telemetry::health::Health;
use crate::telemetry::readiness::TaskProgress;
use crate::telemetry::throttle::LogThrottle;

/// One inbound topic as a task sees it.
#[derive(Debug, Clone)]
pub struct Input {
    pub topic: String,
    pub event_type: EventType,
    pub format: Format,
}

/// What every task of the process shares.
pub struct TaskEnv {
    pub model: Arc<Model>,
    /// In merge order (ties in timestamp go to the earlier topic).
    pub inputs: Vec<Input>,
    pub publisher: Publisher,
    /// `None`: snapshots are off (benchmarks).
    pub writer: Option<SnapshotWriter>,
    /// `None`: the changelog is off.
    pub changelog: Option<ChangelogEnv>,
    /// Warm copies of the tasks owned elsewhere (`standby_replicas = 1`).
    pub standby: Option<Arc<super::standby::Standby>>,
    /// Partitions of the inbound topics (for standby copies).
    pub partitions: i32,
    pub on_model_change: OnModelChange,
    pub snapshot_interval: Duration,
    pub snapshot_every_events: u64,
    pub limits: DecodeLimits,
    pub max_task_idle: Duration,
    /// Unacknowledged outputs after which a task waits (back-pressure).
    pub max_in_flight: usize,
    /// How long a stopping task waits for its outputs to be acknowledged.
    pub drain_timeout: Duration,
    /// Largest record the producer accepts (`message.max.bytes`).
    pub max_output_bytes: usize,
    pub dead_letter_topic: String,
    pub counters: Counters,
    pub health: Health,
    pub shutdown: Shutdown,
    /// Set when the service must stop with an error (e.g. a refused snapshot).
    pub fatal: Mutex<Option<String>>,
}

impl TaskEnv {
    /// Stops the service with `msg` as its error.
    pub fn fail(&self, msg: String) {
        tracing::error!("{msg}");
        *self.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg);
        self.shutdown.trigger();
    }
}

/// What a task needs from the consumer besides its queues.
pub trait Positions {
    /// Marks `offset` of input `input` as processed and covered (for the
    /// group's committed offsets).
    fn store_offset(&self, input: usize, offset: i64);
    /// The `(low, high)` watermarks of input `input` as of the last fetch
    /// response, if known.
    fn watermark(&self, input: usize) -> Option<(i64, i64)>;
    /// Asks the group whether this instance still owns the task, by
    /// committing `next_offsets` (task input order, all acknowledged); the
    /// task's doorbell rings when the verdict is in. `None`: nothing to
    /// commit, so nothing to ask with.
    fn ask_owner(&self, next_offsets: &[i64]) -> Option<super::ownership::Pending>;
}

/// Tells the coordinator where a restored task resumes (next offset per input).
pub type OnRestored = Box<dyn FnOnce(&[i64]) + Send>;

/// One input partition's queue, split off the consumer before the
/// partition was assigned, and the flag its non-empty callback sets.
pub struct InputQueue {
    pub queue: PartitionQueue<PipelineContext>,
    /// Set (and the task's doorbell rung) when the queue goes from empty to
    /// non-empty, so the task polls only queues that may hold something.
    pub signal: Arc<AtomicBool>,
}

impl InputQueue {
    /// Splits `topic` partition `partition` off `consumer`; its callback
    /// rings `doorbell`. `None` if librdkafka does not know the partition.
    pub fn split(
        consumer: &Arc<super::context::PipelineConsumer>,
        topic: &str,
        partition: i32,
        doorbell: &Doorbell,
    ) -> Option<InputQueue> {
        let mut queue = consumer.split_partition_queue(topic, partition)?;
        let signal = Arc::new(AtomicBool::new(true));
        let (s, d) = (signal.clone(), doorbell.clone());
        queue.set_nonempty_callback(move || {
            s.store(true, Ordering::Release);
            d.ring();
        });
        Some(InputQueue { queue, signal })
    }
}

/// Everything a task starts with.
pub struct TaskStart {
    pub partition: i32,
    /// One per input.
    pub queues: Vec<InputQueue>,
    /// The state this instance kept from the last time it owned the partition.
    pub parked: Option<TaskImage>,
    /// Set by the coordinator to make the task drain and stop.
    pub stop: Arc<AtomicBool>,
    /// Rung by the queues, the producer's delivery reports, the snapshot
    /// writer and shutdown.
    pub doorbell: Doorbell,
    /// Called once the state is restored, with the offsets to resume from.
    pub on_restored: OnRestored,
}

/// Runs a task to its end. Returns its state if it stopped cleanly (every
/// output acknowledged), so the coordinator can keep it for a partition
/// that comes straight back.
pub fn run(env: Arc<TaskEnv>, positions: impl Positions, start: TaskStart) -> Option<TaskImage> {
    let TaskStart {
        partition,
        queues,
        parked,
        stop,
        doorbell,
        on_restored,
    } = start;
    env.shutdown.subscribe(&doorbell);
    let (image, _source, beyond_snapshot) = restore(&env, partition, parked);
    if env.changelog.is_some() {
        emit!(ChangelogCheckpointAge {
            partition,
            age: Duration::ZERO
        });
    }
    on_restored(&image.next_offsets);
    env.health
        .add_task(partition, image.state.lookup(), image.state.lead_count());
    let progress = env.health.track_task(partition);
    let mut task = Task::new(&env, partition, image, doorbell, progress);
    if beyond_snapshot {
        // The restored state is not in a local snapshot yet: take one at
        // the next interval even if no record comes, so a restart on this
        // machine does not read the same changelog records again.
        task.since_snapshot = 1;
    }
    task.consume(&queues, &positions, &stop);
    let parked = task.drain(&positions);
    env.health.remove_task(partition);
    tracing::info!(
        partition,
        leads = parked.as_ref().map(|p| p.state.lead_count()),
        clean = parked.is_some(),
        "task stopped"
    );
    parked
}

/// A record taken from a queue and not yet processed.
struct Head<'q> {
    msg: BorrowedMessage<'q>,
    timestamp_ms: i64,
    offset: i64,
}

/// One input partition from the task's point of view.
struct LaneState<'q> {
    head: Option<Head<'q>>,
    /// End-of-partition reported since the last record.
    at_eof: bool,
    /// The queue may hold more (the last poll returned something).
    more: bool,
    /// What an empty lane was found to be when last polled: it stays so
    /// until the queue signals (a record or an end-of-partition report
    /// arrives), because a fetch that moves the high watermark past the
    /// position also delivers the records in between.
    empty_as: Option<Lane>,
}

/// The working state of a running task.
struct Task<'e> {
    env: &'e TaskEnv,
    partition: i32,
    state: TaskState,
    /// Next offset to process per input (the processing position).
    next_offsets: Vec<i64>,
    outbox: Outbox,
    merge: Merge,
    tally: Tally,
    doorbell: Doorbell,
    snapshots: Arc<SnapshotStatus>,
    /// A capture waiting for its outputs to be acknowledged.
    due: Option<SnapshotDue>,
    since_snapshot: u64,
    last_capture: Instant,
    last_gauges: Instant,
    consumer_errors: LogThrottle,
    /// What readiness knows of this task.
    progress: Arc<TaskProgress>,
    /// Records processed or outputs acknowledged since `progress` was told.
    progressed: bool,
    /// `None`: the changelog is off.
    changelog: Option<ChangelogWriter>,
}

/// Records between two looks at the wall clock for time-based snapshots.
const CLOCK_EVERY: u64 = 1024;
/// Records after which outcome counts are flushed even without a pause.
const TALLY_EVERY: u64 = 4096;

impl<'e> Task<'e> {
    fn new(
        env: &'e TaskEnv,
        partition: i32,
        image: TaskImage,
        doorbell: Doorbell,
        progress: Arc<TaskProgress>,
    ) -> Task<'e> {
        let inbox = Arc::new(super::delivery::AckInbox::new(doorbell.clone()));
        let mut state = image.state;
        let changelog = env.changelog.as_ref().map(|cl| {
            state.keep_journal();
            let names: Vec<String> = env.inputs.iter().map(|i| i.topic.clone()).collect();
            ChangelogWriter::new(
                cl.clone(),
                partition,
                &names,
                env.model.version.clone(),
                &image.next_offsets,
                image.changelog,
            )
        });
        Task {
            env,
            partition,
            state,
            next_offsets: image.next_offsets,
            outbox: Outbox::new(
                env.inputs.len(),
                env.max_in_flight,
                inbox,
                env.max_output_bytes,
                env.dead_letter_topic.clone(),
            ),
            merge: Merge::new(env.max_task_idle),
            tally: Tally::new(env.inputs.len()),
            doorbell,
            snapshots: Arc::new(SnapshotStatus::default()),
            due: None,
            since_snapshot: 0,
            last_capture: Instant::now(),
            last_gauges: Instant::now(),
            consumer_errors: LogThrottle::new(Duration::from_secs(10)),
            progress,
            progressed: false,
            changelog,
        }
    }

    /// Takes and processes records until `stop` is set or shutdown is triggered.
    fn consume<'q>(
        &mut self,
        queues: &'q [InputQueue],
        positions: &impl Positions,
        stop: &AtomicBool,
    ) {
        let mut lanes: Vec<LaneState<'q>> = queues
            .iter()
            .map(|_| LaneState {
                head: None,
                at_eof: false,
                more: true,
                empty_as: None,
            })
            .collect();
        let mut view: Vec<Lane> = vec![Lane::Behind; queues.len()];
        let mut taken: u64 = 0;
        while !stop.load(Ordering::Relaxed) && !self.env.shutdown.is_triggered() {
            let retry_at = self.settle(positions);
            if self.outbox.window_ref().is_full() {
                // Back-pressure: wait for acknowledgements, not for records.
                self.pause(
                    true,
                    retry_at.map(|t| t.saturating_duration_since(Instant::now())),
                );
                continue;
            }
            for (i, q) in queues.iter().enumerate() {
                view[i] = self.look(i, q, &mut lanes[i], positions);
            }
            let lane = match self.merge.choose(&view, Instant::now) {
                Choice::Take(i) => i,
                Choice::Enforced { lane, first } => {
                    if first {
                        let behind: Vec<&str> = view
                            .iter()
                            .enumerate()
                            .filter(|(_, l)| **l == Lane::Behind)
                            .map(|(i, _)| self.env.inputs[i].topic.as_str())
                            .collect();
                        emit!(EnforcedMerge {
                            partition: self.partition,
                            behind: &behind
                        });
                    }
                    lane
                }
                Choice::Wait { until } => {
                    let now = Instant::now();
                    let mut wait = until.map(|t| t.saturating_duration_since(now));
                    if let Some(r) = retry_at {
                        let r = r.saturating_duration_since(now);
                        wait = Some(wait.map_or(r, |w| w.min(r)));
                    }
                    if view.iter().all(|l| *l == Lane::CaughtUp) {
                        // At the end of every input: live, not catching up.
                        if let Some(w) = &mut self.changelog {
                            w.caught_up();
                        }
                    }
                    // Blocked when a record waits for a partition that is behind.
                    self.pause(until.is_some(), wait);
                    continue;
                }
            };
            let head = lanes[lane].head.take().expect("the chosen lane has a head");
            self.process(lane, head);
            taken += 1;
            self.progressed = true;
            if taken % CLOCK_EVERY == 0 || self.since_snapshot >= self.env.snapshot_every_events {
                self.progress.advanced();
                self.maybe_capture(false);
                self.refresh_gauges();
            }
            if self.tally.pending() >= TALLY_EVERY {
                self.tally.flush(&self.env.inputs, &self.env.counters);
            }
        }
    }

    /// The lane's state, taking a record from its queue if it has none.
    fn look<'q>(
        &mut self,
        i: usize,
        q: &'q InputQueue,
        lane: &mut LaneState<'q>,
        positions: &impl Positions,
    ) -> Lane {
        // Clear the signal before polling: a record that arrives after the
        // poll sets it again, so none is missed.
        if lane.head.is_none() && (lane.more || q.signal.swap(false, Ordering::Acquire)) {
            lane.more = false;
            lane.empty_as = None;
            match q.queue.poll(Duration::ZERO) {
                Some(Ok(msg)) => {
                    lane.at_eof = false;
                    lane.more = true;
                    let timestamp_ms = msg.timestamp().to_millis().unwrap_or(0);
                    let offset = msg.offset();
                    lane.head = Some(Head {
                        msg,
                        timestamp_ms,
                        offset,
                    });
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {
                    lane.at_eof = true;
                    lane.more = true;
                }
                Some(Err(e)) => {
                    lane.more = true;
                    if let Some(repeats) = self.consumer_errors.allow(Instant::now()) {
                        emit!(TaskConsumerError {
                            partition: self.partition,
                            topic: &self.env.inputs[i].topic,
                            error: &e.to_string(),
                            repeats
                        })
                    }
                }
                None => {}
            }
        }
        if let Some(h) = &lane.head {
            return Lane::Head {
                timestamp_ms: h.timestamp_ms,
                offset: h.offset,
            };
        }
        *lane.empty_as.get_or_insert_with(|| {
            if lane.at_eof || self.caught_up(i, positions) {
                Lane::CaughtUp
            } else {
                Lane::Behind
            }
        })
    }

    /// Whether input `i` has consumed everything its last fetch saw.
    fn caught_up(&self, i: usize, positions: &impl Positions) -> bool {
        let Some((low, high)) = positions.watermark(i) else {
            return false;
        };
        let next = self.next_offsets[i];
        if next >= 0 {
            next >= high
        } else {
            low >= high
        }
    }

    /// Decodes, scores and publishes one record.
    fn process(&mut self, input: usize, head: Head<'_>) {
        let env = self.env;
        let Head {
            msg,
            timestamp_ms,
            offset,
        } = head;
        let inp = &env.inputs[input];
        let expected = self.next_offsets[input];
        if expected >= 0 && offset > expected {
            let count = (offset - expected) as u64;
            env.counters.add_skipped(count);
            emit!(OffsetsSkipped {
                partition: self.partition,
                topic: &inp.topic,
                count
            });
        }
        let has_ts = msg.timestamp().to_millis().is_some();
        // The future-skew check compares with the record's own timestamp,
        // not the wall clock, so a restart decides exactly as the first run.
        let payload = msg.payload().unwrap_or_default();
        match decode_event(
            payload,
            inp.format,
            Some(inp.event_type),
            has_ts.then_some(timestamp_ms),
            &env.limits,
        ) {
            Err(e) => {
                let reason = if msg.payload().is_none() {
                    "payload: the record value is null (a tombstone); events need a value"
                        .to_string()
                } else {
                    e.to_string()
                };
                emit!(RecordDeadLettered {
                    topic: msg.topic(),
                    partition: msg.partition(),
                    offset,
                    reason: &reason
                });
                let record = env.publisher.dead_letter_record(&msg, &reason);
                self.outbox.send(
                    &env.publisher,
                    record,
                    OutputMeta {
                        kind: OutputKind::DeadLetter,
                        source_ts_ms: has_ts.then_some(timestamp_ms),
                    },
                );
                self.tally.dead_letter(input);
            }
            Ok(event) => {
                // An event already in its lead's restored state (README
                // "Recovery") only moves the clock and the dedupe window.
                let applied = if self
                    .changelog
                    .as_ref()
                    .is_some_and(|c| c.skip(input, offset, &event.lead_id))
                {
                    self.state.pass(&env.model, &event)
                } else {
                    self.state.apply(&env.model, &event)
                };
                if let Some(o) = applied.outcome {
                    self.tally.outcome(input, o);
                }
                if !applied.changes.is_empty() {
                    let now = super::wall_clock_ms();
                    for c in &applied.changes {
                        let record = env.publisher.change_record(c, now);
                        let source_ts_ms = match c.reason {
                            Reason::RecycledDecay => None,
                            _ => has_ts.then_some(timestamp_ms),
                        };
                        self.outbox.send(
                            &env.publisher,
                            record,
                            OutputMeta {
                                kind: OutputKind::Change {
                                    from: c.from,
                                    to: c.to,
                                    reason: reason_label(&c.reason),
                                },
                                source_ts_ms,
                            },
                        );
                    }
                }
            }
        }
        drop(msg);
        self.next_offsets[input] = offset + 1;
        if let Some(c) = &mut self.changelog {
            c.passed(&self.next_offsets);
        }
        self.outbox.window().processed(input, offset);
        self.since_snapshot += 1;
    }

    /// Takes delivery reports, stores the offsets they cover, submits a
    /// capture whose outputs are all acknowledged. Returns when the next
    /// retry is due.
    fn settle(&mut self, positions: &impl Positions) -> Option<std::time::Instant> {
        let retry_at = self.outbox.poll(&self.env.publisher, &self.env.counters);
        self.flush_changelog(positions);
        let mut covered = false;
        self.outbox.window().drain_covered(|input, offset| {
            covered = true;
            positions.store_offset(input, offset)
        });
        self.progressed |= covered;
        if let Some(due) = self.due.take().filter(|_| !self.is_fenced()) {
            if self.outbox.window_ref().acknowledged_below(due.needs) {
                if let Some(w) = &self.env.writer {
                    w.submit(due.captured, &self.snapshots, &self.doorbell);
                }
            } else {
                self.due = Some(due);
            }
        }
        retry_at
    }

    /// Nothing to do (or nothing that can be done: `blocked`, records wait):
    /// flush counts, tell readiness, refresh gauges, capture if due, then
    /// sleep until rung or `max` passes (at most a second, for the gauges).
    fn pause(&mut self, blocked: bool, max: Option<Duration>) {
        self.tally.flush(&self.env.inputs, &self.env.counters);
        if std::mem::take(&mut self.progressed) {
            self.progress.advanced();
        }
        // Outputs waiting for their acknowledgement are work too.
        self.progress
            .set_blocked(blocked || !self.outbox.window_ref().is_settled());
        self.progress
            .set_snapshot_failing(self.snapshots.failing_since());
        self.maybe_capture(false);
        self.refresh_gauges();
        let cap = Duration::from_secs(1);
        self.doorbell.wait(max.map_or(cap, |m| m.min(cap)));
    }

    /// Whether the changelog writer was fenced: another instance owns the
    /// task now, so its state is neither snapshotted nor kept.
    fn is_fenced(&self) -> bool {
        self.changelog.as_ref().is_some_and(|c| c.fenced())
    }

    /// Moves the changelog flush on (see `changelog_writer.rs`).
    fn flush_changelog(&mut self, positions: &dyn Positions) {
        if let Some(c) = &mut self.changelog {
            c.advance(
                &mut self.state,
                &self.next_offsets,
                &mut self.outbox,
                &self.env.publisher,
                positions,
            );
        }
    }

    /// Captures the state at the current position when a snapshot is due
    /// (or when `force`d and there is anything new), unless one is already
    /// waiting or being written.
    fn maybe_capture(&mut self, force: bool) {
        let Some(_) = &self.env.writer else { return };
        if self.since_snapshot == 0
            || self.due.is_some()
            || self.snapshots.is_busy()
            || self.is_fenced()
        {
            return;
        }
        let due = force
            || self.since_snapshot >= self.env.snapshot_every_events
            || self.last_capture.elapsed() >= self.env.snapshot_interval;
        if !due {
            return;
        }
        // `None` while the previous image is still held by its encoder: try
        // again at the next turn.
        let Some(captured) = self.capture() else {
            return;
        };
        self.due = Some(SnapshotDue {
            captured,
            needs: self.outbox.window_ref().next_seq(),
        });
    }

    /// An image of the state at the current position, or `None` while the
    /// previous image has not been encoded or dropped yet.
    fn capture(&mut self) -> Option<crate::snapshot::Captured> {
        // With a changelog, the snapshot says where to read it from; none
        // while restored leads still cover more than the position.
        let read_from = match &self.changelog {
            Some(c) => Some(c.snapshot_read_from()?),
            None => None,
        };
        let offsets: Vec<(String, i64)> = self
            .env
            .inputs
            .iter()
            .zip(&self.next_offsets)
            .map(|(i, o)| (i.topic.clone(), *o))
            .collect();
        let captured = SnapshotStore::capture(
            self.partition,
            &self.state,
            &offsets,
            &self.env.model.version,
            super::wall_clock_ms(),
        )?;
        let captured = match read_from {
            Some(offset) => captured.with_changelog_next(offset),
            None => captured,
        };
        self.since_snapshot = 0;
        self.last_capture = Instant::now();
        Some(captured)
    }

    fn refresh_gauges(&mut self) {
        if self.last_gauges.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_gauges = Instant::now();
        emit!(LeadsInMemory {
            partition: self.partition,
            leads: self.state.lead_count()
        });
        if let Some(c) = &self.changelog {
            c.refresh_gauges();
        }
    }

    /// Stops: waits up to the drain timeout for every output to be
    /// acknowledged, stores the covered offsets, and writes a last snapshot.
    /// Returns the state if everything was acknowledged.
    fn drain(mut self, positions: &impl Positions) -> Option<TaskImage> {
        let deadline = Instant::now() + self.env.drain_timeout;
        self.tally.flush(&self.env.inputs, &self.env.counters);
        // A last changelog flush, so the next owner resumes from here.
        if let Some(c) = &mut self.changelog {
            c.request_last_flush();
        }
        loop {
            let retry_at = self.settle(positions);
            let settled = self.outbox.window_ref().is_settled()
                && self.changelog.as_ref().is_none_or(|c| c.is_settled());
            let writing = self.snapshots.is_busy();
            let now = Instant::now();
            if (settled && !writing) || now >= deadline {
                break;
            }
            let mut wait = deadline - now;
            if let Some(r) = retry_at {
                wait = wait.min(r.saturating_duration_since(now));
            }
            self.doorbell.wait(wait.min(Duration::from_millis(100)));
        }
        if !self.outbox.window_ref().is_settled()
            || self.changelog.as_ref().is_some_and(|c| !c.is_settled())
        {
            let oldest = self.outbox.window_ref().oldest_unacknowledged().copied();
            tracing::warn!(
                partition = self.partition,
                unacknowledged = self.outbox.window_ref().unacknowledged(),
                ?oldest,
                "stopping with unacknowledged outputs after the drain timeout; their input is not committed and will be processed again"
            );
            return None;
        }
        if self.is_fenced() {
            // Another instance owns the task now: what this one holds is
            // not the task's state any more, neither to keep nor to
            // snapshot.
            return None;
        }
        // Everything is acknowledged: the current position is safe to snapshot.
        self.due = None;
        if let Some(w) = &self.env.writer {
            if self.since_snapshot > 0 && !self.snapshots.is_busy() {
                // The writer is idle, so the previous image is about to be
                // dropped; wait for that within the drain deadline.
                let captured = loop {
                    match self.capture() {
                        Some(c) => break Some(c),
                        None if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(1))
                        }
                        None => break None,
                    }
                };
                match captured {
                    Some(c) => {
                        w.write_now(&c, &self.snapshots);
                    }
                    None => tracing::warn!(
                        partition = self.partition,
                        "no last snapshot at stop: the previous one was still being encoded at the drain timeout"
                    ),
                }
            }
        }
        Some(TaskImage {
            state: self.state,
            next_offsets: self.next_offsets,
            changelog: self
                .changelog
                .map(ChangelogWriter::into_cursor)
                .unwrap_or_default(),
        })
    }
}

/// The metric label of a reason (`instant_rule:<rule>` counts as `instant_rule`).
fn reason_label(r: &Reason) -> &'static str {
    match r {
        Reason::ScoreThreshold => "score_threshold",
        Reason::InstantRule(_) => "instant_rule",
        Reason::SqlSignal => "sql_signal",
        Reason::RecycledDecay => "recycled_decay",
    }
}
