//! Each thing worth observing is a small struct whose `emit()` logs it and
//! counts it, so metric names live here and nowhere else (Vector's pattern).
//! The README's metric table documents these.

use std::time::Duration;

use metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};

use crate::engine::Outcome;

/// Every metric name the binary exports (the dashboard and alert rules may
/// use only these; a test scrapes `/metrics` and compares).
pub const METRIC_NAMES: &[&str] = &[
    "leadscore_events_total",
    "leadscore_stage_changes_total",
    "leadscore_end_to_end_latency_seconds",
    "leadscore_consumer_lag",
    "leadscore_leads_in_memory",
    "leadscore_tasks_assigned",
    "leadscore_ready",
    "leadscore_producer_errors_total",
    "leadscore_snapshot_duration_seconds",
    "leadscore_snapshot_size_bytes",
    "leadscore_snapshot_age_seconds",
    "leadscore_snapshot_restore_duration_seconds",
    "leadscore_snapshot_fallbacks_total",
    "leadscore_snapshot_failures_total",
    "leadscore_enforced_merges_total",
    "leadscore_outputs_rerouted_total",
    "leadscore_offsets_skipped_total",
    "leadscore_restores_total",
    "leadscore_restore_duration_seconds",
    "leadscore_changelog_records_restored_total",
    "leadscore_changelog_records_written_total",
    "leadscore_changelog_checkpoint_age_seconds",
    "leadscore_changelog_fenced_total",
];

/// Where a task's state came from (`source` of `leadscore_restores_total`).
pub const RESTORE_SOURCES: &[&str] = &["memory", "snapshot", "changelog", "standby", "empty"];

/// Every (from, to, reason) the stage machine can produce (`engine/task.rs`:
/// threshold and signal promotions, the instant rule, an event that lowers
/// the score, the decay sweep). Exported at zero from the start so the
/// dashboard's stage-change panels have a series before the first change.
pub const STAGE_TRANSITIONS: &[(&str, &str, &str)] = &[
    ("lead", "mql", "score_threshold"),
    ("lead", "mql", "instant_rule"),
    ("lead", "sql", "score_threshold"),
    ("lead", "sql", "sql_signal"),
    ("mql", "sql", "score_threshold"),
    ("mql", "sql", "sql_signal"),
    ("mql", "lead", "score_threshold"),
    ("mql", "lead", "recycled_decay"),
    ("sql", "lead", "score_threshold"),
    ("sql", "lead", "recycled_decay"),
];

/// Outcome labels of `leadscore_events_total`: the engine's outcomes plus
/// `dlq` (records the codec refused).
pub fn event_outcomes() -> impl Iterator<Item = &'static str> {
    Outcome::ALL
        .into_iter()
        .map(Outcome::as_str)
        .chain(std::iter::once("dlq"))
}

