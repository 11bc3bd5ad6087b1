//! The crash tests: the real binary, a fixed set of events, SIGKILL at ten
//! random points with a restart after each, or an instance of two that
//! dies (sharing a snapshot directory, or each with its own and the dead
//! one's deleted, so its tasks come back from the changelog), then: every
//! lead's final state equals an uninterrupted run's, and the distinct
//! change_ids on the output topic equal the uninterrupted run's.

mod kafka_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_harness::{headers, http_get, TestKafka};
use leadscore::codec::{decode_event, DecodeLimits, Format};
use leadscore::demo::{Traffic, TrafficMix};
use leadscore::engine::TaskState;
use leadscore::event::EventType;
use leadscore::model::Model;
use leadscore::snapshot::SnapshotStore;
use rand::{Rng, SeedableRng};

/// Sixteen partitions keep each page-view partition (about 1.7 MB) well under the
/// mock cluster's per-partition retention (about 5 MB), which would drop early records.
const PARTITIONS: i32 = 16;
/// At least 200k; `LEADSCORE_TEST_CRASH_EVENTS` changes it for a quick look.
fn events() -> usize {
    std::env::var("LEADSCORE_TEST_CRASH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000)
}
const KILLS: usize = 10;

struct Produced {
    key: String,
    partition: i32,
    type_idx: usize,
    offset: i64,
    ts: i64,
    payload: Vec<u8>,
}

fn start(config: &std::path::Path) -> Child {
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let log =
        std::fs::File::create(config.with_file_name(format!("run-{n}.log"))).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start leadscore")
}

/// The two configs of a scenario: `main` (the instance left running uses
/// it; its snapshots and metrics are checked at the end) and `other`, the
/// same but with a snapshot directory of its own.
struct Configs<'k> {
    main: std::path::PathBuf,
    /// `main`'s snapshot directory, another HTTP port.
    shared: std::path::PathBuf,
    other: std::path::PathBuf,
    other_snapshots: std::path::PathBuf,
    /// The HTTP addresses of `main` and `other`, for their metrics.
    main_http: std::net::SocketAddr,
    other_http: std::net::SocketAddr,
    kafka: &'k TestKafka,
}

impl Configs<'_> {
    /// Records in the changelog topic so far.
    fn changelog_records(&self) -> i64 {
        let topic = self.kafka.topic("changelog");
        self.kafka
            .end_offsets(&[topic], PARTITIONS)
            .iter()
            .map(|e| e.2)
            .sum()
    }
}

