//! Where a task's state comes from when it starts: the state it had when
//! the same partition was revoked a moment ago (kept in memory), else the
//! newest valid snapshot and then the changelog records written after it,
//! else the changelog alone, else nothing (start from the earliest
//! offset). Runs on the task's own thread, so tasks restore in parallel and
//! the consumer keeps being polled.

use std::time::Instant;

use super::changelog_reader::read_to_end;
use super::changelog_writer::{ChangelogCursor, ChangelogEnv, ChangelogWriter};
use super::task::TaskEnv;
use crate::changelog::ChangelogImage;
use crate::config::OnModelChange;
use crate::emit;
use crate::engine::{LeadKey, TaskState};
use crate::telemetry::events::{SnapshotFallback, SnapshotRestored, TaskRestored};

/// Offset value recorded for an input that has consumed nothing yet: start
/// from the earliest retained offset.
pub const FROM_BEGINNING: i64 = -2;

/// A task's state and the next offset of each of its inputs (in
/// `TaskEnv::inputs` order, [`FROM_BEGINNING`] for none). What a stopped
/// task hands back, and what a starting task begins with.
pub struct TaskImage {
    pub state: TaskState,
    pub next_offsets: Vec<i64>,
    /// Where the task stands in its changelog partition.
    pub changelog: ChangelogCursor,
}

/// Where a restored image came from (metric label and log field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreSource {
    /// The state this instance held when the partition was last revoked.
    Memory,
    /// A snapshot file (and the changelog records written after it).
    Snapshot,
    /// The changelog alone.
    Changelog,
    /// A warm standby copy of the changelog.
    Standby,
    /// Nothing usable: empty state, from the earliest offset.
    Empty,
}

impl RestoreSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreSource::Memory => "memory",
            RestoreSource::Snapshot => "snapshot",
            RestoreSource::Changelog => "changelog",
            RestoreSource::Standby => "standby",
            RestoreSource::Empty => "empty",
        }
    }
}

/// Restores partition `partition`: `parked` if this instance still holds it.
/// Also says whether the image holds more than this instance's local
/// snapshot (changelog records were applied), so it is worth snapshotting.
pub fn restore(
    env: &TaskEnv,
    partition: i32,
    parked: Option<TaskImage>,
) -> (TaskImage, RestoreSource, bool) {
    let started = Instant::now();
    let (image, source, records) = match parked {
        Some(image) => (image, RestoreSource::Memory, 0),
        None => {
            let warm = env.standby.as_ref().and_then(|s| s.take(partition));
            let snapshot = match warm {
                Some(_) => None,
                None => from_snapshot(env, partition),
            };
            match &env.changelog {
                Some(cl) if warm.is_some() => from_standby(env, cl, partition, warm),
                Some(cl) => with_changelog(env, cl, partition, snapshot),
                None => match snapshot {
                    Some((image, _)) => (image, RestoreSource::Snapshot, 0),
                    None => (empty(env), RestoreSource::Empty, 0),
                },
            }
        }
    };
    emit!(TaskRestored {
        partition,
        source: source.as_str(),
        leads: image.state.lead_count(),
        records,
        duration: started.elapsed()
    });
    let beyond_snapshot = matches!(source, RestoreSource::Changelog | RestoreSource::Standby)
        || (source == RestoreSource::Snapshot && records > 0);
    (image, source, beyond_snapshot)
}

fn empty(env: &TaskEnv) -> TaskImage {
    TaskImage {
        state: TaskState::default(),
        next_offsets: vec![FROM_BEGINNING; env.inputs.len()],
        changelog: ChangelogCursor::default(),
    }
}

/// A standby copy brought up to date: only the records written since it
/// was last read.
fn from_standby(
    env: &TaskEnv,
    cl: &ChangelogEnv,
    partition: i32,
    warm: Option<super::standby::StandbyCopy>,
) -> (TaskImage, RestoreSource, u64) {
    let mut copy = warm.unwrap_or_default();
    let before = copy.image.records();
    if let Err(e) = read_to_end(
        &cl.readers,
        &cl.topic,
        partition,
        copy.next,
        &mut copy.image,
        cl.read_timeout,
    ) {
        tracing::error!(partition, error = %e, "cannot read the changelog after the standby copy; restoring from the snapshot or the changelog alone");
        return with_changelog(env, cl, partition, from_snapshot(env, partition));
    }
    let delta = copy.image.records() - before;
    let (image, _) = rebuild(env, cl, partition, copy.image, empty(env), 0, false);
    (image, RestoreSource::Standby, delta)
}

/// The snapshot (if any) brought up to date with the changelog records
/// written after it, or the state the changelog alone holds. Returns the
/// image, its source and how many changelog records were read.
fn with_changelog(
    env: &TaskEnv,
    cl: &ChangelogEnv,
    partition: i32,
    snapshot: Option<(TaskImage, i64)>,
) -> (TaskImage, RestoreSource, u64) {
    let had_snapshot = snapshot.is_some();
    let (mut base, from) = snapshot.unwrap_or_else(|| (empty(env), 0));
    base.changelog.read_from = from;
    let base_source = if had_snapshot {
        RestoreSource::Snapshot
    } else {
        RestoreSource::Empty
    };
    let mut image = ChangelogImage::default();
    if let Err(e) = read_to_end(
        &cl.readers,
        &cl.topic,
        partition,
        from,
        &mut image,
        cl.read_timeout,
    ) {
        tracing::error!(partition, error = %e, "cannot read the changelog; going on from the snapshot (or the earliest offset) alone");
        return (base, base_source, image.records());
    }
    let records = image.records();
    if records == 0 {
        return (base, base_source, 0);
    }
    if had_snapshot && contradicts(env, &image, &base.next_offsets) {
        emit!(SnapshotFallback {
            partition,
            kind: "diverged",
            detail: &format!(
                "changelog {} partition {partition} has a checkpoint written after the snapshot by another owner that is behind it on some topic and ahead on another; restoring from the changelog alone",
                cl.topic
            )
        });
        let (image, source, again) = with_changelog(env, cl, partition, None);
        return (image, source, records + again);
    }
    let (image, source) = rebuild(env, cl, partition, image, base, from, had_snapshot);
    (image, source, records)
}

