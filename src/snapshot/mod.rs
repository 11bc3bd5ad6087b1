//! Task snapshots: the state of one task (one partition of the inbound
//! topics) plus the offsets it covers, written to disk so a restarted or
//! newly assigned instance resumes exactly where the last one stopped, with
//! exactly the same state (DESIGN.md "State, partitions, snapshots,
//! recovery").
//!
//! Follow one snapshot: [`SnapshotStore::capture`] encodes the state on the
//! task thread (`encode.rs`, protobuf written by hand with the primitives
//! of `wire.rs`), [`SnapshotStore::write`] frames it with a checksummed
//! header (`format.rs`) and puts it in place atomically (`store.rs`); on
//! assignment [`SnapshotStore::load_newest`] streams the newest file through
//! a checksumming window (`source.rs`) into the decoder (`decode.rs`),
//! falling back to older files when one is damaged; [`inspect()`]
//! (`inspect.rs`) reports on one file for `leadscore snapshot inspect`.
//! Errors are [`SnapshotError`] (`error.rs`).
//!
//! File layout: `<dir>/task-<partition, 5 digits>/<sum of next offsets, 20
//! digits>-<taken_at_ms>.snap`, a 24-byte header (magic `LSSNAP\0\x01`,
//! format version, body length, CRC-32 of the body) and the body, a
//! `leadscore.v1.Snapshot` protobuf message
//! (`proto/leadscore/v1/snapshot.proto`).

mod decode;
mod encode;
mod error;
mod format;
mod inspect;
mod source;
mod store;
mod wire;

pub use encode::{release_buffers, Captured};
pub use error::SnapshotError;
pub use format::{Header, FORMAT_VERSION, HEADER_LEN, MAGIC};
pub use inspect::{inspect, ChecksumStatus, Inspection};
pub use store::{Fallback, Loaded, Restored, SnapshotFile, SnapshotStore, WriteOutcome};
