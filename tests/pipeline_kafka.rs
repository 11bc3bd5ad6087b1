//! End-to-end tests through Kafka: scripted events in, stage changes, dead
//! letters, offsets and HTTP out. Mock cluster by default; a real broker
//! with `LEADSCORE_TEST_BROKERS=host:port`.

mod kafka_harness;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kafka_harness::{headers, http_get, TestKafka};
use leadscore::codec::{decode_event, encode_change, DecodeLimits, Format};
use leadscore::config::Config;
use leadscore::engine::{StageChange, TaskState};
use leadscore::event::EventType;
use leadscore::model::Model;
use leadscore::service::{serve, ServiceError, ServiceHandles};
use rdkafka::Message;
use serde_json::Value;

const TYPES: [EventType; 6] = EventType::ALL;

struct Running {
    handles: ServiceHandles,
    addr: SocketAddr,
    thread: JoinHandle<Result<(), ServiceError>>,
}

impl Running {
    fn stop(self) {
        self.handles.shutdown.trigger();
        self.thread
            .join()
            .expect("service thread")
            .expect("service stopped cleanly");
    }
}

struct Setup {
    kafka: TestKafka,
    group: String,
    snapshots: tempfile::TempDir,
}

impl Setup {
    fn new(partitions: i32) -> Setup {
        let kafka = TestKafka::start();
        for t in TYPES {
            kafka.create_topic(&kafka.topic(&format!("events.{}", t.as_str())), partitions);
        }
        kafka.create_topic(&kafka.topic("stage_changes"), partitions);
        kafka.create_topic(&kafka.topic("dlq"), 1);
        let group = kafka.topic("group");
        Setup {
            kafka,
            group,
            snapshots: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn topic_of(&self, t: EventType) -> String {
        self.kafka.topic(&format!("events.{}", t.as_str()))
    }

    fn config(&self) -> Config {
        let k = &self.kafka;
        let mut topics = String::new();
        for t in TYPES {
            topics.push_str(&format!(
                "{} = {{ name = \"{}\" }}\n",
                t.as_str(),
                self.topic_of(t)
            ));
        }
        let text = format!(
            "[kafka]\n\"bootstrap.servers\" = \"{}\"\n\"group.id\" = \"{}\"\n\"fetch.wait.max.ms\" = 10\n\"session.timeout.ms\" = 6000\n\
             [topics]\n{topics}stage_changes = {{ name = \"{}\" }}\ndead_letter = \"{}\"\n\
             [snapshots]\ndir = \"{}\"\ninterval_secs = 1\n[http]\nlisten = \"127.0.0.1:0\"\n",
            k.bootstrap,
            self.group,
            k.topic("stage_changes"),
            k.topic("dlq"),
            self.snapshots.path().display()
        );
        Config::parse(&text, "test config", []).expect("test config")
    }

    fn start(&self) -> Running {
        self.start_with(self.config(), Model::builtin())
    }

    fn start_with(&self, config: Config, model: Model) -> Running {
        let handles = ServiceHandles::default();
        let h = handles.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            serve(config, Arc::new(model), h, move |addr| {
                let _ = tx.send(addr);
            })
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("service listening");
        Running {
            handles,
            addr,
            thread,
        }
    }

    /// Produces event JSON lines to their typed topics, partitioned by lead.
    fn produce_lines(&self, lines: &[String]) {
        for l in lines {
            let v: Value = serde_json::from_str(l).expect("json line");
            let t = EventType::parse(v["type"].as_str().expect("type")).expect("known type");
            let lead = v["lead_id"].as_str().unwrap_or("");
            let ts = occurred_ms(l);
            self.kafka
                .produce(&self.topic_of(t), lead, l.as_bytes(), ts);
        }
        self.kafka.flush();
    }
}

fn occurred_ms(line: &str) -> i64 {
    decode_event(
        line.as_bytes(),
        Format::Json,
        None,
        None,
        &DecodeLimits {
            max_future_skew_ms: None,
            ..DecodeLimits::default()
        },
    )
    .map(|e| e.occurred_at_ms)
    .unwrap_or(0)
}

fn sample_lines() -> Vec<String> {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/events.jsonl"))
        .expect("sample file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// What the engine derives from `lines` in one task, in merge order
/// (event time, then topic order, then file order).
fn expected_changes(lines: &[String]) -> Vec<StageChange> {
    let model = Model::builtin();
    let mut decoded: Vec<(i64, usize, usize, &String)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let limits = DecodeLimits {
            max_future_skew_ms: None,
            ..DecodeLimits::default()
        };
        if let Ok(e) = decode_event(l.as_bytes(), Format::Json, None, None, &limits) {
            decoded.push((e.occurred_at_ms, e.event_type() as usize, i, l));
        }
    }
    decoded.sort();
    let mut state = TaskState::default();
    let mut out = Vec::new();
    for (_, _, _, l) in decoded {
        let limits = DecodeLimits {
            max_future_skew_ms: None,
            ..DecodeLimits::default()
        };
        let e = decode_event(l.as_bytes(), Format::Json, None, None, &limits).expect("valid");
        out.extend(state.apply(&model, &e).changes);
    }
    out
}

fn body_without_emitted_at(payload: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(payload).expect("stage change JSON");
    v.as_object_mut().expect("object").remove("emitted_at");
    v
}

#[test]
fn sample_events_produce_the_replayed_stage_changes_with_headers_and_dead_letters() {
    let s = Setup::new(1);
    let lines = sample_lines();
    let expected = expected_changes(&lines);
    assert!(
        expected.len() >= 4,
        "the sample should move several leads: {expected:?}"
    );
    s.produce_lines(&lines);
    let svc = s.start();

    let out = s.kafka.read_all(
        &s.kafka.topic("stage_changes"),
        expected.len(),
        Duration::from_secs(60),
    );
    // At-least-once: repeats may only repeat a change_id; here nothing crashed, so none.
    assert_eq!(out.len(), expected.len(), "one record per transition");
    let mut got = BTreeMap::new();
    for m in &out {
        let h = headers(m);
        let body: Value = serde_json::from_slice(m.payload().expect("payload")).expect("json");
        let id = body["change_id"].as_str().expect("change_id").to_string();
        assert_eq!(
            m.key(),
            Some(body["lead_id"].as_str().unwrap().as_bytes()),
            "keyed by lead_id"
        );
        assert_eq!(h.get("ce_id"), Some(&id));
        assert_eq!(h.get("ce_specversion").map(String::as_str), Some("1.0"));
        assert_eq!(
            h.get("ce_type").map(String::as_str),
            Some("com.leadscore.stage_change.v1")
        );
        assert_eq!(
            h.get("content-type").map(String::as_str),
            Some("application/json")
        );
        assert_eq!(
            h.get("ce_time").map(String::as_str),
            body["emitted_at"].as_str()
        );
        got.insert(id, body_without_emitted_at(m.payload().unwrap()));
    }
    for c in &expected {
        let want = body_without_emitted_at(&encode_change(c, 0, Format::Json));
        assert_eq!(
            got.get(&c.change_id),
            Some(&want),
            "change {} for {}",
            c.change_id,
            c.lead_id
        );
    }
    let kinds: BTreeSet<(String, String)> = got
        .values()
        .map(|v| {
            (
                v["from"].as_str().unwrap().into(),
                v["to"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(kinds.contains(&("lead".into(), "mql".into())));
    assert!(kinds.contains(&("mql".into(), "sql".into())));
    assert!(
        kinds.contains(&("mql".into(), "lead".into())),
        "the contact-us lead is recycled by the sweep: {kinds:?}"
    );

    // The invalid sample line went to the dead-letter topic, unchanged, with its reason.
    let dlq = s
        .kafka
        .read_all(&s.kafka.topic("dlq"), 1, Duration::from_secs(30));
    assert_eq!(dlq.len(), 1);
    let h = headers(&dlq[0]);
    assert!(h["leadscore.error"].contains("lead_id"), "{h:?}");
    assert_eq!(h["leadscore.source.topic"], s.topic_of(EventType::Download));
    assert_eq!(h["leadscore.source.partition"], "0");
    assert!(
        lines
            .iter()
            .any(|l| l.as_bytes() == dlq[0].payload().unwrap()),
        "payload unchanged"
    );

    // HTTP: ready, metrics and the lead lookup.
    let (code, _) = http_get(svc.addr, "/readyz");
    assert_eq!(code, 200);
    let (code, body) = http_get(svc.addr, "/leads/lead-ben-91aa");
    assert_eq!(code, 200, "{body}");
    let lead: Value = serde_json::from_str(&body).expect("lead json");
    assert_eq!(lead["stage"], "sql");
    assert!(lead["score"]["fit"].as_f64().unwrap() >= 20.0);
    assert_eq!(http_get(svc.addr, "/leads/nobody").0, 404);
    let (code, metrics) = http_get(svc.addr, "/metrics");
    assert_eq!(code, 200);
    assert!(metrics.contains("leadscore_events_total"), "{metrics}");
    assert!(metrics.contains("outcome=\"dlq\""), "{metrics}");
    assert!(
        metrics.contains("leadscore_stage_changes_total"),
        "{metrics}"
    );
    svc.stop();

    // A restart restores every task from its snapshot: no change is emitted
    // again, and every metric the dashboard and alerts use is now exported.
    let again = s.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(again.addr, "/readyz").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "restarted service never became ready"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2));
    let (_, metrics) = http_get(again.addr, "/metrics");
    for name in leadscore::telemetry::events::METRIC_NAMES {
        assert!(
            metrics.contains(name),
            "metric {name} not exported:\n{metrics}"
        );
    }
    let out = s.kafka.read_all(
        &s.kafka.topic("stage_changes"),
        expected.len(),
        Duration::from_secs(30),
    );
    assert_eq!(out.len(), expected.len(), "the restart re-emitted nothing");
    again.stop();
}

fn event(id: &str, lead: &str, at_ms: i64, kind: &str, extra: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","lead_id":"{lead}","occurred_at":{at_ms},"type":"{kind}"{extra}}}"#
    )
}

#[test]
fn duplicates_are_ignored_and_bad_records_are_dead_lettered_while_the_partition_keeps_flowing() {
    let s = Setup::new(2);
    let t0 = 1_788_000_000_000i64;
    let form = s.topic_of(EventType::Form);
    let first = event("f-1", "lead-x", t0, "form", r#","form":"contact_us""#);
    s.kafka.produce(&form, "lead-x", first.as_bytes(), t0);
    s.kafka.produce(&form, "lead-x", first.as_bytes(), t0 + 1); // producer retry
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("lead-x", b"{not json".to_vec()),
        ("lead-x", event("f-2", "lead-x", t0, "form", r#","form":"carrier_pigeon""#).into_bytes()),
        ("lead-y", event("f-3", "lead-y", t0, "download", r#","asset_id":"a","asset_kind":"ebook""#).into_bytes()),
        ("lead-y", br#"{"event_id":"f-4","lead_id":"lead-y","occurred_at":"yesterday","form":"contact_us"}"#.to_vec()),
    ];
    for (k, p) in &bad {
        s.kafka.produce(&form, k, p, t0 + 2);
    }
    let good_after = event("f-5", "lead-y", t0 + 10, "form", r#","form":"contact_us""#);
    s.kafka
        .produce(&form, "lead-y", good_after.as_bytes(), t0 + 10);
    s.kafka.flush();
    let svc = s.start();

    let out = s
        .kafka
        .read_all(&s.kafka.topic("stage_changes"), 2, Duration::from_secs(60));
    let leads: Vec<String> = out
        .iter()
        .map(|m| String::from_utf8(m.key().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(
        out.len(),
        2,
        "one MQL change each, the retry ignored: {leads:?}"
    );
    assert!(leads.contains(&"lead-x".to_string()) && leads.contains(&"lead-y".to_string()));

    let dlq = s
        .kafka
        .read_all(&s.kafka.topic("dlq"), bad.len(), Duration::from_secs(30));
    assert_eq!(dlq.len(), bad.len());
    let reasons: Vec<String> = dlq
        .iter()
        .map(|m| headers(m)["leadscore.error"].clone())
        .collect();
    for field in ["payload", "form", "type", "occurred_at"] {
        assert!(
            reasons.iter().any(|r| r.contains(field)),
            "a reason names `{field}`: {reasons:?}"
        );
    }
    for m in &dlq {
        let h = headers(m);
        assert_eq!(h["leadscore.source.topic"], form);
        assert!(h["leadscore.source.offset"].parse::<i64>().is_ok());
        assert!(
            bad.iter()
                .any(|(_, p)| p.as_slice() == m.payload().unwrap()),
            "payload unchanged"
        );
    }
    let (_, metrics) = http_get(svc.addr, "/metrics");
    assert!(metrics.contains("outcome=\"duplicate\""), "{metrics}");
    svc.stop();
}

#[test]
fn committed_offsets_never_pass_an_unacknowledged_stage_change() {
    let s = Setup::new(1);
    let Some(mock) = s.kafka.mock.as_ref() else {
        eprintln!("fault injection needs the mock cluster; covered there");
        return;
    };
    let t0 = 1_788_000_000_000i64;
    let form = s.topic_of(EventType::Form);
    s.kafka.produce(
        &form,
        "lead-z",
        event("z-1", "lead-z", t0, "form", r#","form":"contact_us""#).as_bytes(),
        t0,
    );
    s.kafka.flush();
    // Every produce request fails for a while: the change cannot be acknowledged.
    mock.request_errors(
        rdkafka::types::RDKafkaApiKey::Produce,
        &[rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 40],
    );
    let svc = s.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut saw_blocked = false;
    loop {
        // Whenever the offset covers the event, its change must already be
        // acknowledged, so a reader started afterwards finds it.
        let committed = s.kafka.committed(&s.group, &form, 1)[0];
        if committed.unwrap_or(0) >= 1 {
            let out = s
                .kafka
                .read_all(&s.kafka.topic("stage_changes"), 1, Duration::from_secs(20));
            assert!(
                !out.is_empty(),
                "offset {committed:?} committed past an unacknowledged change"
            );
            break;
        }
        saw_blocked = true;
        assert!(
            Instant::now() < deadline,
            "the change was never delivered or the offset never committed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        saw_blocked,
        "the injected produce errors held the change back at least once"
    );
    assert!(
        svc.handles.counters.producer_errors() > 0,
        "produce errors were seen and retried"
    );
    let out = s
        .kafka
        .read_all(&s.kafka.topic("stage_changes"), 1, Duration::from_secs(5));
    let ids: BTreeSet<String> = out.iter().map(|m| headers(m)["ce_id"].clone()).collect();
    assert_eq!(ids.len(), 1, "retries repeat only the same change_id");
    svc.stop();
}

#[test]
fn broker_outage_flips_readiness_and_loses_no_change() {
    let s = Setup::new(2);
    let Some(mock) = s.kafka.mock.as_ref() else {
        eprintln!("broker outages need the mock cluster; covered there");
        return;
    };
    let lines = sample_lines();
    let (head, tail) = lines.split_at(lines.len() / 2);
    s.produce_lines(head);
    let svc = s.start();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(svc.addr, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "never became ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    mock.broker_down(1).expect("broker down");
    let mut went_unready = false;
    let down_until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < down_until {
        if http_get(svc.addr, "/readyz").0 == 503 {
            went_unready = true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    mock.broker_up(1).expect("broker up");
    assert!(went_unready, "/readyz reported the outage");
    s.produce_lines(tail);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(svc.addr, "/readyz").0 != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Expected: what each task derives from its partition's events. Lead
    // placement follows the producer's murmur2 partitioner, so compare sets
    // of (lead, from, to) per lead rather than sweep-dependent ids.
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
    let mut per_id: BTreeMap<String, Value> = BTreeMap::new();
    for m in &out {
        let id = headers(m)["ce_id"].clone();
        let body = body_without_emitted_at(m.payload().unwrap());
        if let Some(prev) = per_id.insert(id, body.clone()) {
            assert_eq!(prev, body, "a repeated change_id carries the same change");
        }
    }
    svc.stop();
}

fn stricter_model() -> Model {
    let text = leadscore::model::DEFAULT_MODEL_TOML
        .replace("name = \"default\"", "name = \"stricter\"")
        .replace("mql_at = 50.0", "mql_at = 70.0");
    Model::from_toml(&text, "stricter").expect("valid model")
}

#[test]
fn a_snapshot_from_another_model_version_is_refused_or_rebuilt_per_config() {
    let s = Setup::new(1);
    let lines = sample_lines();
    s.produce_lines(&lines);
    let first = s.start();
    let expected = expected_changes(&lines).len();
    assert_eq!(
        s.kafka
            .read_all(
                &s.kafka.topic("stage_changes"),
                expected,
                Duration::from_secs(60)
            )
            .len(),
        expected
    );
    first.stop();

    // refuse: the service stops with an error naming both versions.
    let mut refuse = s.config();
    refuse.snapshots.on_model_change = leadscore::config::OnModelChange::Refuse;
    let stricter = stricter_model();
    let new_version = stricter.version.to_string();
    let svc = s.start_with(refuse, stricter);
    let err = svc
        .thread
        .join()
        .expect("service thread")
        .expect_err("a foreign snapshot is refused")
        .to_string();
    assert!(
        err.contains("default-") && err.contains(&new_version) && err.contains("on_model_change"),
        "{err}"
    );

    // replay (the default): state is rebuilt from the earliest offset with the new model.
    let svc = s.start_with(s.config(), stricter_model());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut rescored = Vec::new();
    while rescored.is_empty() && Instant::now() < deadline {
        rescored = s
            .kafka
            .read_all(
                &s.kafka.topic("stage_changes"),
                expected + 1,
                Duration::from_secs(5),
            )
            .into_iter()
            .filter(|m| {
                serde_json::from_slice::<Value>(m.payload().unwrap()).unwrap()["model_version"]
                    == new_version.as_str()
            })
            .collect();
    }
    assert!(!rescored.is_empty(), "the new model rescored the history");
    let (_, metrics) = http_get(svc.addr, "/metrics");
    let fallbacks: f64 = metrics
        .lines()
        .find(|l| {
            l.starts_with("leadscore_snapshot_fallbacks_total")
                && l.contains("kind=\"model_version\"")
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(
        fallbacks >= 1.0,
        "the foreign snapshot was counted as a fallback: {metrics}"
    );
    svc.stop();
}