/// Gives every metric its help text (what it measures, in which unit), so a
/// scrape explains itself. Called once when the recorder is installed.
pub fn describe_all() {
    describe_counter!(
        "leadscore_events_total",
        Unit::Count,
        "Inbound records read, in records, by topic and outcome: scored, duplicate (event_id seen within the dedupe window), bot, rate_limited, late (behind the watermark), dlq (unusable, sent to the dead-letter topic)."
    );
    describe_counter!(
        "leadscore_stage_changes_total",
        Unit::Count,
        "Stage changes acknowledged by the broker on the stage-change topic, in changes, by from, to and reason (the part before the colon)."
    );
    describe_histogram!(
        "leadscore_end_to_end_latency_seconds",
        Unit::Seconds,
        "Time in seconds from an inbound record's Kafka timestamp (CreateTime: when its producer sent it) to the broker's acknowledgement of the stage change it caused (decay-sweep changes are not timed)."
    );
    describe_gauge!(
        "leadscore_consumer_lag",
        Unit::Count,
        "Records behind the high watermark, in records, per inbound topic and partition this instance runs; 0 once the partition is handed to another instance."
    );
    describe_gauge!(
        "leadscore_leads_in_memory",
        Unit::Count,
        "Leads whose state the task of a partition holds, in leads."
    );
    describe_gauge!(
        "leadscore_tasks_assigned",
        Unit::Count,
        "Tasks (one per inbound partition number) this instance runs, in tasks."
    );
    describe_gauge!(
        "leadscore_ready",
        Unit::Count,
        "1 while /readyz answers ready (tasks restored and running, a broker reachable), 0 otherwise."
    );
    describe_counter!(
        "leadscore_producer_errors_total",
        Unit::Count,
        "Failed produce attempts of stage changes and dead letters, in attempts, by kind (enqueue, delivery, canceled); each one is retried, none is dropped."
    );
    describe_histogram!(
        "leadscore_snapshot_duration_seconds",
        Unit::Seconds,
        "Time in seconds to write one task snapshot to disk (encode, write, fsync, rename)."
    );
    describe_gauge!(
        "leadscore_snapshot_size_bytes",
        Unit::Bytes,
        "Size in bytes of the last snapshot this instance wrote for a partition's task; 0 until it wrote one."
    );
    describe_gauge!(
        "leadscore_snapshot_age_seconds",
        Unit::Seconds,
        "Age in seconds of the newest snapshot this instance wrote for a partition's task (of the task itself while it wrote none); computed at each scrape, 0 once the task left this instance."
    );
    describe_histogram!(
        "leadscore_snapshot_restore_duration_seconds",
        Unit::Seconds,
        "Time in seconds to load and verify a task's newest snapshot when its partition is assigned (observed only when a snapshot was found)."
    );
    describe_counter!(
        "leadscore_restores_total",
        Unit::Count,
        "Task restores, in restores, by source: memory (kept from a moment ago), snapshot (a local file, plus the changelog records after it), changelog (the changelog alone), standby (a warm copy), empty (nothing found)."
    );
    describe_histogram!(
        "leadscore_restore_duration_seconds",
        Unit::Seconds,
        "Time in seconds from a partition's assignment to its task being ready to process, by source (see leadscore_restores_total)."
    );
    describe_counter!(
        "leadscore_changelog_records_restored_total",
        Unit::Count,
        "Changelog records read to restore tasks, in records (a warm standby copy reads only what it had not seen)."
    );
    describe_counter!(
        "leadscore_changelog_records_written_total",
        Unit::Count,
        "Changelog records acknowledged by the broker, in records, by kind (lead, evicted, seen, checkpoint)."
    );
    describe_counter!(
        "leadscore_changelog_fenced_total",
        Unit::Count,
        "Tasks that stopped writing their changelog partition because the group coordinator refused this instance's generation (the partition is owned elsewhere now), in tasks."
    );
    describe_gauge!(
        "leadscore_changelog_checkpoint_age_seconds",
        Unit::Seconds,
        "Time in seconds since the task's last changelog checkpoint was acknowledged (since the task started, before the first): how much processing a takeover would repeat."
    );
    describe_counter!(
        "leadscore_snapshot_fallbacks_total",
        Unit::Count,
        "Snapshots that could not be used, in snapshots, by kind (corrupt, truncated, unreadable, model_version); an older snapshot or the earliest offset was used instead."
    );
    describe_counter!(
        "leadscore_snapshot_failures_total",
        Unit::Count,
        "Snapshot writes that failed (disk full, permissions), in writes; the previous snapshot stays in place."
    );
    describe_counter!(
        "leadscore_enforced_merges_total",
        Unit::Count,
        "Times a task stopped waiting for an inbound partition that was behind for max_task_idle_ms and went on without it, in episodes; the processing order may then differ from a replay."
    );
    describe_counter!(
        "leadscore_offsets_skipped_total",
        Unit::Count,
        "Offsets skipped between two consecutive records of an inbound partition, in offsets, by topic: records deleted by retention before they were read (the task was behind), compacted away, or transaction markers."
    );
    describe_counter!(
        "leadscore_outputs_rerouted_total",
        Unit::Count,
        "Outputs the broker refused as they were (over message.max.bytes, invalid), in records, by action: truncated (a dead letter cut to fit), dead_lettered (a stage change sent to the dead-letter topic instead), dropped (refused even then)."
    );
}

