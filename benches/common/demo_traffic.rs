//! The demo traffic the engine benches decode and apply: 50 000 leads, a
//! record every 2 s of event time, 2% bots, 1% producer retries, no
//! malformed records. Shared by `engine.rs` and `apply_cost.rs` through
//! `#[path]`, so both measure the same input.

use leadscore::demo::{Traffic, TrafficMix};

/// The generator for `seed`, starting at event time `start_ms`.
pub fn demo_traffic(seed: u64, start_ms: i64) -> Traffic {
    Traffic::new(
        seed,
        50_000,
        start_ms,
        2_000,
        TrafficMix {
            bots_per_mille: 20,
            duplicates_per_mille: 10,
            malformed_per_mille: 0,
        },
    )
}
