//! One shutdown signal that reaches the consumer loop, every partition task,
//! the producer flush and the snapshot writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cheap, cloneable flag: set once, seen everywhere. Loops check it at
/// least every 100 ms.
#[derive(Clone, Default, Debug)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks every holder to finish in-flight work and stop.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}