/// Exports every series that does not depend on the configuration at zero
/// (error counters, stage changes, histograms, tasks), so the first scrape
/// has them, `increase()` in alert rules sees the first error and the
/// dashboard shows a flat line rather than "No data".
pub fn register_zeroes() {
    for kind in ["enqueue", "delivery", "canceled"] {
        counter!("leadscore_producer_errors_total", "kind" => kind).increment(0);
    }
    for kind in ["corrupt", "truncated", "unreadable", "model_version"] {
        counter!("leadscore_snapshot_fallbacks_total", "kind" => kind).increment(0);
    }
    for &(from, to, reason) in STAGE_TRANSITIONS {
        counter!("leadscore_stage_changes_total", "from" => from, "to" => to, "reason" => reason)
            .increment(0);
    }
    // A registered histogram is exported with empty buckets until its first
    // sample; the recorder keeps it, so the handle itself is not needed.
    for name in [
        "leadscore_end_to_end_latency_seconds",
        "leadscore_snapshot_duration_seconds",
        "leadscore_snapshot_restore_duration_seconds",
    ] {
        let _registered = histogram!(name);
    }
    gauge!("leadscore_tasks_assigned").set(0.0);
    for source in RESTORE_SOURCES {
        counter!("leadscore_restores_total", "source" => *source).increment(0);
        let _registered = histogram!("leadscore_restore_duration_seconds", "source" => *source);
    }
    counter!("leadscore_changelog_records_restored_total").increment(0);
    for kind in ["lead", "evicted", "seen", "checkpoint"] {
        counter!("leadscore_changelog_records_written_total", "kind" => kind).increment(0);
    }
    counter!("leadscore_snapshot_failures_total").increment(0);
    counter!("leadscore_enforced_merges_total").increment(0);
    counter!("leadscore_changelog_fenced_total").increment(0);
    for action in ["truncated", "dead_lettered", "dropped"] {
        counter!("leadscore_outputs_rerouted_total", "action" => action).increment(0);
    }
}

/// Something that can be logged and counted.
pub trait InternalEvent {
    fn emit(self);
}

/// Events of one topic that met one fate (`scored`, `duplicate`, `bot`,
/// `rate_limited`, `late`, `dlq`). Counted in batches.
pub struct EventsProcessed<'a> {
    pub topic: &'a str,
    pub outcome: &'static str,
    pub count: u64,
}

impl InternalEvent for EventsProcessed<'_> {
    fn emit(self) {
        if self.count > 0 {
            counter!("leadscore_events_total", "topic" => self.topic.to_string(), "outcome" => self.outcome).increment(self.count);
        }
    }
}

/// A record the codec refused, sent to the dead-letter topic.
pub struct RecordDeadLettered<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub reason: &'a str,
}

impl InternalEvent for RecordDeadLettered<'_> {
    fn emit(self) {
        tracing::debug!(
            topic = self.topic,
            partition = self.partition,
            offset = self.offset,
            reason = self.reason,
            "record sent to dead-letter topic"
        );
    }
}

/// A lead moved between stages and the change was acknowledged.
pub struct StageChanged<'a> {
    pub from: &'static str,
    pub to: &'static str,
    pub reason: &'a str,
}

impl InternalEvent for StageChanged<'_> {
    fn emit(self) {
        let reason = self.reason.split(':').next().unwrap_or("").to_string();
        counter!("leadscore_stage_changes_total", "from" => self.from, "to" => self.to, "reason" => reason).increment(1);
    }
}

/// Time from the triggering record's Kafka timestamp to the ack of its change.
pub struct EndToEndLatency(pub Duration);

impl InternalEvent for EndToEndLatency {
    fn emit(self) {
        histogram!("leadscore_end_to_end_latency_seconds").record(self.0.as_secs_f64());
    }
}

/// A produce failed and will be retried (nothing is dropped).
pub struct ProducerError<'a> {
    pub kind: &'static str,
    pub error: &'a str,
}

