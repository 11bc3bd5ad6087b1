//! The snapshot directory under damage and concurrency: corrupt, truncated
//! and foreign files are skipped in favour of the previous snapshot, old
//! files are pruned, a stale writer stands down, and writes are atomic.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use std::borrow::Cow;

use leadscore::engine::TaskState;
use leadscore::event::{Event, EventBody, FormKind, WebContext};
use leadscore::model::Model;
use leadscore::snapshot::{inspect, Captured, SnapshotStore, WriteOutcome, HEADER_LEN};

/// A small state whose content depends on `n`, so snapshots differ:
/// `20 + n` leads with one page view each, every fifth an MQL through a
/// contact form instead.
fn state(n: usize) -> TaskState {
    let model = Model::builtin();
    let mut st = TaskState::default();
    for i in 0..(20 + n) {
        let body = if i % 5 == 0 {
            EventBody::Form {
                form: FormKind::ContactUs,
            }
        } else {
            EventBody::PageView {
                path: Cow::Owned(format!("/p{i}")),
                referrer: None,
                web: WebContext::default(),
            }
        };
        st.apply(
            &model,
            &Event {
                event_id: Cow::Owned(format!("e-{i}-{n}")),
                lead_id: Cow::Owned(format!("lead-{i:04}-{n}")),
                occurred_at_ms: 1_767_225_600_000 + n as i64,
                body,
            },
        );
    }
    st
}

fn capture(partition: i32, n: usize, offset: i64) -> Captured {
    SnapshotStore::capture(
        partition,
        &state(n),
        &[("page_views".to_string(), offset), ("forms".to_string(), 0)],
        "default-1234abcd",
        1_767_225_600_000 + n as i64,
    )
    .expect("a capture")
}

fn written(outcome: WriteOutcome) -> PathBuf {
    match outcome {
        WriteOutcome::Written { path, .. } => path,
        other => panic!("expected Written, got {other:?}"),
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn snapshot_files_are_named_by_offset_sum_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(&dir.path().join("new/nested"), 2).unwrap();
    let p = written(store.write(&capture(3, 1, 1234)).unwrap());
    assert_eq!(
        p,
        dir.path()
            .join("new/nested/task-00003/00000000000000001234-1767225600001.snap")
    );
}

#[test]
fn snapshot_corrupt_newest_falls_back_to_previous() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 3).unwrap();
    let old = written(store.write(&capture(1, 1, 100)).unwrap());
    let new = written(store.write(&capture(1, 2, 200)).unwrap());
    let mut bytes = fs::read(&new).unwrap();
    let mid = HEADER_LEN + (bytes.len() - HEADER_LEN) / 2;
    bytes[mid] ^= 0x40;
    fs::write(&new, &bytes).unwrap();

    let loaded = store.load_newest(1);
    let restored = loaded.snapshot.expect("the previous snapshot");
    assert_eq!(restored.path, old);
    assert_eq!(restored.offsets[0].1, 100);
    assert_eq!(restored.state.lead_count(), 21);
    assert_eq!(loaded.fallbacks.len(), 1);
    let f = &loaded.fallbacks[0];
    assert_eq!(f.path, new);
    assert_eq!(f.kind, "corrupt");
    assert!(f.detail.contains("checksum"), "{}", f.detail);
    assert!(
        f.detail.contains(&new.display().to_string()),
        "{}",
        f.detail
    );
}

#[test]
fn snapshot_truncated_newest_falls_back_to_previous() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 3).unwrap();
    let old = written(store.write(&capture(1, 1, 100)).unwrap());
    let new = written(store.write(&capture(1, 2, 200)).unwrap());
    let len = fs::metadata(&new).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&new)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let loaded = store.load_newest(1);
    assert_eq!(loaded.snapshot.unwrap().path, old);
    assert_eq!(loaded.fallbacks.len(), 1);
    assert_eq!(loaded.fallbacks[0].kind, "truncated");

    assert!(Path::new(&format!("{}.corrupt", new.display())).exists());

    // Cut inside the header too.
    let new = written(store.write(&capture(1, 3, 300)).unwrap());
    fs::OpenOptions::new()
        .write(true)
        .open(&new)
        .unwrap()
        .set_len(10)
        .unwrap();
    let loaded = store.load_newest(1);
    assert_eq!(loaded.snapshot.unwrap().path, old);
    assert_eq!(loaded.fallbacks.len(), 1);
    assert_eq!(loaded.fallbacks[0].kind, "truncated");
}

