//! Fault injection through librdkafka's mock cluster: produce acks held
//! back, brokers taken down. These tests need the mock cluster's controls,
//! so they always run on it (also when `LEADSCORE_TEST_BROKERS` names a real
//! broker) and are part of `cargo test`; `.ci/run` checks that they ran.

mod kafka_harness;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use kafka_harness::service::{event, sample_lines, wait_until, Setup};
use kafka_harness::{headers, http_get, TestKafka};
use leadscore::event::EventType;
use leadscore::snapshot::SnapshotStore;
use rdkafka::mocking::MockCoordinator;
use rdkafka::Message;
use serde_json::Value;

const T0: i64 = 1_788_000_000_000;

/// Three mock brokers: the inbound topics and the group on broker 1, the
/// output and dead-letter topics on broker 2, so broker 2 can be taken down
/// (holding every produce ack back) while consumption goes on.
fn split_cluster() -> Setup {
    let s = Setup::on(TestKafka::mock_cluster(3), 1);
    let mock = s.kafka.mock();
    for t in EventType::ALL {
        mock.partition_leader(&s.topic_of(t), 0, Some(1))
            .expect("inbound leader");
    }
    for t in ["stage_changes", "dlq"] {
        mock.partition_leader(&s.kafka.topic(t), 0, Some(2))
            .expect("output leader");
    }
    mock.coordinator(MockCoordinator::Group(s.group.clone()), 1)
        .expect("group coordinator");
    s
}

fn contact_us(i: usize, at: i64) -> String {
    event(
        &format!("held-{i}"),
        &format!("lead-held-{i}"),
        at,
        "form",
        r#","form":"contact_us""#,
    )
}

fn page_view(i: usize, at: i64) -> String {
    event(
        &format!("pv-{i}"),
        &format!("lead-pv-{i}"),
        at,
        "page_view",
        r#","path":"/blog/x""#,
    )
}