/// Whether the changelog's newest checkpoint contradicts a snapshot that
/// stands at `next_offsets` (task input order).
fn contradicts(env: &TaskEnv, image: &ChangelogImage, next_offsets: &[i64]) -> bool {
    let (topics, _, sorted) = in_topic_order(env, next_offsets);
    image.contradicts(&sorted, &topics)
}

/// The inputs' topics sorted by name (the changelog's order), the task
/// input index of each, and `next_offsets` (task input order) in that order.
fn in_topic_order(env: &TaskEnv, next_offsets: &[i64]) -> (Vec<String>, Vec<usize>, Vec<i64>) {
    let names: Vec<String> = env.inputs.iter().map(|i| i.topic.clone()).collect();
    let (topics, order) = ChangelogWriter::sorted_inputs(&names);
    let sorted = order.iter().map(|i| next_offsets[*i]).collect();
    (topics, order, sorted)
}

/// The state of `image` on top of `base` (a snapshot if `had_snapshot`,
/// which said to read from `from`).
fn rebuild(
    env: &TaskEnv,
    cl: &ChangelogEnv,
    partition: i32,
    image: ChangelogImage,
    base: TaskImage,
    from: i64,
    had_snapshot: bool,
) -> (TaskImage, RestoreSource) {
    let records = image.records();
    let base_source = if had_snapshot {
        RestoreSource::Snapshot
    } else {
        RestoreSource::Empty
    };
    if let Some(c) = image.checkpoint() {
        if c.model_version != *env.model.version {
            let msg = format!(
                "changelog {} partition {partition} was written by model {} but this instance runs model {}",
                cl.topic, c.model_version, env.model.version
            );
            match env.on_model_change {
                OnModelChange::Replay => {
                    tracing::warn!("{msg}; its leads are written as evicted and state is rebuilt from the earliest offset");
                    let mut fresh = if had_snapshot { base } else { empty(env) };
                    fresh.changelog.forget = image.lead_keys();
                    return (fresh, base_source);
                }
                OnModelChange::Refuse => {
                    env.fail(format!("{msg}; set [snapshots] on_model_change = \"replay\" to rebuild state, or run the old model"));
                    return (base, base_source);
                }
            }
        }
    }
    let (topics, order, base_sorted) = in_topic_order(env, &base.next_offsets);
    let rebuilt = image.rebuild(base.state, &base_sorted, &topics);
    let unsort = |sorted: &[i64]| {
        let mut v = vec![FROM_BEGINNING; order.len()];
        for (k, i) in order.iter().enumerate() {
            v[*i] = sorted[k];
        }
        v
    };
    let skips = rebuilt
        .skips
        .iter()
        .map(|(k, c): (&LeadKey, &Vec<i64>)| (k.clone(), unsort(c)))
        .collect();
    let image = TaskImage {
        next_offsets: unsort(&rebuilt.positions),
        changelog: ChangelogCursor {
            read_from: rebuilt.checkpoint_offset.unwrap_or(from),
            seen_live: rebuilt.seen_live,
            seen_next: rebuilt.seen_next,
            skips,
            forget: Vec::new(),
        },
        state: rebuilt.state,
    };
    tracing::info!(
        partition,
        records,
        leads_applied = rebuilt.leads_applied,
        skipped_leads = image.changelog.skips.len(),
        "changelog read"
    );
    let source = if had_snapshot {
        RestoreSource::Snapshot
    } else {
        RestoreSource::Changelog
    };
    (image, source)
}

/// The newest usable snapshot of `partition`, if any, and the changelog
/// offset it says to read from; fallbacks are counted.
fn from_snapshot(env: &TaskEnv, partition: i32) -> Option<(TaskImage, i64)> {
    let started = Instant::now();
    let store = env.writer.as_ref()?.store();
    let loaded = store.load_newest(partition);
    for f in &loaded.fallbacks {
        emit!(SnapshotFallback {
            partition,
            kind: f.kind,
            detail: &format!("{}: {}", f.path.display(), f.detail)
        });
    }
    let r = loaded.snapshot?;
    if r.model_version != *env.model.version {
        let msg = format!(
            "snapshot {} was written by model {} but this instance runs model {}",
            r.path.display(),
            r.model_version,
            env.model.version
        );
        match env.on_model_change {
            OnModelChange::Replay => {
                emit!(SnapshotFallback {
                    partition,
                    kind: "model_version",
                    detail: &format!("{msg}; rebuilding state from the earliest offset")
                });
                return None;
            }
            OnModelChange::Refuse => {
                env.fail(format!("{msg}; set [snapshots] on_model_change = \"replay\" to rebuild state, or run the old model"));
                return None;
            }
        }
    }
    let next_offsets = env
        .inputs
        .iter()
        .map(|i| {
            r.offsets
                .iter()
                .find(|(t, _)| *t == i.topic)
                .map_or(FROM_BEGINNING, |(_, o)| *o)
        })
        .collect();
    emit!(SnapshotRestored {
        partition,
        source: "snapshot",
        leads: r.state.lead_count(),
        duration: started.elapsed()
    });
    Some((
        TaskImage {
            state: r.state,
            next_offsets,
            changelog: ChangelogCursor::default(),
        },
        r.changelog_next,
    ))
}