#[test]
fn snapshot_garbage_and_unreadable_files_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 3).unwrap();
    let good = written(store.write(&capture(2, 1, 100)).unwrap());
    let task = store.task_dir(2);
    // Named like newer snapshots: random bytes, an empty file, a valid
    // header over a garbage body (checksum matches the garbage), a directory.
    fs::write(
        task.join("00000000000000000900-1.snap"),
        b"this is not a snapshot at all",
    )
    .unwrap();
    fs::write(task.join("00000000000000000800-1.snap"), b"").unwrap();
    let body = b"\xff\xff\xff\xff garbage body \x00\x01".to_vec();
    let mut framed = leadscore::snapshot::Header::new(body.len() as u64, crc32fast::hash(&body))
        .to_bytes()
        .to_vec();
    framed.extend_from_slice(&body);
    fs::write(task.join("00000000000000000700-1.snap"), &framed).unwrap();
    fs::create_dir(task.join("00000000000000000600-1.snap")).unwrap();
    // Not named like a snapshot: ignored.
    fs::write(task.join("notes.txt"), b"hello").unwrap();

    let loaded = store.load_newest(2);
    assert_eq!(loaded.snapshot.expect("the good one").path, good);
    let kinds: Vec<&str> = loaded.fallbacks.iter().map(|f| f.kind).collect();
    assert_eq!(kinds, ["corrupt", "truncated", "corrupt", "unreadable"]);
    assert!(
        loaded.fallbacks[2].detail.contains("does not decode"),
        "{}",
        loaded.fallbacks[2].detail
    );

    // Damaged files were moved aside (kept for investigation), so a writer
    // behind those bogus "newer" files is not stopped by them.
    let left = names(&task);
    for n in ["900", "800", "700"] {
        let name = format!("00000000000000000{n}-1.snap");
        assert!(!left.contains(&name), "{left:?}");
        assert!(left.contains(&format!("{name}.corrupt")), "{left:?}");
    }
    assert!(loaded.fallbacks[0].detail.contains("moved aside"));
    assert!(matches!(
        store.write(&capture(2, 3, 150)).unwrap(),
        WriteOutcome::Written { .. }
    ));
    // Quarantined files are not snapshots any more: nothing to fall back over.
    let again = store.load_newest(2);
    assert_eq!(again.snapshot.unwrap().offsets[0].1, 150);
    assert_eq!(again.fallbacks.len(), 1, "only the directory is left");
}

#[test]
fn snapshot_missing_task_directory_is_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let loaded = store.load_newest(9);
    assert!(loaded.snapshot.is_none());
    assert!(loaded.fallbacks.is_empty());
}

#[test]
fn snapshot_file_of_another_partition_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let p = written(store.write(&capture(1, 1, 100)).unwrap());
    fs::create_dir_all(store.task_dir(2)).unwrap();
    fs::copy(&p, store.task_dir(2).join(p.file_name().unwrap())).unwrap();
    let loaded = store.load_newest(2);
    assert!(loaded.snapshot.is_none());
    assert_eq!(loaded.fallbacks[0].kind, "corrupt");
    assert!(loaded.fallbacks[0].detail.contains("partition 1"));
}

#[test]
fn snapshot_keeps_only_the_newest_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let mut paths = Vec::new();
    for (n, off) in [(1, 10), (2, 20), (3, 30), (4, 40)] {
        paths.push(written(store.write(&capture(5, n, off)).unwrap()));
    }
    let left = names(&store.task_dir(5));
    assert_eq!(
        left,
        vec![
            paths[2].file_name().unwrap().to_string_lossy().into_owned(),
            paths[3].file_name().unwrap().to_string_lossy().into_owned(),
        ]
    );
    assert_eq!(store.list(5).unwrap()[0].path, paths[3]);
    assert_eq!(store.load_newest(5).snapshot.unwrap().offsets[0].1, 40);
}

#[test]
fn snapshot_stale_writer_never_replaces_a_newer_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    // Another instance took the task over and got to offset 500.
    let theirs = written(store.write(&capture(6, 2, 500)).unwrap());
    let before = names(&store.task_dir(6));
    // The old owner's final snapshot covers less.
    match store.write(&capture(6, 1, 300)).unwrap() {
        WriteOutcome::Stale { newer } => assert_eq!(newer, theirs),
        other => panic!("expected Stale, got {other:?}"),
    }
    assert_eq!(
        names(&store.task_dir(6)),
        before,
        "nothing written or deleted"
    );
    assert_eq!(store.load_newest(6).snapshot.unwrap().path, theirs);
    // Same progress is not stale (the state is the same by determinism).
    assert!(matches!(
        store.write(&capture(6, 3, 500)).unwrap(),
        WriteOutcome::Written { .. }
    ));
    // A different partition is unaffected.
    assert!(matches!(
        store.write(&capture(7, 1, 1)).unwrap(),
        WriteOutcome::Written { .. }
    ));
}

