//! Task snapshots: the state of one task (one partition of the inbound
//! topics) plus the offsets it covers, written to disk so a restarted or
//! newly assigned instance resumes exactly where the last one stopped, with
//! exactly the same state (DESIGN.md "State, partitions, snapshots,
//! recovery").
//!
//! Follow one snapshot: [`SnapshotStore::capture`] takes a copy-on-write
//! image of the state on the task thread (microseconds), and
//! [`SnapshotStore::write`], on a writer thread, encodes it (`encode.rs`,
//! protobuf written by hand with the primitives of `wire.rs`), frames it
//! with a checksummed header (`format.rs`) and puts it in place atomically
//! (`store.rs`); on
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

/// Body bytes -> task state (streamed, parallel).
mod decode;
/// Task state -> image (task thread) -> body bytes (writer thread).
mod encode;
/// The error type, with messages that name the file and what to do.
mod error;
/// The file header: magic, version, length, checksum.
mod format;
/// The human report of `leadscore snapshot inspect`.
mod inspect;
/// Windowed, checksumming reading of a body from a file.
mod source;
/// The directory of snapshot files: naming, atomic writes, retention, fallback.
mod store;
/// Protobuf wire primitives and the field numbers of `snapshot.proto`.
mod wire;

pub use decode::lead_from_record;
pub(crate) use encode::append_lead_field;
pub use encode::{release_buffers, Captured};
pub use error::SnapshotError;
pub use format::{Header, FORMAT_VERSION, HEADER_LEN, MAGIC};
pub use inspect::{inspect, ChecksumStatus, Inspection};
pub use store::{Fallback, Loaded, Restored, SnapshotFile, SnapshotStore, WriteOutcome};
pub(crate) use wire::zigzag;