impl InternalEvent for ProducerError<'_> {
    fn emit(self) {
        tracing::warn!(
            kind = self.kind,
            error = self.error,
            "produce failed; retrying"
        );
        counter!("leadscore_producer_errors_total", "kind" => self.kind).increment(1);
    }
}

/// The producer's local queue was full; the output waits in the task's
/// queue and is handed over again shortly (nothing is dropped). Counted
/// with the other enqueue failures, not logged: it is back-pressure.
pub struct ProducerQueueFull;

impl InternalEvent for ProducerQueueFull {
    fn emit(self) {
        counter!("leadscore_producer_errors_total", "kind" => "queue_full").increment(1);
    }
}

/// Records behind the high watermark for one inbound partition.
pub struct ConsumerLag<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub lag: i64,
}

impl InternalEvent for ConsumerLag<'_> {
    fn emit(self) {
        gauge!("leadscore_consumer_lag", "topic" => self.topic.to_string(), "partition" => self.partition.to_string()).set(self.lag.max(0) as f64);
    }
}

/// Leads held by one task.
pub struct LeadsInMemory {
    pub partition: i32,
    pub leads: usize,
}

impl InternalEvent for LeadsInMemory {
    fn emit(self) {
        gauge!("leadscore_leads_in_memory", "partition" => self.partition.to_string())
            .set(self.leads as f64);
    }
}

/// Number of tasks this instance runs.
pub struct TasksAssigned(pub usize);

impl InternalEvent for TasksAssigned {
    fn emit(self) {
        tracing::info!(tasks = self.0, "tasks assigned");
        gauge!("leadscore_tasks_assigned").set(self.0 as f64);
    }
}

/// Readiness changed.
pub struct Readiness(pub bool);

impl InternalEvent for Readiness {
    fn emit(self) {
        gauge!("leadscore_ready").set(if self.0 { 1.0 } else { 0.0 });
    }
}

/// A snapshot was written.
pub struct SnapshotWritten {
    pub partition: i32,
    pub bytes: u64,
    pub leads: usize,
    pub duration: Duration,
}

impl InternalEvent for SnapshotWritten {
    fn emit(self) {
        tracing::debug!(
            partition = self.partition,
            bytes = self.bytes,
            leads = self.leads,
            ms = self.duration.as_millis() as u64,
            "snapshot written"
        );
        histogram!("leadscore_snapshot_duration_seconds").record(self.duration.as_secs_f64());
        gauge!("leadscore_snapshot_size_bytes", "partition" => self.partition.to_string())
            .set(self.bytes as f64);
        gauge!("leadscore_snapshot_age_seconds", "partition" => self.partition.to_string())
            .set(0.0);
        super::snapshot_clock::snapshot_written(self.partition);
    }
}

/// Age of the newest snapshot of a task, refreshed periodically.
pub struct SnapshotAge {
    pub partition: i32,
    pub age: Duration,
}

impl InternalEvent for SnapshotAge {
    fn emit(self) {
        gauge!("leadscore_snapshot_age_seconds", "partition" => self.partition.to_string())
            .set(self.age.as_secs_f64());
    }
}

/// A task restored its state (`source`: memory, snapshot or empty).
pub struct SnapshotRestored {
    pub partition: i32,
    pub source: &'static str,
    pub leads: usize,
    pub duration: Duration,
}

impl InternalEvent for SnapshotRestored {
    fn emit(self) {
        tracing::info!(
            partition = self.partition,
            source = self.source,
            leads = self.leads,
            ms = self.duration.as_millis() as u64,
            "task state restored"
        );
        histogram!("leadscore_snapshot_restore_duration_seconds")
            .record(self.duration.as_secs_f64());
    }
}

/// A task's state is ready: where it came from and what it took.
pub struct TaskRestored {
    pub partition: i32,
    pub source: &'static str,
    pub leads: usize,
    /// Changelog records read for it.
    pub records: u64,
    pub duration: Duration,
}

