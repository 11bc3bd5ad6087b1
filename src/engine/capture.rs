//! Copy-on-write images of a task's state, for snapshots that do not stop
//! the task. Taking an image costs the task thread almost nothing; the
//! snapshot writer then walks the *live* lead table on its own thread, one
//! shard lock at a time, and still sees every lead exactly as it was when
//! the image was taken:
//!
//! - each lead carries a parity bit; taking an image flips the task's
//!   parity, so every lead is "not yet accounted for";
//! - before the task changes or removes such a lead it saves a copy of it
//!   (a pre-image) for the writer and flips the lead's bit; leads created
//!   after the image get the new parity at once;
//! - the writer encodes each lead whose bit is still old, flipping it, and
//!   then the saved pre-images.
//!
//! Both sides flip the bit under the lead's shard lock, so each lead is
//! seen once, either live (unchanged since the image) or as its pre-image.
//! Only one image of a task may be alive at a time; an image dropped
//! without being walked finishes the walk (marking only) when dropped, so
//! the next one starts from leads that all carry the same parity.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use super::dedupe::SeenImage;
use super::lead_block::LeadBlock;
use super::lead_table::{LeadTable, SHARDS};

/// How many leads ahead of the encoder the walk prefetches.
const PREFETCH_AHEAD: usize = 8;

/// Copies of leads the task changed before the writer reached them.
#[derive(Debug, Default)]
pub(crate) struct PreImages {
    leads: Mutex<Vec<LeadBlock>>,
}

/// The task's side of the protocol: its current parity and the pre-image
/// buffer of the image being walked, if one is alive. Interior mutability
/// (only the task thread changes it) lets an image be taken from `&TaskState`.
#[derive(Debug, Default)]
pub(crate) struct CaptureHooks {
    parity: AtomicBool,
    pending: Mutex<Weak<PreImages>>,
}

impl CaptureHooks {
    /// The parity new leads are created with.
    #[inline(always)]
    pub(crate) fn parity(&self) -> bool {
        self.parity.load(Ordering::Relaxed)
    }

    /// Called (under the lead's shard lock) before the task changes or
    /// removes a lead: saves its pre-image if an image still needs it.
    #[inline(always)]
    pub(crate) fn touch(&self, lead: &mut LeadBlock) {
        if lead.parity() != self.parity() {
            self.save(lead);
        }
    }

    #[cold]
    fn save(&self, lead: &mut LeadBlock) {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .upgrade();
        if let Some(pre) = pending {
            pre.leads
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(lead.clone());
        }
        lead.set_parity(self.parity());
    }

    /// Whether an image of this task is still alive.
    pub(crate) fn busy(&self) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .strong_count()
            > 0
    }

    /// Starts an image: flips the parity and opens a pre-image buffer.
    /// `None` while the previous image is alive.
    pub(crate) fn begin(&self) -> Option<(bool, Arc<PreImages>)> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.strong_count() > 0 {
            return None;
        }
        let parity = !self.parity();
        self.parity.store(parity, Ordering::Relaxed);
        let pre = Arc::new(PreImages::default());
        *pending = Arc::downgrade(&pre);
        Some((parity, pre))
    }
}

/// A consistent image of a task's state at one point of its processing,
/// cheap to take (see the module docs), `Send`, walked on another thread.
#[derive(Debug)]
pub struct StateImage {
    table: Arc<LeadTable>,
    parity: bool,
    pre: Arc<PreImages>,
    walked: bool,
    /// Leads at the image point.
    pub lead_count: usize,
    /// Event-time watermark at the image point (`i64::MIN` before any event).
    pub watermark_ms: i64,
    /// Last sweep boundary at the image point.
    pub last_sweep_ms: i64,
    /// The dedupe window at the image point.
    pub seen: SeenImage,
}

impl StateImage {
    pub(crate) fn new(
        table: Arc<LeadTable>,
        (parity, pre): (bool, Arc<PreImages>),
        lead_count: usize,
        watermark_ms: i64,
        last_sweep_ms: i64,
        seen: SeenImage,
    ) -> StateImage {
        StateImage {
            table,
            parity,
            pre,
            walked: false,
            lead_count,
            watermark_ms,
            last_sweep_ms,
            seen,
        }
    }

    /// Visits every lead of the image exactly once, as it was at the image
    /// point. `threads` walkers share the shards (each takes every n-th);
    /// `visit(walker, lead)` must be callable from all of them. Holds one
    /// shard lock at a time per walker. Can be done once.
    pub fn walk<F>(&mut self, threads: usize, visit: F)
    where
        F: Fn(usize, &LeadBlock) + Sync,
    {
        assert!(!self.walked, "an image is walked once");
        self.walked = true;
        let threads = threads.clamp(1, SHARDS);
        let (table, parity) = (&self.table, self.parity);
        let visit = &visit;
        let walker = move |k: usize| {
            let mut ahead: Vec<usize> = Vec::new();
            for i in (k..SHARDS).step_by(threads) {
                let mut shard = table.write_shard(i);
                // Blocks sit at random places in memory: start loading a
                // few ahead of the one being encoded (the addresses are
                // taken first; iterating an unchanged table twice visits
                // the same entries in the same order).
                ahead.clear();
                ahead.extend(shard.iter().map(LeadBlock::address));
                for (j, lead) in shard.iter_mut().enumerate() {
                    if let Some(&a) = ahead.get(j + PREFETCH_AHEAD) {
                        prefetch(a);
                    }
                    if lead.parity() != parity {
                        visit(k, lead);
                        lead.set_parity(parity);
                    }
                }
            }
        };
        if threads == 1 {
            walker(0);
        } else {
            std::thread::scope(|s| {
                for k in 1..threads {
                    s.spawn(move || walker(k));
                }
                walker(0);
            });
        }
        // Every lead not visited above was saved before its shard was
        // walked, so the buffer is complete now.
        let saved = std::mem::take(
            &mut *self
                .pre
                .leads
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for lead in &saved {
            visit(0, lead);
        }
    }
}

/// Asks the CPU to start loading the cache line at address `a`; a hint
/// only, never faults, no effect on other architectures.
#[inline(always)]
fn prefetch(a: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch has no architectural effect and cannot fault,
    // whatever the address (the intrinsic is only `unsafe` on older
    // compilers).
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(a as *const i8);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = a;
}

impl Drop for StateImage {
    /// Finishes the walk of an image nobody walked (marking only), so the
    /// next image starts from a table whose leads all carry one parity.
    fn drop(&mut self) {
        if !self.walked {
            self.walk(1, |_, _| {});
        }
    }
}
