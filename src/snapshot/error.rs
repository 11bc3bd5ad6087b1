//! Why a snapshot could not be written, read or used. Every message names
//! the file or directory and says what to do about it, because these end
//! up in operator logs and in `leadscore snapshot inspect` output.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// A snapshot operation that failed.
#[derive(Debug, Error)]
pub enum SnapshotError {
    /// The snapshot directory (or a task directory in it) could not be made.
    #[error("cannot create snapshot directory {}: {source}; check that its parent exists and is writable, or point [snapshots] dir elsewhere", path.display())]
    CreateDir {
        /// The directory that could not be created.
        path: PathBuf,
        /// The underlying IO error.
        source: io::Error,
    },

    /// A snapshot file or directory could not be read.
    #[error("cannot read snapshot {}: {source}; check the path and its permissions", path.display())]
    Read {
        /// The file or directory that could not be read.
        path: PathBuf,
        /// The underlying IO error.
        source: io::Error,
    },

    /// Writing, syncing or renaming a snapshot failed.
    #[error("cannot write snapshot {}: {source}; check free disk space and the permissions of the snapshot directory (the previous snapshot stays in place)", path.display())]
    Write {
        /// The file being written (the temporary file, or the final name).
        path: PathBuf,
        /// The underlying IO error.
        source: io::Error,
    },

    /// The file does not start with the snapshot magic bytes.
    #[error("{} is not a leadscore snapshot (it does not start with the snapshot magic bytes); only files written by leadscore can be restored, remove it from the snapshot directory", path.display())]
    NotASnapshot {
        /// The offending file.
        path: PathBuf,
    },

    /// The file was written by a newer format this build cannot read.
    #[error("{} uses snapshot format version {found} but this build reads version {supported}; run a leadscore at least as new as the one that wrote it, or move the file away to rebuild the state from Kafka", path.display())]
    UnsupportedVersion {
        /// The offending file.
        path: PathBuf,
        /// The version in its header.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },

    /// The file is shorter than its header says (an interrupted copy, a full disk).
    #[error("{} is truncated: {detail}; it cannot be restored (the previous snapshot is used instead), remove it", path.display())]
    Truncated {
        /// The offending file.
        path: PathBuf,
        /// What is missing.
        detail: String,
    },

    /// The checksum does not match or the body does not decode.
    #[error("{} is corrupt: {detail}; it cannot be restored (the previous snapshot is used instead), remove it or keep it for investigation", path.display())]
    Corrupt {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
}

impl SnapshotError {
    /// The fallback kind this error is reported as when
    /// [`crate::snapshot::SnapshotStore::load_newest`] skips a file:
    /// `"corrupt"`, `"truncated"` or `"unreadable"` (also a metric label).
    pub fn fallback_kind(&self) -> &'static str {
        match self {
            SnapshotError::Truncated { .. } => "truncated",
            SnapshotError::Corrupt { .. } | SnapshotError::NotASnapshot { .. } => "corrupt",
            SnapshotError::CreateDir { .. }
            | SnapshotError::Read { .. }
            | SnapshotError::Write { .. }
            | SnapshotError::UnsupportedVersion { .. } => "unreadable",
        }
    }
}