#[test]
fn committed_offsets_and_snapshots_never_pass_an_unacknowledged_stage_change() {
    let s = split_cluster();
    let form = s.topic_of(EventType::Form);
    let views = s.topic_of(EventType::PageView);
    // Phase 1 is delivered normally.
    s.produce_lines(&[contact_us(0, T0), page_view(0, T0 + 1)]);
    let svc = s.start();
    svc.wait_ready(Duration::from_secs(30));
    let ends1 = vec![(form.clone(), 0, 1), (views.clone(), 0, 1)];
    s.kafka
        .wait_for_commits(&s.group, &ends1, Duration::from_secs(30))
        .expect("phase 1 committed");

    // Phase 2: every produce ack is held back. Its first event derives a
    // change; everything after it (any topic) may not be committed.
    s.kafka.mock().broker_down(2).expect("broker 2 down");
    let c = svc.handles.counters.clone();
    s.produce_lines(&[contact_us(1, T0 + 1_000)]);
    wait_until(Duration::from_secs(30), "the held change's event", || {
        c.records() >= 3
    });
    let mut phase2 = Vec::new();
    for i in 1..=200 {
        phase2.push(page_view(i, T0 + 1_000 + i as i64));
    }
    for i in 2..=10 {
        phase2.push(contact_us(i, T0 + 2_000 + i as i64));
    }
    s.produce_lines(&phase2);
    let total = 3 + phase2.len() as u64;
    wait_until(
        Duration::from_secs(30),
        "phase 2 to be processed while acks are held (processing does not wait for acks)",
        || c.records() >= total,
    );
    let held_until = Instant::now() + Duration::from_secs(3);
    let mut samples = 0;
    while Instant::now() < held_until {
        let committed = [
            s.kafka.committed(&s.group, &form, 1)[0],
            s.kafka.committed(&s.group, &views, 1)[0],
        ];
        assert_eq!(
            committed,
            [Some(1), Some(1)],
            "committed offsets stay at phase 1 while its change is unacknowledged"
        );
        let store = SnapshotStore::open(s.snapshots.path(), 2).expect("snapshots");
        if let Some(r) = store.load_newest(0).snapshot {
            for (topic, next) in r.offsets {
                assert!(
                    next <= 1,
                    "snapshot {} covers {topic} up to {next}, past an unacknowledged change",
                    r.path.display()
                );
            }
        }
        samples += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(samples >= 5);
    assert_eq!(
        c.changes_total(),
        1,
        "only phase 1's change is acknowledged"
    );

    // The acks arrive: everything is delivered once and committed.
    s.kafka.mock().broker_up(2).expect("broker 2 up");
    let ends2 = vec![(form.clone(), 0, 11), (views.clone(), 0, 201)];
    s.kafka
        .wait_for_commits(&s.group, &ends2, Duration::from_secs(60))
        .expect("phase 2 committed after the acks");
    let out = s
        .kafka
        .read_all(&s.kafka.topic("stage_changes"), 11, Duration::from_secs(30));
    let ids: BTreeSet<String> = out.iter().map(|m| headers(m)["ce_id"].clone()).collect();
    assert_eq!(ids.len(), 11, "every held change was delivered");
    svc.stop();
}

#[test]
fn a_full_in_flight_window_stops_taking_records_until_acks_arrive() {
    let s = split_cluster();
    let config = s.config_with("[limits]\nmax_in_flight = 4\n");
    let svc = s.start_with(config, leadscore::model::Model::builtin());
    svc.wait_ready(Duration::from_secs(30));
    s.kafka.mock().broker_down(2).expect("broker 2 down");
    let lines: Vec<String> = (0..50).map(|i| contact_us(i, T0 + i as i64)).collect();
    s.produce_lines(&lines);
    let c = svc.handles.counters.clone();
    wait_until(Duration::from_secs(20), "the window to fill", || {
        c.records() >= 4
    });
    // It stays where the window filled (4 records, one change each).
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert_eq!(c.records(), 4, "back-pressure: no record beyond the window");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.kafka.mock().broker_up(2).expect("broker 2 up");
    wait_until(
        Duration::from_secs(60),
        "every record after the acks",
        || c.records() == 50 && c.changes_total() == 50,
    );
    svc.stop();
}

#[test]
fn broker_outage_flips_readiness_and_loses_no_change() {
    let s = Setup::on(TestKafka::mock_cluster(1), 2);
    let lines = sample_lines();
    let (head, tail) = lines.split_at(lines.len() / 2);
    s.produce_lines(head);
    let svc = s.start();
    svc.wait_ready(Duration::from_secs(30));
    s.kafka.mock().broker_down(1).expect("broker down");
    wait_until(
        Duration::from_secs(20),
        "/readyz to report the outage",
        || http_get(svc.addr, "/readyz").0 == 503,
    );
    s.kafka.mock().broker_up(1).expect("broker up");
    s.produce_lines(tail);
    svc.wait_ready(Duration::from_secs(60));
    // Lead placement follows the producer's murmur2 partitioner, so compare
    // sets of (lead, from, to) rather than sweep-dependent ids.
    let out = s
        .kafka
        .read_all(&s.kafka.topic("stage_changes"), 4, Duration::from_secs(60));
    let transitions: BTreeSet<(String, String, String)> = out
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            (
                v["lead_id"].as_str().unwrap().into(),
                v["from"].as_str().unwrap().into(),
                v["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    for want in [
        ("lead-ana-6d1f", "lead", "mql"),
        ("lead-ben-91aa", "mql", "sql"),
        ("lead-cleo-07be", "lead", "mql"),
    ] {
        assert!(
            transitions.contains(&(want.0.into(), want.1.into(), want.2.into())),
            "{want:?} missing from {transitions:?}"
        );
    }
    svc.stop();
}

#[test]
fn a_task_that_cannot_get_its_changes_out_makes_readyz_say_so() {
    let s = split_cluster();
    let config = s.config_with("[limits]\nstuck_after_secs = 2\n");
    let svc = s.start_with(config, leadscore::model::Model::builtin());
    svc.wait_ready(Duration::from_secs(30));
    s.kafka.mock().broker_down(2).expect("broker 2 down");
    s.produce_lines(&[contact_us(0, T0)]);
    let mut body = String::new();
    wait_until(
        Duration::from_secs(30),
        "/readyz to report the stuck task",
        || {
            let (code, b) = http_get(svc.addr, "/readyz");
            body = b;
            code == 503
        },
    );
    assert!(
        body.contains("no progress") && body.contains("partitions 0"),
        "{body}"
    );
    s.kafka.mock().broker_up(2).expect("broker 2 up");
    svc.wait_ready(Duration::from_secs(60));
    svc.stop();
}

#[test]
fn a_lost_group_session_makes_readyz_say_so_until_the_partitions_are_back() {
    let s = split_cluster();
    let svc = s.start();
    svc.wait_ready(Duration::from_secs(30));
    // The group coordinator (and the inbound leaders) go away for longer
    // than the session timeout (6 s in the test config); other brokers stay.
    s.kafka.mock().broker_down(1).expect("broker 1 down");
    let mut body = String::new();
    wait_until(
        Duration::from_secs(40),
        "/readyz to report the lost session",
        || {
            let (code, b) = http_get(svc.addr, "/readyz");
            body = b;
            code == 503 && body.contains("session")
        },
    );
    s.kafka.mock().broker_up(1).expect("broker 1 up");
    svc.wait_ready(Duration::from_secs(60));
    svc.stop();
}

#[test]
fn failing_snapshot_writes_make_readyz_say_so() {
    let s = Setup::on(TestKafka::mock_cluster(1), 1);
    // The task's snapshot directory cannot be created: a file is in its way.
    std::fs::write(s.snapshots.path().join("task-00000"), b"in the way").expect("blocker");
    let config = s.config_with("[limits]\nstuck_after_secs = 2\n");
    let svc = s.start_with(config, leadscore::model::Model::builtin());
    svc.wait_ready(Duration::from_secs(30));
    s.produce_lines(&[contact_us(0, T0)]);
    let mut body = String::new();
    wait_until(
        Duration::from_secs(30),
        "/readyz to report failing snapshots",
        || {
            let (code, b) = http_get(svc.addr, "/readyz");
            body = b;
            code == 503
        },
    );
    assert!(body.contains("snapshot writes have been failing"), "{body}");
    let (_, metrics) = http_get(svc.addr, "/metrics");
    let failures = metrics
        .lines()
        .find(|l| l.starts_with("leadscore_snapshot_failures_total"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(failures >= 1.0, "{metrics}");
    svc.handles.shutdown.trigger();
    let _ = svc.thread.join();
}
