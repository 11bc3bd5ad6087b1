//! Liveness and readiness shared between the pipeline and `/readyz`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::emit;
use crate::engine::{LeadLookup, LeadState};
use crate::telemetry::events::{InboundTopics, Readiness, TaskStarted, TaskStopped};
use crate::telemetry::readiness::{self, TaskProgress};
use dashmap::DashMap;

/// What `/readyz` and `/leads/{id}` read. A cheap handle (`Arc` inside).
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

/// The shared state behind a [`Health`] handle.
#[derive(Default)]
struct Inner {
    /// Set once the first assignment's tasks are restored and running.
    tasks_started: AtomicBool,
    /// Cleared while no broker is reachable.
    broker_up: AtomicBool,
    tasks: AtomicUsize,
    /// Lead lookups of the running tasks, by partition.
    leads: DashMap<i32, LeadLookup>,
    /// Inbound topic names, for the per-partition series of a new task.
    topics: Mutex<Vec<String>>,
    /// Set when the group session was lost (revoked as lost), until the
    /// next assignment is restored.
    session_lost: AtomicBool,
    /// What each running task reports, by partition.
    progress: DashMap<i32, Arc<TaskProgress>>,
    /// Consumer lag by (topic, partition), from the client's statistics.
    lag: DashMap<(String, i32), i64>,
    /// `[limits] stuck_after_secs`, in seconds (60 until configured).
    stuck_after_secs: AtomicU64,
}

impl Default for Health {
    /// Same as [`Health::new`].
    fn default() -> Health {
        Health::new()
    }
}

impl Health {
    /// Not ready (no tasks yet); the broker is presumed reachable until a
    /// client error or the statistics say otherwise.
    pub fn new() -> Health {
        let h = Health {
            inner: Arc::new(Inner::default()),
        };
        h.inner.broker_up.store(true, Ordering::SeqCst);
        h.inner.stuck_after_secs.store(60, Ordering::SeqCst);
        emit!(Readiness(false));
        h
    }

    /// Exports readiness and the zero series of each inbound topic of
    /// `config`. Called by the service once the Prometheus recorder is
    /// installed (a `Health` is often made before it, when metrics go nowhere).
    pub fn register_metrics(&self, config: &Config) {
        let topics: Vec<String> = config
            .topics
            .inbound()
            .into_iter()
            .map(|(_, t)| t.name)
            .collect();
        emit!(InboundTopics(&topics));
        *self.inner.topics.lock().unwrap_or_else(|e| e.into_inner()) = topics;
        self.inner
            .stuck_after_secs
            .store(config.limits.stuck_after_secs, Ordering::SeqCst);
        self.publish();
    }

    /// `Ok` when ready (see `readiness.rs`), else why not.
    pub fn readiness(&self) -> Result<(), String> {
        let now = Instant::now();
        let tasks = self
            .inner
            .progress
            .iter()
            .map(|e| {
                let p = *e.key();
                let lag: i64 = self
                    .inner
                    .lag
                    .iter()
                    .filter(|l| l.key().1 == p)
                    .map(|l| *l.value())
                    .sum();
                (p, e.value().view(now, lag))
            })
            .collect();
        readiness::decide(&readiness::Inputs {
            broker_up: self.inner.broker_up.load(Ordering::SeqCst),
            session_lost: self.inner.session_lost.load(Ordering::SeqCst),
            restored: self.inner.tasks_started.load(Ordering::SeqCst),
            tasks,
            stuck_after: Duration::from_secs(self.inner.stuck_after_secs.load(Ordering::SeqCst)),
        })
    }

    /// Ready: see [`Health::readiness`].
    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }

    /// Exports the current readiness as `leadscore_ready` (also called
    /// before each scrape, since a stuck task turns it false with time).
    pub fn publish(&self) {
        emit!(Readiness(self.is_ready()));
    }

    /// Records whether this instance's tasks are restored and running; a
    /// restored assignment ends a lost session.
    pub fn set_tasks_started(&self, v: bool) {
        self.inner.tasks_started.store(v, Ordering::SeqCst);
        if v {
            self.inner.session_lost.store(false, Ordering::SeqCst);
        }
        self.publish();
    }

    /// The group revoked the assignment as lost (session timeout).
    pub fn set_session_lost(&self) {
        if !self.inner.session_lost.swap(true, Ordering::SeqCst) {
            tracing::warn!("consumer group session lost; not ready until the partitions are assigned and restored again");
        }
        self.publish();
    }

    /// A task started: the handle it reports its progress through.
    pub fn track_task(&self, partition: i32) -> Arc<TaskProgress> {
        let p = Arc::new(TaskProgress::new());
        self.inner.progress.insert(partition, p.clone());
        p
    }

    /// The consumer lag of one inbound partition (statistics).
    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.inner.lag.insert((topic.to_string(), partition), lag);
    }

    /// Records whether a broker is reachable; logs each change once.
    pub fn set_broker_up(&self, v: bool) {
        if self.inner.broker_up.swap(v, Ordering::SeqCst) != v {
            if v {
                tracing::info!("broker reachable again");
            } else {
                tracing::warn!("no broker reachable; not ready");
            }
        }
        self.publish();
    }

    /// Whether a broker is reachable (for `/readyz`'s reason).
    pub fn broker_up(&self) -> bool {
        self.inner.broker_up.load(Ordering::SeqCst)
    }

    /// Registers a running task's lead lookup (`TaskState::lookup`) and
    /// exports its per-partition series.
    pub fn add_task(&self, partition: i32, leads: LeadLookup, lead_count: usize) {
        emit!(TaskStarted {
            partition,
            topics: &self.inner.topics.lock().unwrap_or_else(|e| e.into_inner()),
            leads: lead_count,
        });
        self.inner.leads.insert(partition, leads);
        self.inner
            .tasks
            .store(self.inner.leads.len(), Ordering::SeqCst);
    }

    /// Forgets a stopped task.
    pub fn remove_task(&self, partition: i32) {
        emit!(TaskStopped { partition });
        self.inner.progress.remove(&partition);
        self.inner.lag.retain(|k, _| k.1 != partition);
        self.inner.leads.remove(&partition);
        self.inner
            .tasks
            .store(self.inner.leads.len(), Ordering::SeqCst);
    }

    /// A copy of a lead's state and its partition, if a running task holds it.
    pub fn lead(&self, lead_id: &str) -> Option<(i32, LeadState)> {
        self.inner
            .leads
            .iter()
            .find_map(|e| e.value().get(lead_id).map(|l| (*e.key(), l)))
    }
}
