//! The snapshot directory: one sub-directory per task, one file per
//! snapshot, named by progress so that "newest" is a directory listing away.
//!
//! `<dir>/task-<partition, 5 digits>/<sum of next offsets, 20 digits>-<taken_at_ms>.snap`
//!
//! Files only ever appear complete (temp file, fsync, rename, fsync dir),
//! a writer whose offsets are behind an existing snapshot stands down (it
//! lost the task to another instance), and a damaged newest file makes the
//! reader fall back to the one before it (the damaged file is renamed to
//! `<name>.corrupt` and kept for investigation; retention never deletes it).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use super::decode::decode_from;
use super::encode::{self, Captured};
use super::error::SnapshotError;
use super::format::{checksum_mismatch, Header, HEADER_LEN};
use super::source::SourceError;
use crate::engine::TaskState;

/// File name suffix of snapshot files.
const SUFFIX: &str = ".snap";

/// Appended to the name of a damaged snapshot found while loading.
const QUARANTINE_SUFFIX: &str = ".corrupt";

/// Temporary files older than this are leftovers of a crashed writer and
/// are removed by the next write to the same task directory.
const STALE_TEMP_AGE: Duration = Duration::from_secs(600);

/// Distinguishes temp files of concurrent writes within one process.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// A directory of task snapshots. Cheap to clone (a path and a number), so
/// each task's writer thread can hold its own.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    keep: usize,
}

/// What [`SnapshotStore::write`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The snapshot is durably in place at `path`.
    Written {
        /// The final file.
        path: PathBuf,
        /// File size (header + body).
        bytes: u64,
        /// Time spent writing (checksum, write, fsyncs, rename, retention).
        duration: Duration,
    },
    /// Not written: a snapshot of this partition covering more of the input
    /// exists, so another instance owns the task now and ours is outdated.
    Stale {
        /// The newer snapshot that won.
        newer: PathBuf,
    },
}

/// A snapshot file that [`SnapshotStore::load_newest`] could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The skipped file (or the task directory, if it could not be listed).
    pub path: PathBuf,
    /// `"corrupt"`, `"truncated"` or `"unreadable"`.
    pub kind: &'static str,
    /// Why, in words, for the log.
    pub detail: String,
}

/// The result of looking for a task's newest usable snapshot.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The newest snapshot that verified and decoded, if any.
    pub snapshot: Option<Restored>,
    /// Newer files that were skipped on the way, newest first.
    pub fallbacks: Vec<Fallback>,
}

/// A task's state as restored from a snapshot, and what it covers.
#[derive(Debug)]
pub struct Restored {
    /// The state, identical to the one captured.
    pub state: TaskState,
    /// Next offset of each inbound topic: where consumption resumes.
    pub offsets: Vec<(String, i64)>,
    /// Model the state was computed with (the caller decides what a
    /// mismatch with the running model means).
    pub model_version: String,
    /// Wall time the snapshot was taken, epoch ms.
    pub taken_at_ms: i64,
    /// Changelog offset to read from for anything newer (0: none recorded).
    pub changelog_next: i64,
    /// The file it came from.
    pub path: PathBuf,
}

/// One snapshot file of a task, as named on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotFile {
    /// Full path of the file.
    pub path: PathBuf,
    /// Sum of the next offsets it covers (from its name).
    pub offset_sum: u64,
    /// When it was taken, epoch ms (from its name).
    pub taken_at_ms: i64,
}

