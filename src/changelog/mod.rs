//! The changelog: a task's state written to a compacted Kafka topic, so
//! that any instance can rebuild it without the disk of the one that owned
//! it (README "Recovery", `proto/leadscore/v1/changelog.proto`).
//!
//! Pure: this module encodes and decodes records (`record.rs`) and rebuilds
//! a state from the records of one partition (`image.rs`); reading and
//! writing the topic is the pipeline's (`pipeline/changelog_*.rs`).

/// Why a changelog record could not be used.
mod error;
/// Rebuilding a task's state from a partition's records.
mod image;
/// Record keys and values.
mod record;

pub use error::ChangelogError;
pub use image::{ChangelogImage, Rebuilt};
pub use record::{
    checkpoint_key, decode, encode_checkpoint, encode_lead, encode_seen, lead_key, seen_key,
    Checkpoint, Record, FORMAT, SEEN_BATCH,
};
pub(crate) use record::{encode_lead_block, encode_seen_runs, seen_batches};