#[test]
fn snapshot_writes_leave_no_temp_files_and_clear_old_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let task = store.task_dir(8);
    fs::create_dir_all(&task).unwrap();
    // A crashed writer's leftover (an hour old) and one being written now.
    let crashed = task.join(".00000000000000000001-1.snap.tmp-999-0");
    fs::write(&crashed, b"partial").unwrap();
    fs::File::options()
        .write(true)
        .open(&crashed)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let in_progress = task.join(".00000000000000000002-1.snap.tmp-998-0");
    fs::write(&in_progress, b"partial").unwrap();

    for (n, off) in [(1, 10), (2, 20), (3, 30)] {
        written(store.write(&capture(8, n, off)).unwrap());
    }
    let left = names(&task);
    assert!(!left
        .iter()
        .any(|n| n == ".00000000000000000001-1.snap.tmp-999-0"));
    let temps: Vec<&String> = left.iter().filter(|n| n.starts_with('.')).collect();
    assert_eq!(
        temps,
        [&".00000000000000000002-1.snap.tmp-998-0".to_string()]
    );
    assert_eq!(left.iter().filter(|n| n.ends_with(".snap")).count(), 2);
}

#[test]
fn snapshot_inspect_reports_contents_and_checksum_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let p = written(store.write(&capture(4, 5, 1234)).unwrap());
    let ok = inspect(&p).unwrap();
    assert!(ok.checksum.is_ok());
    assert_eq!(ok.partition, 4);
    assert_eq!(ok.lead_count, 25);
    assert_eq!(ok.leads_by_stage, [20, 5, 0]);
    // A candidate per page view; a candidate, entry counts, one history
    // entry and the next decay check per contact form.
    assert_eq!(ok.slot_count, 20 + 5 * 4);
    assert_eq!(ok.seen_count, 25);
    assert_eq!(ok.offset_sum, 1234);
    assert_eq!(ok.model_version, "default-1234abcd");
    assert_eq!(ok.file_size, fs::metadata(&p).unwrap().len());
    let report = ok.to_string();
    assert!(report.contains("checksum        ok"), "{report}");
    assert!(report.contains("page_views=1234"), "{report}");
    assert!(report.contains("2026-01-01T00:00:00.005Z"), "{report}");

    // Damage the recorded checksum: the body still decodes, the report says so.
    let mut bytes = fs::read(&p).unwrap();
    bytes[21] ^= 0xff;
    fs::write(&p, &bytes).unwrap();
    let bad = inspect(&p).unwrap();
    assert!(!bad.checksum.is_ok());
    assert!(
        bad.to_string().contains("checksum        MISMATCH"),
        "{bad}"
    );
    assert_eq!(bad.lead_count, 25);

    let junk = dir.path().join("junk.snap");
    fs::write(&junk, b"junk").unwrap();
    let e = inspect(&junk).unwrap_err().to_string();
    assert!(
        e.contains("junk.snap") && e.contains("not a leadscore snapshot"),
        "{e}"
    );
}

/// Log lines written by `tracing` while a closure runs.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_of(f: impl FnOnce()) -> String {
    let buf = LogBuf::default();
    let w = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || w.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buf.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_stray_file_in_a_task_directory_is_named_in_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let store = SnapshotStore::open(dir.path(), 2).unwrap();
    let p = written(store.write(&capture(0, 3, 10)).unwrap());
    let task = store.task_dir(0);
    fs::write(task.join("backup-of-yesterday.snap"), b"x").unwrap();
    fs::write(task.join("notes.txt"), b"x").unwrap();
    // Files the store itself writes are not strays.
    fs::write(task.join(".00000000000000000001-1.snap.tmp-1-2"), b"x").unwrap();
    fs::write(task.join("00000000000000000001-1.snap.corrupt"), b"x").unwrap();

    let logs = logs_of(|| {
        for _ in 0..3 {
            let files = store.list(0).unwrap();
            assert_eq!(files.len(), 1);
            assert_eq!(files[0].path, p);
        }
    });
    for stray in ["backup-of-yesterday.snap", "notes.txt"] {
        let lines: Vec<&str> = logs.lines().filter(|l| l.contains(stray)).collect();
        assert_eq!(lines.len(), 1, "once per file: {logs}");
        assert!(lines[0].contains("WARN"), "{}", lines[0]);
    }
    assert!(
        !logs.contains(".tmp-") && !logs.contains(".corrupt"),
        "{logs}"
    );
}
