//! Where a task's state comes from when it starts: the state it had when
//! the same partition was revoked a moment ago (kept in memory), else the
//! newest valid snapshot, else nothing (start from the earliest offset).
//! Runs on the task's own thread, so tasks restore in parallel and the
//! consumer keeps being polled.

use std::time::Instant;

use super::task::TaskEnv;
use crate::config::OnModelChange;
use crate::emit;
use crate::engine::TaskState;
use crate::telemetry::events::{SnapshotFallback, SnapshotRestored};

/// Offset value recorded for an input that has consumed nothing yet: start
/// from the earliest retained offset.
pub const FROM_BEGINNING: i64 = -2;

/// A task's state and the next offset of each of its inputs (in
/// `TaskEnv::inputs` order, [`FROM_BEGINNING`] for none). What a stopped
/// task hands back, and what a starting task begins with.
pub struct TaskImage {
    pub state: TaskState,
    pub next_offsets: Vec<i64>,
}

/// Where a restored image came from (metric label and log field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreSource {
    /// The state this instance held when the partition was last revoked.
    Memory,
    /// A snapshot file.
    Snapshot,
    /// Nothing usable: empty state, from the earliest offset.
    Empty,
}

impl RestoreSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RestoreSource::Memory => "memory",
            RestoreSource::Snapshot => "snapshot",
            RestoreSource::Empty => "empty",
        }
    }
}

/// Restores partition `partition`: `parked` if this instance still holds it.
pub fn restore(
    env: &TaskEnv,
    partition: i32,
    parked: Option<TaskImage>,
) -> (TaskImage, RestoreSource) {
    let started = Instant::now();
    let (image, source) = match parked {
        Some(image) => (image, RestoreSource::Memory),
        None => match from_snapshot(env, partition) {
            Some(image) => (image, RestoreSource::Snapshot),
            None => (empty(env), RestoreSource::Empty),
        },
    };
    emit!(SnapshotRestored {
        partition,
        source: source.as_str(),
        leads: image.state.lead_count(),
        duration: started.elapsed()
    });
    (image, source)
}

fn empty(env: &TaskEnv) -> TaskImage {
    TaskImage {
        state: TaskState::default(),
        next_offsets: vec![FROM_BEGINNING; env.inputs.len()],
    }
}

/// The newest usable snapshot of `partition`, if any; fallbacks are counted.
fn from_snapshot(env: &TaskEnv, partition: i32) -> Option<TaskImage> {
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
    Some(TaskImage {
        state: r.state,
        next_offsets,
    })
}
