//! When each task running in this process last wrote a snapshot (or
//! started), so `leadscore_snapshot_age_seconds` is computed at scrape time:
//! it keeps growing when a task is stuck or its snapshot writes fail, which
//! is what the `LeadscoreSnapshotTooOld` alert is for.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per partition: the instant the age counts from, and how many running
/// tasks of this process own the partition (two instances in one test
/// process may briefly both hold it during a hand-over).
static CLOCKS: Mutex<BTreeMap<i32, (Instant, u32)>> = Mutex::new(BTreeMap::new());

/// The clocks, usable even after a panic elsewhere held the lock.
fn clocks() -> std::sync::MutexGuard<'static, BTreeMap<i32, (Instant, u32)>> {
    CLOCKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A task of `partition` started: its age counts from now unless another
/// running task of this process already holds a clock for it.
pub fn task_started(partition: i32) {
    let mut c = clocks();
    let entry = c.entry(partition).or_insert((Instant::now(), 0));
    entry.1 += 1;
}

/// A snapshot of `partition` was written: its age restarts at zero.
pub fn snapshot_written(partition: i32) {
    if let Some(entry) = clocks().get_mut(&partition) {
        entry.0 = Instant::now();
    }
}

/// A task of `partition` stopped. Returns true when no running task of
/// this process holds the partition any more (its clock is dropped).
pub fn task_stopped(partition: i32) -> bool {
    let mut c = clocks();
    match c.get_mut(&partition) {
        Some(entry) if entry.1 > 1 => {
            entry.1 -= 1;
            false
        }
        Some(_) => {
            c.remove(&partition);
            true
        }
        None => false,
    }
}

/// The current age of every running task's newest snapshot (or of the task).
pub fn ages() -> Vec<(i32, Duration)> {
    clocks()
        .iter()
        .map(|(p, (since, _))| (*p, since.elapsed()))
        .collect()
}