impl SnapshotStore {
    /// Opens (creating if needed) a snapshot directory that keeps the newest
    /// `keep` snapshots of each task (at least 1).
    pub fn open(dir: &Path, keep: usize) -> Result<SnapshotStore, SnapshotError> {
        fs::create_dir_all(dir).map_err(|source| SnapshotError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(SnapshotStore {
            dir: dir.to_path_buf(),
            keep: keep.max(1),
        })
    }

    /// The snapshot directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many snapshots are kept per task.
    pub fn keep(&self) -> usize {
        self.keep
    }

    /// The directory holding the snapshots of one partition's task.
    pub fn task_dir(&self, partition: i32) -> PathBuf {
        self.dir.join(format!("task-{partition:05}"))
    }

    /// Takes a consistent image of the state for a snapshot. Call it on the
    /// task thread between events; it copies nothing but the dedupe
    /// window's chunk pointers (microseconds at any size, see
    /// `engine::StateImage`), and the returned [`Captured`] is `Send`: the
    /// expensive part, encoding, happens in [`SnapshotStore::write`] (or
    /// [`Captured::encode`]) on another thread, while the task goes on.
    ///
    /// `None` while the previous capture of this state has not been encoded
    /// or dropped yet: one capture per task at a time (skip this snapshot,
    /// or wait for the previous write and try again).
    pub fn capture(
        partition: i32,
        state: &TaskState,
        offsets: &[(String, i64)],
        model_version: &str,
        taken_at_ms: i64,
    ) -> Option<Captured> {
        encode::capture(partition, state, offsets, model_version, taken_at_ms)
    }

    /// Encodes a captured snapshot (if not done yet) and writes it
    /// atomically (temp file in the task directory, write, fsync, rename,
    /// fsync directory), then keeps the newest `keep` good files of the task
    /// and deletes older ones. Runs off the task thread; a failed write can
    /// be retried with the same `Captured` (it keeps its encoded body).
    ///
    /// Returns [`WriteOutcome::Stale`] without writing when a snapshot of
    /// the partition with a larger offset sum exists: another instance took
    /// the task over and got further, and a stale writer must never replace
    /// its work.
    pub fn write(&self, captured: &Captured) -> Result<WriteOutcome, SnapshotError> {
        let started = Instant::now();
        let dir = self.task_dir(captured.partition);
        fs::create_dir_all(&dir).map_err(|source| SnapshotError::CreateDir {
            path: dir.clone(),
            source,
        })?;
        let sum = captured.offset_sum();
        let existing = list_dir(&dir)?;
        if let Some(newer) = existing
            .iter()
            .find(|f| f.offset_sum > sum && has_valid_frame(&f.path))
        {
            return Ok(WriteOutcome::Stale {
                newer: newer.path.clone(),
            });
        }
        let name = file_name(sum, captured.taken_at_ms);
        let path = dir.join(&name);
        let tmp = dir.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let bytes = match write_file(&tmp, captured.chunks()) {
            Ok(n) => n,
            Err(source) => {
                let _ = fs::remove_file(&tmp);
                return Err(SnapshotError::Write { path: tmp, source });
            }
        };
        if let Err(source) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(SnapshotError::Write { path, source });
        }
        sync_dir(&dir).map_err(|source| SnapshotError::Write {
            path: dir.clone(),
            source,
        })?;
        self.retain(&dir, &path);
        remove_stale_temps(&dir);
        Ok(WriteOutcome::Written {
            path,
            bytes,
            duration: started.elapsed(),
        })
    }

    /// The newest snapshot of a partition that verifies and decodes.
    /// Damaged or unreadable files are skipped (newest first) and reported
    /// in `fallbacks`; no snapshot at all is `snapshot: None`, not an error.
    /// Corrupt and truncated files are moved aside to `<name>.corrupt` so a
    /// later write is not mistaken for a stale one; unreadable ones (IO
    /// errors, a newer format) are left in place.
    pub fn load_newest(&self, partition: i32) -> Loaded {
        let dir = self.task_dir(partition);
        let mut loaded = Loaded::default();
        let files = match list_dir(&dir) {
            Ok(files) => files,
            Err(e) => {
                loaded.fallbacks.push(Fallback {
                    path: dir,
                    kind: e.fallback_kind(),
                    detail: e.to_string(),
                });
                return loaded;
            }
        };
        for f in files {
            match load_file(&f.path, Some(partition)) {
                Ok(r) => {
                    loaded.snapshot = Some(r);
                    break;
                }
                Err(e) => {
                    let kind = e.fallback_kind();
                    let mut detail = e.to_string();
                    if kind != "unreadable" {
                        detail.push_str(&quarantine(&f.path));
                    }
                    loaded.fallbacks.push(Fallback {
                        path: f.path,
                        kind,
                        detail,
                    });
                }
            }
        }
        loaded
    }

    /// Reads, verifies and decodes one snapshot file (any partition).
    pub fn load(path: &Path) -> Result<Restored, SnapshotError> {
        load_file(path, None)
    }