#[test]
fn sigkill_at_ten_random_points_loses_nothing_and_counts_nothing_twice() {
    scenario(events(), 0, "", |c, _| {
        let config = &c.main;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        for _ in 0..KILLS {
            let mut child = start(config);
            std::thread::sleep(Duration::from_millis(rng.random_range(800..4000)));
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
        start(config)
    });
}

#[test]
fn a_second_instance_takes_over_the_tasks_of_one_that_dies() {
    scenario(events() / 4, 0, "", |c, _| {
        let mut a = start(&c.shared);
        std::thread::sleep(Duration::from_secs(2));
        let b = start(&c.main);
        // Both run in one group, each with some of the tasks and snapshots
        // in the shared directory; then A dies and B takes its tasks over.
        std::thread::sleep(Duration::from_secs(8));
        a.kill().expect("SIGKILL instance A");
        a.wait().expect("reap");
        b
    });
}

/// Issue "State that survives losing a machine": two instances with
/// separate snapshot directories split the tasks; one dies with SIGKILL and
/// its directory is deleted; the survivor takes its tasks over from the
/// changelog, and events produced after the loss move leads whose history
/// only the lost instance had seen. Final states and change ids equal an
/// uninterrupted run's, and the survivor did not read the lost tasks'
/// inbound partitions again from the start.
#[test]
fn a_lost_instance_and_its_disk_are_replaced_from_the_changelog() {
    let total = events() / 4;
    let (metrics, _) = lose_one_of_two(total, "");
    let value = |name: &str| -> f64 { sample(&metrics, name) };
    let restored_from_changelog = value("leadscore_restores_total{source=\"changelog\"}");
    assert!(
        restored_from_changelog >= 1.0,
        "the survivor restored tasks from the changelog: {restored_from_changelog}"
    );
    assert!(
        value("leadscore_changelog_records_restored_total") > 0.0,
        "changelog records were read"
    );
    // Without the changelog the survivor would read every inbound record
    // of the lost tasks again (and all of its own): at least `total`.
    let consumed = value("leadscore_events_total");
    assert!(
        consumed < total as f64,
        "the survivor consumed {consumed} inbound records of {total}: the lost tasks resumed from their restored offsets"
    );
}

/// Produces a fixed event set (all but the last `held_back` events, which
/// `disrupt` produces when it calls its second argument, or which are
/// produced after it returns), runs `disrupt` (which returns the instance
/// left running), waits for it to finish, stops it gracefully, and checks
/// change ids and final lead states against an uninterrupted computation
/// (bit for bit when every event was there before the pipeline started).
/// Returns the `/metrics` text of the instance left running, taken just
/// before it stops.
fn scenario(
    events: usize,
    held_back: usize,
    changelog_extra: &str,
    disrupt: impl FnOnce(&Configs, &dyn Fn()) -> Child,
) -> String {
    let kafka = TestKafka::start();
    let topic_of = |t: EventType| kafka.topic(&format!("events.{}", t.as_str()));
    for t in EventType::ALL {
        kafka.create_topic(&topic_of(t), PARTITIONS);
    }
    let changes_topic = kafka.topic("stage_changes");
    kafka.create_topic(&changes_topic, PARTITIONS);
    kafka.create_topic(&kafka.topic("dlq"), 1);
    if kafka.is_mock() {
        kafka.create_topic(&kafka.topic("changelog"), PARTITIONS);
    }

    // The fixed event set, produced once; partition = hash(lead) % PARTITIONS.
    let mut traffic = Traffic::new(42, 20_000, 1_780_000_000_000, 30_000, TrafficMix::default());
    let mut next_offset: BTreeMap<(usize, i32), i64> = BTreeMap::new();
    let mut produced = Vec::with_capacity(events);
    for _ in 0..events {
        let r = traffic.next_record();
        let partition = (xxhash_rust::xxh3::xxh3_64(r.key.as_bytes()) % PARTITIONS as u64) as i32;
        let type_idx = r.event_type as usize;
        let off = next_offset.entry((type_idx, partition)).or_insert(0);
        produced.push(Produced {
            key: r.key,
            partition,
            type_idx,
            offset: *off,
            ts: r.timestamp_ms,
            payload: r.payload,
        });
        *off += 1;
    }
    let produce = |range: std::ops::Range<usize>| {
        for r in &produced[range] {
            kafka.produce_to(
                &topic_of(EventType::ALL[r.type_idx]),
                r.partition,
                &r.key,
                &r.payload,
                r.ts,
            );
        }
        kafka.flush();
    };
    let first = events - held_back;
    produce(0..first);
    let rest_produced = std::sync::atomic::AtomicBool::new(false);
    let produce_rest = || {
        if !rest_produced.swap(true, std::sync::atomic::Ordering::SeqCst) {
            produce(first..events);
        }
    };

    // The uninterrupted run: one task per partition, in the pipeline's merge order.
    let model = Model::builtin();
    let limits = DecodeLimits {
        max_future_skew_ms: None,
        ..DecodeLimits::default()
    };
    let mut expected_ids = BTreeSet::new();
    let mut lead_of: BTreeMap<String, String> = BTreeMap::new();
    let mut expected_states = Vec::new();
    for p in 0..PARTITIONS {
        let mut mine: Vec<&Produced> = produced.iter().filter(|r| r.partition == p).collect();
        mine.sort_by_key(|r| (r.ts, r.type_idx, r.offset));
        let mut state = TaskState::default();
        for r in mine {
            if let Ok(e) = decode_event(
                &r.payload,
                Format::Json,
                Some(EventType::ALL[r.type_idx]),
                None,
                &limits,
            ) {
                for c in state.apply(&model, &e).changes {
                    lead_of.insert(c.change_id.clone(), c.lead_id.clone());
                    expected_ids.insert(c.change_id);
                }
            }
        }
        expected_states.push(state);
    }
    assert!(
        expected_ids.len() > 500,
        "the event set moves many leads ({})",
        expected_ids.len()
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let snapshots = dir.path().join("snapshots");
    let group = kafka.topic("group");
    let mut topics = String::new();
    for t in EventType::ALL {
        topics.push_str(&format!(
            "{} = {{ name = \"{}\" }}\n",
            t.as_str(),
            topic_of(t)
        ));
    }
    // A scenario may set its own flush interval.
    let flush = if changelog_extra.contains("flush_interval_ms") {
        ""
    } else {
        "flush_interval_ms = 200\n"
    };
    let write_config = |name: &str, snapshots: &std::path::Path, listen: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "[kafka]\n\"bootstrap.servers\" = \"{}\"\n\"group.id\" = \"{group}\"\n\"fetch.wait.max.ms\" = 10\n\"session.timeout.ms\" = 6000\n\
                 [topics]\n{topics}stage_changes = {{ name = \"{changes_topic}\" }}\ndead_letter = \"{}\"\n\
                 [snapshots]\ndir = \"{}\"\ninterval_secs = 1\nevery_events = 3000\n\
                 [http]\nlisten = \"{listen}\"\n[limits]\nmax_future_skew_secs = 100000000\n\
                 [changelog]\ntopic = \"{}\"\n{flush}{changelog_extra}",
                kafka.bootstrap,
                kafka.topic("dlq"),
                snapshots.display(),
                kafka.topic("changelog")
            ),
        )
        .expect("write config");
        path
    };
    // The instance left running and the other listen on known ports, for
    // their metrics.
    let free_port = || -> std::net::SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
    };
    let http = free_port();
    let other_http = free_port();
    let other_snapshots = dir.path().join("snapshots-other");
    let configs = Configs {
        main: write_config("leadscore.toml", &snapshots, &http.to_string()),
        shared: write_config("shared.toml", &snapshots, "127.0.0.1:0"),
        other: write_config("other.toml", &other_snapshots, &other_http.to_string()),
        other_snapshots,
        main_http: http,
        other_http,
        kafka: &kafka,
    };

    let live_leads: BTreeSet<&str> = produced[first..].iter().map(|r| r.key.as_str()).collect();
    let mut rederived_differently = 0usize;
    let mut child = KillOnDrop(disrupt(&configs, &produce_rest));
    produce_rest();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut seen: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut stalled = 0;
    while seen.len() < expected_ids.len() && Instant::now() < deadline && stalled < 3 {
        let before = seen.len();
        for m in kafka.read_all(&changes_topic, expected_ids.len(), Duration::from_secs(10)) {
            use rdkafka::Message;
            let id = headers(&m)["ce_id"].clone();
            let body: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            let mut body = body;
            body.as_object_mut().unwrap().remove("emitted_at");
            let bytes = serde_json::to_vec(&body).unwrap();
            if let Some(prev) = seen.insert(id.clone(), bytes.clone()) {
                // A transition derived again after a takeover keeps its
                // change_id; its body (score, explanation) may differ only
                // if the lead had events that arrived live, which the first
                // derivation took in arrival order and the second in
                // time order (README "Ordering").
                let lead = body["lead_id"].as_str().unwrap_or_default();
                if held_back > 0 && live_leads.contains(lead) {
                    rederived_differently += usize::from(prev != bytes);
                } else {
                    assert_eq!(prev, bytes, "change {id} repeated with a different body");
                }
            }
        }
        stalled = if seen.len() == before { stalled + 1 } else { 0 };
    }
    eprintln!(
        "seen {} of {} expected change ids; {rederived_differently} derived twice with different bodies (leads with live events)",
        seen.len(),
        expected_ids.len()
    );
    // Every event (also those that derive no change) is processed once the
    // group's committed offsets reach the end of every partition.
    let ends: Vec<(String, i32, i64)> = next_offset
        .iter()
        .map(|(&(t, p), &end)| (topic_of(EventType::ALL[t]), p, end))
        .collect();
    if let Err(behind) = kafka.wait_for_commits(&group, &ends, Duration::from_secs(120)) {
        print_logs(dir.path());
        panic!("the instance did not process every event: {behind:?}");
    }
    // The instance left running owns every task (after a kill, once the
    // group noticed) when every task's newest snapshot covers the end.
    let store = SnapshotStore::open(&snapshots, 2).expect("snapshot dir");
    let covered = |p: i32| -> bool {
        store.load_newest(p).snapshot.is_some_and(|r| {
            ends.iter()
                .filter(|(_, ep, _)| *ep == p)
                .all(|(t, _, end)| r.offsets.iter().any(|(rt, o)| rt == t && o == end))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(0..PARTITIONS).all(covered) {
        if Instant::now() > deadline {
            print_logs(dir.path());
            let behind: Vec<i32> = (0..PARTITIONS).filter(|p| !covered(*p)).collect();
            panic!("no snapshot covers the end of partitions {behind:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, metrics) = http_get(http, "/metrics");
    assert_eq!(status, 200, "metrics of the instance left running");
    unsafe {
        libc_kill(child.0.id() as i32, 15);
    }
    let status = child.0.wait().expect("wait for graceful stop");
    assert!(status.success(), "graceful stop after SIGTERM: {status:?}");

    let seen_ids: BTreeSet<String> = seen.keys().cloned().collect();
    if seen_ids != expected_ids {
        print_logs(dir.path());
    }
    // Events produced while the pipeline runs are merged in arrival order
    // (README "Ordering"), so for a lead that had such events a transition
    // of the time-ordered run may not happen (the same events in another
    // order). Such a miss is reported, not failed; any other miss, and any
    // change id the time-ordered run does not have, fails. (The one seen:
    // lead 8959ae30-… has a profile event and, ten event-time minutes and 20
    // records later, a pricing-page view, both produced live; taken in that
    // order it goes lead → mql → sql, with the view first lead → sql with
    // the same sql id, which replaying its events in both orders confirms.)
    let (order_sensitive, missing): (Vec<&String>, Vec<&String>) = expected_ids
        .difference(&seen_ids)
        .partition(|id| held_back > 0 && live_leads.contains(lead_of[*id].as_str()));
    if !order_sensitive.is_empty() {
        eprintln!(
            "not seen, for leads with events that arrived live (arrival order): {order_sensitive:?}"
        );
    }
    let extra: Vec<_> = seen_ids.difference(&expected_ids).collect();
    eprintln!(
        "{} expected, {} seen, {} missing, {} extra",
        expected_ids.len(),
        seen_ids.len(),
        missing.len(),
        extra.len()
    );
    let missing: Vec<_> = missing.into_iter().take(5).collect();
    let extra: Vec<_> = extra.into_iter().take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "change_ids differ: missing {missing:?}, extra {extra:?}"
    );

    for (p, expected) in expected_states.iter().enumerate() {
        let loaded = store.load_newest(p as i32);
        let restored = loaded.snapshot.expect("a final snapshot per task").state;
        assert_eq!(
            restored.lead_count(),
            expected.lead_count(),
            "partition {p}: lead count"
        );
        for e in expected.lead_states() {
            let got = restored
                .lead(&e.lead_id())
                .unwrap_or_else(|| panic!("lead {} missing", e.lead_id()));
            if held_back == 0 {
                assert_eq!(got, e, "partition {p}: lead {} differs", e.lead_id());
            } else {
                // Events produced while the pipeline runs are merged in
                // arrival order (README "Ordering"): the lead's slots may
                // be in another order, its stage and score may not.
                let at = e.last_event_ms();
                assert_eq!(got.stage(), e.stage(), "lead {}", e.lead_id());
                assert_eq!(got.last_event_ms(), at, "lead {}", e.lead_id());
                let (a, b) = (got.score_at(&model, at), e.score_at(&model, at));
                assert!(
                    (a.total - b.total).abs() < 1e-9 && (a.fit - b.fit).abs() < 1e-9,
                    "lead {}: {a:?} vs {b:?}",
                    e.lead_id()
                );
            }
        }
        assert_eq!(restored.watermark_ms(), expected.watermark_ms());
    }
    metrics
}

/// The instance left running: killed if the test fails before stopping it,
/// so no process outlives its test.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Prints the WARN and ERROR lines of every instance's log (for a failure).
fn print_logs(dir: &std::path::Path) {
    let mut logs: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    for path in logs {
        let log = std::fs::read_to_string(&path).unwrap_or_default();
        let warnings: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(12)
            .collect();
        eprintln!("{}: {warnings:#?}", path.display());
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Issue "State that survives losing a machine", standby tasks: with
/// `standby_replicas = 1` the survivor keeps warm copies of the other
/// instance's tasks, so taking them over reads only the changelog records
/// written since, not the partitions again.
#[test]
fn a_standby_copy_takes_over_without_reading_the_changelog_again() {
    let (metrics, written) = lose_one_of_two(events() / 4, "standby_replicas = 1\n");
    let value = |name: &str| -> f64 { sample(&metrics, name) };
    assert!(
        value("leadscore_restores_total{source=\"standby\"}") >= 1.0,
        "the survivor took tasks over from its standby copies"
    );
    let written = written as f64;
    let restored = value("leadscore_changelog_records_restored_total");
    assert!(
        written > 1000.0,
        "the changelog holds the tasks' state: {written}"
    );
    assert!(
        restored < written / 4.0,
        "restores read {restored} of the changelog's {written} records (a restore without standby reads a whole partition)"
    );
}

/// An instance that stalls past the session timeout (SIGSTOP) loses its
/// tasks to the other; when it runs again, its tasks are told by the group
/// that they are not its own any more and write nothing to their changelog
/// partitions: the flush they were about to write is refused (counted as
/// fenced). Then it is killed and the survivor's final state is checked as
/// in every scenario. Changelog flushes happen only when a task stops, so
/// the stalled tasks have unwritten changes when they wake.
#[test]
fn a_stalled_instance_that_lost_its_tasks_is_fenced_off_their_changelog() {
    let extra = "flush_interval_ms = 600000\ncatch_up_flush_interval_ms = 600000\n";
    scenario(events() / 4, events() / 20, extra, |c, produce_rest| {
        let mut a = start(&c.other);
        std::thread::sleep(Duration::from_secs(2));
        let b = start(&c.main);
        std::thread::sleep(Duration::from_secs(8));
        let metric = |addr, name: &str| sample(&http_get(addr, "/metrics").1, name);
        let half = metric(c.other_http, "leadscore_tasks_assigned");
        assert!(
            half > 0.0 && half < PARTITIONS as f64,
            "A runs some of the tasks: {half}"
        );
        // A's tasks take in events they have not flushed yet.
        let before = metric(c.other_http, "leadscore_events_total");
        produce_rest();
        let deadline = Instant::now() + Duration::from_secs(60);
        while metric(c.other_http, "leadscore_events_total") <= before {
            assert!(
                Instant::now() < deadline,
                "A processed none of the new events"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_secs(1));
        assert_eq!(
            metric(c.other_http, "leadscore_changelog_fenced_total"),
            0.0
        );
        signal(&a, "STOP");
        // B takes every task over once the group gives up on A.
        let deadline = Instant::now() + Duration::from_secs(90);
        while metric(c.main_http, "leadscore_tasks_assigned") < PARTITIONS as f64 {
            assert!(Instant::now() < deadline, "B never took over A's tasks");
            std::thread::sleep(Duration::from_millis(200));
        }
        signal(&a, "CONT");
        let deadline = Instant::now() + Duration::from_secs(60);
        let fenced = loop {
            let f = metric(c.other_http, "leadscore_changelog_fenced_total");
            if f > 0.0 || Instant::now() > deadline {
                break f;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert!(
            fenced >= 1.0,
            "A's tasks were refused by the group before writing their changelog: {fenced}"
        );
        a.kill().expect("SIGKILL instance A");
        a.wait().expect("reap");
        b
    });
}

fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{sig} {}", child.id());
}

/// Two instances, each with its own snapshot directory, split the tasks of
/// a `total`-event scenario; A dies with SIGKILL and its directory is
/// deleted; then the last fifth of the events is produced. Returns B's
/// metrics and the records the changelog held when A died.
fn lose_one_of_two(total: usize, changelog_extra: &str) -> (String, i64) {
    let written = std::cell::Cell::new(0i64);
    let metrics = scenario(total, total / 5, changelog_extra, |c, produce_rest| {
        let mut a = start(&c.other);
        std::thread::sleep(Duration::from_secs(2));
        let b = start(&c.main);
        // Both run in one group, each with its own tasks and disk.
        std::thread::sleep(Duration::from_secs(8));
        a.kill().expect("SIGKILL instance A");
        a.wait().expect("reap");
        std::fs::remove_dir_all(&c.other_snapshots).expect("delete A's snapshot directory");
        written.set(c.changelog_records());
        produce_rest();
        b
    });
    (metrics, written.get())
}

/// The sum of the samples of `name` (a metric name, or a name with labels
/// up to `}`) in a scrape.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(name))
        .filter(|l| name.ends_with('}') || l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}