impl InternalEvent for TaskRestored {
    fn emit(self) {
        tracing::info!(
            partition = self.partition,
            source = self.source,
            leads = self.leads,
            changelog_records = self.records,
            ms = self.duration.as_millis() as u64,
            "task state restored"
        );
        counter!("leadscore_restores_total", "source" => self.source).increment(1);
        histogram!("leadscore_restore_duration_seconds", "source" => self.source)
            .record(self.duration.as_secs_f64());
        counter!("leadscore_changelog_records_restored_total").increment(self.records);
    }
}

/// Changelog records the broker acknowledged, by kind.
pub struct ChangelogWritten {
    pub kind: &'static str,
    pub records: u64,
}

impl InternalEvent for ChangelogWritten {
    fn emit(self) {
        counter!("leadscore_changelog_records_written_total", "kind" => self.kind)
            .increment(self.records);
    }
}

/// A task stopped writing its changelog partition: the group refused this
/// instance's generation (`lost`), or a stopping task's last flush could
/// not be confirmed in time.
pub struct ChangelogFenced<'a> {
    pub partition: i32,
    pub reason: &'a str,
    pub lost: bool,
}

impl InternalEvent for ChangelogFenced<'_> {
    fn emit(self) {
        if self.lost {
            tracing::warn!(
                partition = self.partition,
                reason = self.reason,
                "the group gave this task to another instance: its changelog partition is not written from here any more"
            );
            counter!("leadscore_changelog_fenced_total").increment(1);
        } else {
            tracing::warn!(
                partition = self.partition,
                reason = self.reason,
                "the last changelog flush of a stopping task could not be confirmed with the group; the next owner resumes from the previous checkpoint"
            );
        }
    }
}

/// Seconds since a task's last acknowledged changelog checkpoint.
pub struct ChangelogCheckpointAge {
    pub partition: i32,
    pub age: Duration,
}

impl InternalEvent for ChangelogCheckpointAge {
    fn emit(self) {
        gauge!("leadscore_changelog_checkpoint_age_seconds", "partition" => self.partition.to_string())
            .set(self.age.as_secs_f64());
    }
}

/// A snapshot could not be used and an older one (or none) was used instead.
pub struct SnapshotFallback<'a> {
    pub partition: i32,
    pub kind: &'static str,
    pub detail: &'a str,
}

impl InternalEvent for SnapshotFallback<'_> {
    fn emit(self) {
        tracing::warn!(
            partition = self.partition,
            kind = self.kind,
            detail = self.detail,
            "snapshot not usable; falling back"
        );
        counter!("leadscore_snapshot_fallbacks_total", "kind" => self.kind).increment(1);
    }
}

/// A snapshot could not be written; the previous one stays in place.
pub struct SnapshotFailed<'a> {
    pub partition: i32,
    pub error: &'a str,
}

impl InternalEvent for SnapshotFailed<'_> {
    fn emit(self) {
        tracing::error!(
            partition = self.partition,
            error = self.error,
            "snapshot write failed; the previous snapshot stays in place"
        );
        counter!("leadscore_snapshot_failures_total").increment(1);
    }
}

/// A task stopped waiting for a partition that is behind (records exist
/// that have not arrived within `max_task_idle_ms`) and merged without it:
/// from here until it catches up, the order may differ from a replay.
pub struct EnforcedMerge<'a> {
    pub partition: i32,
    pub behind: &'a [&'a str],
}

impl InternalEvent for EnforcedMerge<'_> {
    fn emit(self) {
        tracing::warn!(
            partition = self.partition,
            behind = ?self.behind,
            "merging without partitions that are behind after max_task_idle_ms; order may differ from a replay until they catch up"
        );
        counter!("leadscore_enforced_merges_total").increment(1);
    }
}

/// An error the consumer reported on one of a task's partitions (logged
/// at most every few seconds per task; `repeats` were not logged since).
pub struct TaskConsumerError<'a> {
    pub partition: i32,
    pub topic: &'a str,
    pub error: &'a str,
    pub repeats: u64,
}

impl InternalEvent for TaskConsumerError<'_> {
    fn emit(self) {
        tracing::warn!(
            partition = self.partition,
            topic = self.topic,
            error = self.error,
            repeats = self.repeats,
            "consumer error on a task partition"
        );
    }
}

