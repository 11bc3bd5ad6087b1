//! Liveness and readiness shared between the pipeline and `/readyz`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::emit;
use crate::engine::{LeadLookup, LeadState};
use crate::telemetry::events::Readiness;
use dashmap::DashMap;

/// What `/readyz` and `/leads/{id}` read. A cheap handle (`Arc` inside).
#[derive(Clone)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Set once the first assignment's tasks are restored and running.
    tasks_started: AtomicBool,
    /// Cleared while no broker is reachable.
    broker_up: AtomicBool,
    tasks: AtomicUsize,
    /// Lead lookups of the running tasks, by partition.
    leads: DashMap<i32, LeadLookup>,
}

impl Default for Health {
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
        emit!(Readiness(false));
        h
    }

    /// Ready: tasks restored and running, and the broker reachable.
    pub fn is_ready(&self) -> bool {
        self.inner.tasks_started.load(Ordering::SeqCst)
            && self.inner.broker_up.load(Ordering::SeqCst)
    }

    fn publish(&self) {
        emit!(Readiness(self.is_ready()));
    }

    pub fn set_tasks_started(&self, v: bool) {
        self.inner.tasks_started.store(v, Ordering::SeqCst);
        self.publish();
    }

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

    pub fn broker_up(&self) -> bool {
        self.inner.broker_up.load(Ordering::SeqCst)
    }

    /// Registers a running task's lead lookup (`TaskState::lookup`).
    pub fn add_task(&self, partition: i32, leads: LeadLookup) {
        self.inner.leads.insert(partition, leads);
        self.inner
            .tasks
            .store(self.inner.leads.len(), Ordering::SeqCst);
    }

    /// Forgets a stopped task.
    pub fn remove_task(&self, partition: i32) {
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
