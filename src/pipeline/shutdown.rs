//! One shutdown signal that reaches the consumer loop, every partition task,
//! the snapshot writer and the HTTP server at the same moment.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::doorbell::{Doorbell, WeakDoorbell};

/// A cheap, cloneable signal: set once, seen everywhere. Sleeping tasks
/// register their [`Doorbell`] and are woken by [`Shutdown::trigger`], so no
/// loop has to poll the flag to notice it; async code awaits
/// [`Shutdown::wait`].
#[derive(Clone, Debug)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    flag: AtomicBool,
    watch: watch::Sender<bool>,
    /// Weak, so tasks that ended do not keep their doorbells alive here.
    doorbells: Mutex<Vec<WeakDoorbell>>,
}

impl Default for Shutdown {
    fn default() -> Shutdown {
        Shutdown {
            inner: Arc::new(Inner {
                flag: AtomicBool::new(false),
                watch: watch::channel(false).0,
                doorbells: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks every holder to finish in-flight work and stop, and wakes every
    /// registered doorbell.
    pub fn trigger(&self) {
        self.inner.flag.store(true, Ordering::SeqCst);
        self.inner.watch.send_replace(true);
        let mut bells = self
            .inner
            .doorbells
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        bells.retain(WeakDoorbell::ring);
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Rings `doorbell` when shutdown is triggered (at once if it already
    /// was), for as long as the doorbell exists.
    pub fn subscribe(&self, doorbell: &Doorbell) {
        let mut bells = self
            .inner
            .doorbells
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        bells.retain(WeakDoorbell::is_alive);
        bells.push(doorbell.downgrade());
        drop(bells);
        if self.is_triggered() {
            doorbell.ring();
        }
    }

    /// Resolves once shutdown is triggered.
    pub async fn wait(&self) {
        let mut rx = self.inner.watch.subscribe();
        let _ = rx.wait_for(|v| *v).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn trigger_rings_subscribed_doorbells_and_late_subscribers() {
        let s = Shutdown::new();
        let early = Doorbell::new();
        s.subscribe(&early);
        s.trigger();
        assert!(early.wait(Duration::from_secs(5)));
        let late = Doorbell::new();
        s.subscribe(&late);
        assert!(late.wait(Duration::from_millis(1)), "already triggered");
    }

    #[test]
    fn subscriptions_of_dropped_doorbells_are_forgotten() {
        let s = Shutdown::new();
        for _ in 0..3 {
            s.subscribe(&Doorbell::new());
        }
        s.trigger();
        assert!(s.inner.doorbells.lock().unwrap().is_empty());
    }
}