/// Offsets that were skipped between two consecutive records of a
/// partition: deleted by retention while the task was behind (the consumer
/// then resets to the earliest offset), compacted away, or transaction
/// markers.
pub struct OffsetsSkipped<'a> {
    pub partition: i32,
    pub topic: &'a str,
    pub count: u64,
}

impl InternalEvent for OffsetsSkipped<'_> {
    fn emit(self) {
        tracing::debug!(
            partition = self.partition,
            topic = self.topic,
            count = self.count,
            "offsets skipped between consecutive records"
        );
        counter!("leadscore_offsets_skipped_total", "topic" => self.topic.to_string())
            .increment(self.count);
    }
}

/// An output the broker will never accept as it is (too large, invalid):
/// a dead letter `truncated` to fit, a stage change `dead_lettered`
/// instead, or `dropped` when even that failed.
pub struct OutputRerouted<'a> {
    pub action: &'static str,
    pub topic: &'a str,
    pub bytes: usize,
    pub error: &'a str,
}

impl InternalEvent for OutputRerouted<'_> {
    fn emit(self) {
        if self.action == "dropped" {
            tracing::error!(
                topic = self.topic,
                bytes = self.bytes,
                error = self.error,
                "output refused even after truncation; dropped so the partition keeps flowing"
            );
        } else {
            tracing::warn!(
                action = self.action,
                topic = self.topic,
                bytes = self.bytes,
                error = self.error,
                "output refused by the broker as it is; sent to the dead-letter topic (truncated to fit)"
            );
        }
        counter!("leadscore_outputs_rerouted_total", "action" => self.action).increment(1);
    }
}

/// The inbound topics of this instance are known (service start): their
/// event counters are exported at zero for every outcome, so the first
/// scrape has them and a dead-letter burst shows as an increase from 0.
pub struct InboundTopics<'a>(pub &'a [String]);

impl InternalEvent for InboundTopics<'_> {
    fn emit(self) {
        for topic in self.0 {
            for outcome in event_outcomes() {
                counter!("leadscore_events_total", "topic" => topic.clone(), "outcome" => outcome)
                    .increment(0);
            }
            counter!("leadscore_offsets_skipped_total", "topic" => topic.clone()).increment(0);
        }
    }
}

/// A partition's task started on this instance: its per-partition series
/// exist from now on (lag and snapshot size keep any earlier value), and
/// its snapshot age counts from now until its first snapshot.
pub struct TaskStarted<'a> {
    pub partition: i32,
    pub topics: &'a [String],
    pub leads: usize,
}

impl InternalEvent for TaskStarted<'_> {
    fn emit(self) {
        let p = self.partition.to_string();
        tracing::debug!(
            partition = self.partition,
            leads = self.leads,
            "task metrics registered"
        );
        for topic in self.topics {
            gauge!("leadscore_consumer_lag", "topic" => topic.clone(), "partition" => p.clone())
                .increment(0.0);
        }
        gauge!("leadscore_leads_in_memory", "partition" => p.clone()).set(self.leads as f64);
        gauge!("leadscore_snapshot_size_bytes", "partition" => p).increment(0.0);
        super::snapshot_clock::task_started(self.partition);
        emit_ages();
    }
}

/// A partition's task left this instance: its snapshot age no longer
/// grows here (another instance reports it now).
pub struct TaskStopped {
    pub partition: i32,
}

impl InternalEvent for TaskStopped {
    fn emit(self) {
        if super::snapshot_clock::task_stopped(self.partition) {
            gauge!("leadscore_snapshot_age_seconds", "partition" => self.partition.to_string())
                .set(0.0);
        }
    }
}

/// Sets `leadscore_snapshot_age_seconds` of every task running in this
/// process from its snapshot clock; the `/metrics` handler calls it before
/// rendering, so the age grows even while a task is stuck.
pub fn emit_ages() {
    for (partition, age) in super::snapshot_clock::ages() {
        SnapshotAge { partition, age }.emit();
    }
}
