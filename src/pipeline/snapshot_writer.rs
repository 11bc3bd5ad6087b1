//! Writing task snapshots off the task threads.
//!
//! A task captures its state at a processing position P (cheap, on its own
//! thread) and keeps going. The capture becomes a file only once every
//! output derived up to P is acknowledged ([`SnapshotDue`]); then it goes to
//! the one background writer, which writes, fsyncs and renames it and
//! rings the task's doorbell. So a snapshot never covers an unacknowledged
//! change, and processing never waits for the disk.

use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use super::doorbell::Doorbell;
use crate::emit;
use crate::snapshot::{Captured, SnapshotStore, WriteOutcome};
use crate::telemetry::events::{SnapshotFailed, SnapshotWritten};

/// A capture waiting for the acknowledgement of everything before it.
pub struct SnapshotDue {
    pub captured: Captured,
    /// Every output with a lower sequence number must be acknowledged first.
    pub needs: u64,
}

/// How a task's snapshots are doing; shared by the task, the writer and
/// readiness.
#[derive(Debug, Default)]
pub struct SnapshotStatus {
    inner: Mutex<StatusInner>,
}

#[derive(Debug, Default)]
struct StatusInner {
    /// A capture of this task is queued or being written.
    busy: bool,
    last_written: Option<Instant>,
    /// Since when writes keep failing (cleared by the next success).
    failing_since: Option<Instant>,
}

impl SnapshotStatus {
    fn lock(&self) -> std::sync::MutexGuard<'_, StatusInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a capture of this task is queued or being written.
    pub fn is_busy(&self) -> bool {
        self.lock().busy
    }

    /// When the newest snapshot of this task was written by this process.
    pub fn last_written(&self) -> Option<Instant> {
        self.lock().last_written
    }

    /// Since when snapshot writes have been failing, if they are.
    pub fn failing_since(&self) -> Option<Instant> {
        self.lock().failing_since
    }

    fn finished(&self, ok: bool) {
        let mut s = self.lock();
        s.busy = false;
        if ok {
            s.last_written = Some(Instant::now());
            s.failing_since = None;
        } else if s.failing_since.is_none() {
            s.failing_since = Some(Instant::now());
        }
    }
}

struct Job {
    captured: Captured,
    status: Arc<SnapshotStatus>,
    doorbell: Doorbell,
}

/// The background writer shared by all tasks of the process.
pub struct SnapshotWriter {
    store: SnapshotStore,
    tx: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl SnapshotWriter {
    /// Starts the writer thread for `store`.
    pub fn start(store: SnapshotStore) -> SnapshotWriter {
        let (tx, rx) = channel::<Job>();
        let s = store.clone();
        let thread = std::thread::Builder::new()
            .name("snapshot-writer".into())
            .spawn(move || {
                for job in rx {
                    let ok = write(&s, &job.captured);
                    job.status.finished(ok);
                    job.doorbell.ring();
                }
            })
            .expect("spawn the snapshot writer thread");
        SnapshotWriter {
            store,
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        }
    }

    /// The directory snapshots go to.
    pub fn store(&self) -> &SnapshotStore {
        &self.store
    }

    /// Queues a capture whose outputs are all acknowledged. The task's
    /// `doorbell` rings when it is written (or failed).
    pub fn submit(&self, captured: Captured, status: &Arc<SnapshotStatus>, doorbell: &Doorbell) {
        status.lock().busy = true;
        let job = Job {
            captured,
            status: status.clone(),
            doorbell: doorbell.clone(),
        };
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        match tx.as_ref() {
            Some(tx) => {
                if let Err(back) = tx.send(job) {
                    // The writer is gone (shutting down): write here.
                    let job = back.0;
                    let ok = write(&self.store, &job.captured);
                    job.status.finished(ok);
                }
            }
            None => {
                let ok = write(&self.store, &job.captured);
                job.status.finished(ok);
            }
        }
    }

    /// Writes a capture on the calling thread (a stopping task's last
    /// snapshot, so tasks stopping together write in parallel).
    pub fn write_now(&self, captured: &Captured, status: &SnapshotStatus) -> bool {
        let ok = write(&self.store, captured);
        status.finished(ok);
        ok
    }

    /// Finishes queued writes and stops the thread.
    pub fn stop(&self) {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

/// Writes one snapshot and reports it; returns whether it is in place.
fn write(store: &SnapshotStore, captured: &Captured) -> bool {
    let started = Instant::now();
    let partition = captured.partition();
    match store.write(captured) {
        Ok(WriteOutcome::Written { bytes, .. }) => {
            emit!(SnapshotWritten {
                partition,
                bytes,
                leads: captured.lead_count(),
                duration: started.elapsed()
            });
            true
        }
        Ok(WriteOutcome::Stale { newer }) => {
            tracing::warn!(partition, newer = %newer.display(), "snapshot not written: a newer one exists (another instance owns this task now)");
            true
        }
        Err(e) => {
            emit!(SnapshotFailed {
                partition,
                error: &e.to_string()
            });
            false
        }
    }
}
