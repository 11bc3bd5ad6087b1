//! Synthetic marketing traffic for `leadscore demo`, the bench tool and
//! tests: realistic personas, a few bots, producer retries (duplicates) and
//! malformed records. Deterministic for a given seed.

mod mock_cluster;
mod producer;
mod traffic;

pub use mock_cluster::{InProcessCluster, MockClusterError};
pub use producer::{send_record, Stamp};
pub use traffic::{Record, Traffic, TrafficMix};
