//! Snapshot cost at scale (BENCHMARKS.md "Snapshots"):
//!
//! - **capture**: the stall on the task thread, `SnapshotStore::capture`
//!   (a copy-on-write image);
//! - **stall while encoding**: the longest single `apply` while the image
//!   is encoded on another thread, with the task applying events all along
//!   (it waits for at most one shard lock, and copies the leads it changes
//!   before the encoder reaches them);
//! - **encode** and **write** (checksum, write, fsync, rename), on the
//!   writer thread;
//! - **load**: read, verify, decode into a fresh task state (the restore
//!   after an assignment), on all cores.
//!
//! `cargo bench --bench snapshot` runs at 1M leads;
//! `LEADSCORE_BENCH_LEADS=10000000 cargo bench --bench snapshot` at 10M
//! (about 8 GB of RAM and 1.5 GB of disk for the temp directory; `TMPDIR`
//! chooses the disk). The state is built by applying events: five rounds
//! over all leads in time order (a page view, a profile, another page view,
//! a download, then a webinar registration or, for 15% of the leads, a
//! contact form that makes them MQLs), spread over 17.5 days of event time
//! so that the 7-day dedupe window holds about 2 entries per lead.
//! Lead ids are the demo's 36-character UUIDs.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use leadscore::demo::Traffic;
use leadscore::engine::TaskState;
use leadscore::event::{AssetKind, Event, EventBody, FormKind, Profile, WebContext, WebinarAction};
use leadscore::model::Model;
use leadscore::snapshot::{SnapshotStore, WriteOutcome};

/// A size from the environment (underscores allowed), or `default`.
fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Event `round` of lead `n` at `t`.
fn event(n: u64, round: u64, id: &str, t: i64) -> Event<'_> {
    let web = WebContext::default();
    let body = match round {
        0 => EventBody::PageView {
            path: Cow::Borrowed("/product"),
            referrer: None,
            web,
        },
        1 => EventBody::Profile(Profile {
            industry: Some(Cow::Borrowed("software")),
            employees: Some(300),
            annual_revenue_usd: None,
            country: Some(Cow::Borrowed("US")),
        }),
        2 => EventBody::PageView {
            path: Cow::Borrowed("/pricing-faq"),
            referrer: None,
            web,
        },
        3 => EventBody::Download {
            asset_id: Cow::Borrowed("wp-1"),
            asset_kind: AssetKind::Whitepaper,
        },
        _ if n % 100 < 15 => EventBody::Form {
            form: FormKind::ContactUs,
        },
        _ => EventBody::Webinar {
            webinar_id: Cow::Borrowed("w-1"),
            action: WebinarAction::Registered,
            minutes: None,
        },
    };
    Event {
        event_id: Cow::Owned(format!("e{round}-{n}")),
        lead_id: Cow::Borrowed(id),
        occurred_at_ms: t,
        body,
    }
}

/// Builds the state described in the module docs; returns it and the
/// event time after the last event.
fn build_state(model: &Model, leads: u64) -> (TaskState, i64) {
    let t0: i64 = 1_767_225_600_000;
    let span: i64 = 35 * 86_400_000 / 2;
    let ids: Vec<String> = (0..leads).map(Traffic::lead_id).collect();
    let mut st = TaskState::default();
    let total = 5 * leads;
    for round in 0..5 {
        for n in 0..leads {
            let k = round * leads + n;
            let t = t0 + (span as i128 * k as i128 / total as i128) as i64;
            st.apply(model, &event(n, round, &ids[n as usize], t));
        }
    }
    (st, t0 + span)
}

/// Next offsets of two inbound topics, growing with `n`.
fn offsets(n: i64) -> Vec<(String, i64)> {
    vec![
        ("leadscore.page_views".to_string(), n),
        ("leadscore.forms".to_string(), n / 10),
    ]
}