    /// The snapshot files of a partition, newest (largest offset sum, then
    /// latest `taken_at_ms`) first. Other files in the directory are
    /// ignored; one the store did not write gets a WARN naming it (once per
    /// process).
    pub fn list(&self, partition: i32) -> Result<Vec<SnapshotFile>, SnapshotError> {
        list_dir(&self.task_dir(partition))
    }

    /// Keeps the newest `keep` files with a valid frame and deletes every
    /// file older than the last of those; never deletes `just_written`.
    /// Failures are logged, not returned: the new snapshot is already safe.
    fn retain(&self, dir: &Path, just_written: &Path) {
        let files = match list_dir(dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list snapshots for retention");
                return;
            }
        };
        let mut valid = 0usize;
        for f in files {
            if valid >= self.keep && f.path != just_written {
                if let Err(e) = fs::remove_file(&f.path) {
                    tracing::warn!(path = %f.path.display(), error = %e, "cannot delete old snapshot; delete it by hand");
                }
                continue;
            }
            if f.path == just_written || has_valid_frame(&f.path) {
                valid += 1;
            }
        }
    }
}

/// Name of a snapshot file: progress first so names sort by it.
fn file_name(offset_sum: u64, taken_at_ms: i64) -> String {
    format!("{offset_sum:020}-{}{SUFFIX}", taken_at_ms.max(0))
}

/// Parses a name written by [`file_name`].
fn parse_name(name: &str) -> Option<(u64, i64)> {
    let stem = name.strip_suffix(SUFFIX)?;
    let (sum, taken) = stem.split_once('-')?;
    if sum.len() != 20 || !sum.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if taken.is_empty() || !taken.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((sum.parse().ok()?, taken.parse().ok()?))
}

/// The snapshot files in a task directory, newest first (a missing
/// directory has none).
fn list_dir(dir: &Path) -> Result<Vec<SnapshotFile>, SnapshotError> {
    let read_err = |source| SnapshotError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(read_err(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name();
        let Some((offset_sum, taken_at_ms)) = name.to_str().and_then(parse_name) else {
            if !name.to_str().is_some_and(is_ours) {
                warn_stray(&entry.path());
            }
            continue;
        };
        files.push(SnapshotFile {
            path: entry.path(),
            offset_sum,
            taken_at_ms,
        });
    }
    files.sort_by(|a, b| {
        (b.offset_sum, b.taken_at_ms, &b.path).cmp(&(a.offset_sum, a.taken_at_ms, &a.path))
    });
    Ok(files)
}

/// Whether a name that is not a snapshot's is still one the store writes:
/// a temp file of a writer (`.<name>.tmp-…`) or a damaged snapshot moved
/// aside (`<name>.corrupt`).
fn is_ours(name: &str) -> bool {
    (name.starts_with('.') && name.contains(".tmp-"))
        || name
            .strip_suffix(QUARANTINE_SUFFIX)
            .is_some_and(|n| parse_name(n).is_some())
}

/// Paths already warned about, so a stray file is named once per process,
/// not on every listing.
static STRAY_WARNED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Logs a WARN naming a file in a task directory that the store did not
/// write (a copy left by hand, a file of another tool): it is never read,
/// restored or deleted, and an operator who put it there expecting it to be
/// used should hear so.
fn warn_stray(path: &Path) {
    let mut warned = STRAY_WARNED.lock().unwrap_or_else(|e| e.into_inner());
    if warned
        .get_or_insert_with(HashSet::new)
        .insert(path.to_path_buf())
    {
        tracing::warn!(
            path = %path.display(),
            "ignoring a file that is not a snapshot in the snapshot directory (snapshots are named <20-digit offset sum>-<taken_at ms>.snap)"
        );
    }
}

/// Whether a file starts with a valid header and has exactly the length it
/// announces: the cheap check (no checksum) used to decide whether a file
/// counts as a snapshot when writing.
fn has_valid_frame(path: &Path) -> bool {
    let check = || -> io::Result<bool> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        let mut head = [0u8; HEADER_LEN];
        let n = read_up_to(&mut f, &mut head)?;
        Ok(Header::parse(path, &head[..n], len).is_ok())
    };
    check().unwrap_or(false)
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Writes header + body (given as consecutive chunks) to a new file and
/// fsyncs it; returns its size. The checksum is computed piece by piece
/// while writing (each piece is still in cache), and the header filled in last.
fn write_file(path: &Path, chunks: &[Vec<u8>]) -> io::Result<u64> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(path)?;
    f.write_all(&[0u8; HEADER_LEN])?;
    let mut crc = crc32fast::Hasher::new();
    let mut len = 0u64;
    for chunk in chunks {
        crc.update(chunk);
        f.write_all(chunk)?;
        len += chunk.len() as u64;
    }
    let header = Header::new(len, crc.finalize());
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&header.to_bytes())?;
    f.sync_all()?;
    Ok(HEADER_LEN as u64 + len)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes temp files that crashed writers left behind.
fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with('.') && name.contains(".tmp-")) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > STALE_TEMP_AGE);
        if old {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Moves a damaged snapshot aside (`<name>.corrupt`, which no longer
/// matches the snapshot pattern), so it neither counts as "newer" for the
/// stale-writer check nor takes a retention slot, yet stays on disk for
/// investigation. Returns a note for the fallback detail.
fn quarantine(path: &Path) -> String {
    let mut aside = path.as_os_str().to_owned();
    aside.push(QUARANTINE_SUFFIX);
    let aside = PathBuf::from(aside);
    match fs::rename(path, &aside) {
        Ok(()) => format!(" (moved aside to {})", aside.display()),
        Err(e) => format!(" (could not move it aside: {e})"),
    }
}

/// Threads used to decode one large snapshot.
fn decode_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
}

/// Reads, verifies and decodes one file, checking its partition if given.
/// The body is streamed and decoded in one pass; the checksum, computed on
/// the way, decides at the end whether the result is used.
fn load_file(path: &Path, partition: Option<i32>) -> Result<Restored, SnapshotError> {
    let read_err = |source| SnapshotError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let file_len = file.metadata().map_err(read_err)?.len();
    let mut head = [0u8; HEADER_LEN];
    let n = read_up_to(&mut file, &mut head).map_err(read_err)?;
    let header = Header::parse(path, &head[..n], file_len)?;
    let (result, crc) = catch_unwind(AssertUnwindSafe(|| {
        decode_from(&mut file, header.body_len, decode_threads())
    }))
    .unwrap_or_else(|_| {
        (
            Err(SourceError::Wire(super::wire::WireError {
                at: 0,
                what: "the decoder panicked (a bug: please report it with this file)".into(),
            })),
            None,
        )
    });
    if let Some(actual) = crc {
        if actual != header.crc32 {
            return Err(SnapshotError::Corrupt {
                path: path.to_path_buf(),
                detail: checksum_mismatch(header.crc32, actual, header.body_len),
            });
        }
    }
    let decoded = match result {
        Ok(d) => d,
        Err(SourceError::Io(source)) => return Err(read_err(source)),
        Err(SourceError::Wire(e)) => {
            return Err(SnapshotError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("the checksum matches but the body does not decode: {e}"),
            })
        }
    };
    if let Some(p) = partition {
        if decoded.partition != p {
            return Err(SnapshotError::Corrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "it holds partition {} but lies in the directory of partition {p}",
                    decoded.partition
                ),
            });
        }
    }
    Ok(Restored {
        state: decoded.state,
        offsets: decoded.offsets,
        model_version: decoded.model_version,
        taken_at_ms: decoded.taken_at_ms,
        changelog_next: decoded.changelog_next,
        path: path.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_sort_by_progress() {
        let n = file_name(123, 1_700_000_000_000);
        assert_eq!(n, "00000000000000000123-1700000000000.snap");
        assert_eq!(parse_name(&n), Some((123, 1_700_000_000_000)));
        assert_eq!(parse_name(&file_name(u64::MAX, -5)), Some((u64::MAX, 0)));
        for bad in [
            "123-4.snap",
            "00000000000000000123-.snap",
            "00000000000000000123-4.snap.tmp",
            ".00000000000000000123-4.snap.tmp-1-2",
            "00000000000000000123-x.snap",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }
}
