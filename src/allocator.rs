//! The memory allocator of everything built on this crate (the binary, its
//! tests and benchmarks, so what is measured is what ships): mimalloc, for
//! Rust's allocations and, through mimalloc's `override` feature, for the C
//! code linked in as well (librdkafka's `malloc`/`free` resolve to
//! mimalloc's).
//!
//! glibc's allocator spent about a third of a changelog restore's time in
//! `malloc_consolidate` and chunk unlinking with one thread per task; the
//! engine allocates one block per lead and the pipeline one buffer per
//! record, in many threads. librdkafka allocates and frees a buffer per
//! fetch response and per message; with glibc's allocator a backlog took
//! about 700 000 page faults and a fifth more CPU (BENCHMARKS.md has the
//! figures either way).

use libmimalloc_sys::{mi_option_set, mi_option_t};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`: its place in `mi_option_e` is 15 in both the
/// v2 and the v3 header of the pinned libmimalloc-sys (the crate's own
/// constants do not name it).
const PURGE_DELAY: mi_option_t = 15;

/// How long freed memory stays with the process before it is given back to
/// the kernel, when `MIMALLOC_PURGE_DELAY` does not say: longer than the
/// changelog's 30 s catch-up interval, so each flush reuses the pages the
/// one before freed instead of having fresh ones zeroed (mimalloc v3's
/// default is 1 s). BENCHMARKS.md ("seventh session"): 5–15% less CPU per
/// record for the whole pipeline while catching up.
const DEFAULT_PURGE_DELAY_MS: i64 = 60_000;

/// Sets the purge delay unless the environment chose one; call it first
/// thing in `main`.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is a plain store into mimalloc's option
        // table, valid at any time and from any thread.
        unsafe { mi_option_set(PURGE_DELAY, DEFAULT_PURGE_DELAY_MS as _) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::{mi_is_in_heap_region, mi_option_get};

    /// The purge delay in effect, in ms.
    fn purge_delay_ms() -> i64 {
        // SAFETY: reading an option is a load from mimalloc's option table.
        unsafe { mi_option_get(PURGE_DELAY) as i64 }
    }

    #[test]
    fn the_purge_delay_option_is_the_one_the_environment_sets() {
        // mimalloc read MIMALLOC_PURGE_DELAY (or v3's default, 1 000 ms) at
        // start: the index must name that option, not another.
        let expected = std::env::var("MIMALLOC_PURGE_DELAY")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        assert_eq!(purge_delay_ms(), expected);
        keep_freed_memory();
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(purge_delay_ms(), DEFAULT_PURGE_DELAY_MS);
        }
    }

    #[test]
    fn c_code_allocates_from_mimalloc() {
        // librdkafka calls the C library's `malloc`; with the override it
        // must land in mimalloc's heap, not glibc's.
        // SAFETY: a plain malloc/free pair of a small block.
        unsafe {
            let p = libc::malloc(4096);
            assert!(!p.is_null());
            let ours = mi_is_in_heap_region(p);
            libc::free(p);
            assert!(ours, "libc::malloc did not return mimalloc memory");
        }
    }
}
