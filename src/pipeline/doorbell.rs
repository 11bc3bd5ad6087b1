//! A doorbell wakes one sleeping partition task: its partition queues
//! became non-empty, an acknowledgement arrived, a snapshot finished, or
//! shutdown was asked for. Whoever rings does not need to know why the task
//! sleeps, and the task does not poll for any of these.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

/// A sticky wake-up flag: a ring while the task is busy is remembered, so
/// the next [`Doorbell::wait`] returns at once and no wake-up is lost
/// between "nothing to do" and "go to sleep". Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct Doorbell {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl Doorbell {
    pub fn new() -> Doorbell {
        Doorbell::default()
    }

    /// Wakes the task (or makes its next wait return at once). Only the
    /// ring that raises the flag notifies: while it is up the task either
    /// has not gone to sleep yet or has already been woken, so a second
    /// notification (a `futex` system call each) would wake nobody.
    pub fn ring(&self) {
        let (rung, cv) = &*self.inner;
        let was_up = std::mem::replace(&mut *rung.lock().unwrap_or_else(|e| e.into_inner()), true);
        if !was_up {
            cv.notify_one();
        }
    }

    /// A handle that rings this doorbell while it exists, without keeping
    /// it alive (for registries such as the shutdown signal).
    pub fn downgrade(&self) -> WeakDoorbell {
        WeakDoorbell(Arc::downgrade(&self.inner))
    }

    /// Sleeps until rung or until `timeout` passes, then clears the flag.
    /// Returns whether it was rung.
    pub fn wait(&self, timeout: Duration) -> bool {
        let (rung, cv) = &*self.inner;
        let guard = rung.lock().unwrap_or_else(|e| e.into_inner());
        let (mut guard, _) = cv
            .wait_timeout_while(guard, timeout, |r| !*r)
            .unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *guard, false)
    }
}

/// A [`Doorbell`] that may have gone away.
#[derive(Clone, Debug)]
pub struct WeakDoorbell(Weak<(Mutex<bool>, Condvar)>);

impl WeakDoorbell {
    /// Whether the doorbell still exists.
    pub fn is_alive(&self) -> bool {
        self.0.strong_count() > 0
    }

    /// Rings the doorbell if it still exists; returns whether it did.
    pub fn ring(&self) -> bool {
        match self.0.upgrade() {
            Some(inner) => {
                Doorbell { inner }.ring();
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_ring_before_the_wait_is_not_lost() {
        let d = Doorbell::new();
        d.ring();
        let t = Instant::now();
        assert!(d.wait(Duration::from_secs(10)));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(!d.wait(Duration::from_millis(1)), "the flag was cleared");
    }

    #[test]
    fn rings_while_the_flag_is_up_wake_the_waiter_once() {
        let d = Doorbell::new();
        d.ring();
        d.ring();
        assert!(d.wait(Duration::ZERO));
        assert!(!d.wait(Duration::ZERO), "the second ring left nothing");
        d.ring();
        assert!(d.wait(Duration::ZERO), "a ring after the wait counts again");
    }

    #[test]
    fn a_ring_from_another_thread_wakes_the_waiter() {
        let d = Doorbell::new();
        let d2 = d.clone();
        let h = std::thread::spawn(move || d2.wait(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        d.ring();
        assert!(h.join().unwrap());
    }
}
