//! When `/readyz` says ready, and why not otherwise. Ready means this
//! instance is doing its job: a broker answers, it is in the group with its
//! partitions restored, no task sits on records it cannot get through, and
//! snapshots are being written.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// What one task reports about itself, updated from its own thread.
#[derive(Debug)]
pub struct TaskProgress {
    origin: Instant,
    /// Milliseconds after `origin` of the last record processed or output acknowledged.
    last_progress_ms: AtomicI64,
    /// Records are waiting that the task cannot take (back-pressure, or a
    /// record held for a partition that is behind).
    blocked: AtomicBool,
    /// Milliseconds after `origin` since snapshot writes fail; -1 if they do not.
    snapshot_failing_ms: AtomicI64,
}

impl TaskProgress {
    pub fn new() -> TaskProgress {
        TaskProgress {
            origin: Instant::now(),
            last_progress_ms: AtomicI64::new(0),
            blocked: AtomicBool::new(false),
            snapshot_failing_ms: AtomicI64::new(-1),
        }
    }

    fn ms(&self, t: Instant) -> i64 {
        t.saturating_duration_since(self.origin).as_millis() as i64
    }

    /// The task processed records or saw outputs acknowledged.
    pub fn advanced(&self) {
        self.last_progress_ms
            .store(self.ms(Instant::now()), Ordering::Relaxed);
        self.blocked.store(false, Ordering::Relaxed);
    }

    /// Whether records are waiting that the task cannot take now.
    pub fn set_blocked(&self, blocked: bool) {
        self.blocked.store(blocked, Ordering::Relaxed);
    }

    /// Since when snapshot writes fail (`None`: they succeed).
    pub fn set_snapshot_failing(&self, since: Option<Instant>) {
        let v = since.map_or(-1, |t| self.ms(t));
        self.snapshot_failing_ms.store(v, Ordering::Relaxed);
    }

    /// This task's state at `now`, given its partition's consumer lag.
    pub fn view(&self, now: Instant, lag: i64) -> TaskView {
        let age =
            |ms: i64| now.saturating_duration_since(self.origin + Duration::from_millis(ms as u64));
        let failing = self.snapshot_failing_ms.load(Ordering::Relaxed);
        TaskView {
            since_progress: age(self.last_progress_ms.load(Ordering::Relaxed)),
            has_work: lag > 0 || self.blocked.load(Ordering::Relaxed),
            snapshot_failing_for: (failing >= 0).then(|| age(failing)),
        }
    }
}

impl Default for TaskProgress {
    fn default() -> Self {
        TaskProgress::new()
    }
}

/// One task as readiness sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskView {
    pub since_progress: Duration,
    /// Records wait for it (consumer lag, or records it holds but cannot take).
    pub has_work: bool,
    pub snapshot_failing_for: Option<Duration>,
}

/// Everything readiness depends on.
#[derive(Debug, Clone)]
pub struct Inputs {
    pub broker_up: bool,
    pub session_lost: bool,
    pub restored: bool,
    /// `(partition, view)` of every running task.
    pub tasks: Vec<(i32, TaskView)>,
    pub stuck_after: Duration,
}

/// `Ok` when ready, else the reasons, most basic first.
pub fn decide(i: &Inputs) -> Result<(), String> {
    if !i.broker_up {
        return Err("broker unreachable".into());
    }
    if i.session_lost {
        return Err("the consumer group session was lost; rejoining".into());
    }
    if !i.restored {
        return Err("partitions not restored yet".into());
    }
    let mut reasons = Vec::new();
    let stuck: Vec<String> = i
        .tasks
        .iter()
        .filter(|(_, t)| t.has_work && t.since_progress >= i.stuck_after)
        .map(|(p, t)| format!("{p} ({}s)", t.since_progress.as_secs()))
        .collect();
    if !stuck.is_empty() {
        reasons.push(format!(
            "tasks with records waiting made no progress for {}s or more: partitions {}",
            i.stuck_after.as_secs(),
            stuck.join(", ")
        ));
    }
    let failing: Vec<String> = i
        .tasks
        .iter()
        .filter_map(|(p, t)| {
            t.snapshot_failing_for
                .filter(|d| *d >= i.stuck_after)
                .map(|d| format!("{p} ({}s)", d.as_secs()))
        })
        .collect();
    if !failing.is_empty() {
        reasons.push(format!(
            "snapshot writes have been failing: partitions {}",
            failing.join(", ")
        ));
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(reasons.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(tasks: Vec<(i32, TaskView)>) -> Inputs {
        Inputs {
            broker_up: true,
            session_lost: false,
            restored: true,
            tasks,
            stuck_after: Duration::from_secs(60),
        }
    }

    fn view(since: u64, has_work: bool, failing: Option<u64>) -> TaskView {
        TaskView {
            since_progress: Duration::from_secs(since),
            has_work,
            snapshot_failing_for: failing.map(Duration::from_secs),
        }
    }

    #[test]
    fn idle_tasks_are_ready_and_stuck_ones_are_not() {
        assert_eq!(decide(&inputs(vec![(0, view(3600, false, None))])), Ok(()));
        assert_eq!(decide(&inputs(vec![(0, view(30, true, None))])), Ok(()));
        let e = decide(&inputs(vec![
            (0, view(10, true, None)),
            (3, view(61, true, None)),
        ]))
        .unwrap_err();
        assert!(e.contains("partitions 3 (61s)"), "{e}");
    }

    #[test]
    fn failing_snapshots_and_basics_make_it_unready_with_a_reason() {
        let e = decide(&inputs(vec![(1, view(0, false, Some(90)))])).unwrap_err();
        assert!(
            e.contains("snapshot writes") && e.contains("1 (90s)"),
            "{e}"
        );
        let mut i = inputs(vec![]);
        i.broker_up = false;
        assert_eq!(decide(&i), Err("broker unreachable".into()));
        i.broker_up = true;
        i.session_lost = true;
        assert!(decide(&i).unwrap_err().contains("session was lost"));
        i.session_lost = false;
        i.restored = false;
        assert!(decide(&i).unwrap_err().contains("not restored"));
    }

    #[test]
    fn a_task_view_follows_what_the_task_reports() {
        let p = TaskProgress::new();
        let now = Instant::now() + Duration::from_secs(100);
        let v = p.view(now, 0);
        assert!(v.since_progress >= Duration::from_secs(99) && !v.has_work);
        assert!(p.view(now, 5).has_work, "lag is work");
        p.set_blocked(true);
        assert!(p.view(now, 0).has_work);
        p.advanced();
        let v = p.view(Instant::now(), 0);
        assert!(!v.has_work && v.since_progress < Duration::from_secs(5));
        p.set_snapshot_failing(Some(Instant::now()));
        assert!(
            p.view(Instant::now() + Duration::from_secs(7), 0)
                .snapshot_failing_for
                .unwrap()
                >= Duration::from_secs(6)
        );
        p.set_snapshot_failing(None);
        assert_eq!(p.view(Instant::now(), 0).snapshot_failing_for, None);
    }
}