/// Encodes a capture (for callgrind: `LEADSCORE_BENCH_ONCE=1`).
#[inline(never)]
fn measure_encode(captured: &leadscore::snapshot::Captured) -> u64 {
    captured.body_len()
}

/// Loads the newest snapshot (for callgrind: `LEADSCORE_BENCH_ONCE=1`).
#[inline(never)]
fn measure_load(store: &SnapshotStore) -> usize {
    store
        .load_newest(0)
        .snapshot
        .expect("restored")
        .state
        .lead_count()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let leads = env_usize("LEADSCORE_BENCH_LEADS", 1_000_000) as u64;
    let model = Model::builtin();
    let t = Instant::now();
    let (mut state, mut now) = build_state(&model, leads);
    if env_usize("LEADSCORE_BENCH_ONCE", 0) == 1 {
        // One encode and one load, nothing concurrent: instruction counts
        // under `valgrind --tool=callgrind --toggle-collect='*measure_*'`.
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SnapshotStore::open(dir.path(), 2).expect("store");
        let c = SnapshotStore::capture(0, &state, &offsets(1), "m", 1).expect("capture");
        let bytes = measure_encode(&c);
        store.write(&c).expect("write");
        let n = measure_load(&store);
        println!("{leads} leads: {bytes} bytes, {n} restored");
        return;
    }
    println!(
        "snapshot bench: {leads} leads, {} dedupe entries; built in {:.1?}",
        state.seen().len(),
        t.elapsed()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SnapshotStore::open(dir.path(), 2).expect("store");

    for pass in 0..3 {
        // Capture on "the task thread" (here), encode and write on another
        // while this thread keeps applying events to leads spread over the
        // whole table, as a running task does.
        let captured =
            SnapshotStore::capture(0, &state, &offsets(1_000 + pass), "default-bench", 1)
                .expect("no capture in flight");
        let stall = captured.capture_duration();
        let writer = {
            let store = store.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let outcome = store.write(&captured).expect("write");
                let WriteOutcome::Written { bytes, .. } = outcome else {
                    panic!("not written: {outcome:?}")
                };
                (
                    bytes,
                    captured.encode_duration().expect("encoded"),
                    t.elapsed(),
                )
            })
        };
        let (mut applied, mut longest, mut busy) = (0u64, Duration::ZERO, Duration::ZERO);
        let ids: Vec<String> = (0..4096)
            .map(|i| Traffic::lead_id(i * (leads / 4096).max(1)))
            .collect();
        while !writer.is_finished() {
            now += 10;
            let n = applied % ids.len() as u64;
            let e = Event {
                event_id: Cow::Owned(format!("busy-{pass}-{applied}")),
                lead_id: Cow::Borrowed(&ids[n as usize]),
                occurred_at_ms: now,
                body: EventBody::PageView {
                    path: Cow::Borrowed("/during-snapshot"),
                    referrer: None,
                    web: WebContext::default(),
                },
            };
            let t = Instant::now();
            std::hint::black_box(state.apply(&model, &e));
            let d = t.elapsed();
            longest = longest.max(d);
            busy += d;
            applied += 1;
        }
        let (bytes, encode, write_total) = writer.join().expect("writer thread");
        let t = Instant::now();
        let loaded = store.load_newest(0);
        let load = t.elapsed();
        let restored = loaded.snapshot.expect("restored");
        assert_eq!(restored.state.lead_count() as u64, leads);
        drop(restored);
        println!(
            "pass {pass}: file {:.1} MB ({:.0} B/lead); capture stall {:.1?}; \
             encode {:.2?} + write {:.2?} (writer thread); \
             {applied} events applied meanwhile, longest apply {:.2?} (mean {:.2?}); load {:.2?}",
            bytes as f64 / 1e6,
            bytes as f64 / leads as f64,
            stall,
            encode,
            write_total.saturating_sub(encode),
            longest,
            busy / applied.max(1) as u32,
            load,
        );
    }
}
