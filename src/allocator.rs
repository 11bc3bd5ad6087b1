//! The memory allocator of everything built on this crate (the binary, its
//! tests and benchmarks, so what is measured is what ships): mimalloc.
//!
//! glibc's allocator spent about a third of a changelog restore's time in
//! `malloc_consolidate` and chunk unlinking with one thread per task; the
//! engine allocates one block per lead and the pipeline one buffer per
//! record, in many threads. BENCHMARKS.md has the figures either way.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
