//! The service under test: one inbound topic per event type, the output and
//! dead-letter topics, a snapshot directory, and `serve` on its own thread
//! with the HTTP endpoints on a free port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use leadscore::codec::{decode_event, DecodeLimits, Format};
use leadscore::config::Config;
use leadscore::engine::{StageChange, TaskState};
use leadscore::event::EventType;
use leadscore::model::Model;
use leadscore::service::{serve, ServiceError, ServiceHandles};
use serde_json::Value;

use super::{http_get, TestKafka};

/// A running service.
pub struct Running {
    pub handles: ServiceHandles,
    pub addr: SocketAddr,
    pub thread: JoinHandle<Result<(), ServiceError>>,
}

impl Running {
    /// Stops it gracefully and asserts that it stopped without an error.
    pub fn stop(self) {
        self.handles.shutdown.trigger();
        self.thread
            .join()
            .expect("service thread")
            .expect("service stopped cleanly");
    }

    /// Waits (at most `timeout`) until `/readyz` answers 200.
    pub fn wait_ready(&self, timeout: Duration) {
        wait_until(timeout, "the service to become ready", || {
            http_get(self.addr, "/readyz").0 == 200
        });
    }
}

/// Polls `condition` every 50 ms until it holds; panics naming `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Topics, group and snapshot directory of one test.
pub struct Setup {
    pub kafka: TestKafka,
    pub group: String,
    pub snapshots: tempfile::TempDir,
}

impl Setup {
    /// On a fresh broker (mock cluster, or the real one named by
    /// `LEADSCORE_TEST_BROKERS`), `partitions` per topic.
    pub fn new(partitions: i32) -> Setup {
        Setup::on(TestKafka::start(), partitions)
    }

    /// On `kafka`, `partitions` per topic.
    pub fn on(kafka: TestKafka, partitions: i32) -> Setup {
        for t in EventType::ALL {
            kafka.create_topic(&kafka.topic(&format!("events.{}", t.as_str())), partitions);
        }
        kafka.create_topic(&kafka.topic("stage_changes"), partitions);
        kafka.create_topic(&kafka.topic("dlq"), 1);
        // A real broker gets it from `run`; the mock cluster takes no
        // CreateTopics requests.
        if kafka.is_mock() {
            kafka.create_topic(&kafka.topic("changelog"), partitions);
        }
        let group = kafka.topic("group");
        Setup {
            kafka,
            group,
            snapshots: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn topic_of(&self, t: EventType) -> String {
        self.kafka.topic(&format!("events.{}", t.as_str()))
    }

    /// The test config, with `extra` TOML appended (later keys of a section
    /// must not repeat earlier ones).
    pub fn config_with(&self, extra: &str) -> Config {
        self.config_with_protobuf(&[], extra)
    }

    /// [`Setup::config_with`], with the topics of `protobuf` configured
    /// `format = "protobuf"`.
    pub fn config_with_protobuf(&self, protobuf: &[EventType], extra: &str) -> Config {
        let k = &self.kafka;
        let mut topics = String::new();
        for t in EventType::ALL {
            let format = if protobuf.contains(&t) {
                ", format = \"protobuf\""
            } else {
                ""
            };
            topics.push_str(&format!(
                "{} = {{ name = \"{}\"{format} }}\n",
                t.as_str(),
                self.topic_of(t)
            ));
        }
        let text = format!(
            "[kafka]\n\"bootstrap.servers\" = \"{}\"\n\"group.id\" = \"{}\"\n\"fetch.wait.max.ms\" = 10\n\"session.timeout.ms\" = 6000\n\
             [topics]\n{topics}stage_changes = {{ name = \"{}\" }}\ndead_letter = \"{}\"\n\
             [snapshots]\ndir = \"{}\"\ninterval_secs = 1\n[http]\nlisten = \"127.0.0.1:0\"\n{extra}",
            k.bootstrap,
            self.group,
            k.topic("stage_changes"),
            k.topic("dlq"),
            self.snapshots.path().display()
        );
        // The changelog topic of this test, in the `[changelog]` table of
        // `extra` if it has one.
        let topic = format!("topic = \"{}\"\n", k.topic("changelog"));
        let text = match text.find("[changelog]\n") {
            Some(at) => {
                let at = at + "[changelog]\n".len();
                format!("{}{topic}{}", &text[..at], &text[at..])
            }
            None => format!("{text}\n[changelog]\n{topic}"),
        };
        Config::parse(&text, "test config", []).expect("test config")
    }

    pub fn config(&self) -> Config {
        self.config_with("")
    }

    pub fn start(&self) -> Running {
        self.start_with(self.config(), Model::builtin())
    }

    pub fn start_with(&self, config: Config, model: Model) -> Running {
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

    /// Produces event JSON lines to their typed topics, partitioned by lead,
    /// with the event time as record timestamp.
    pub fn produce_lines(&self, lines: &[String]) {
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

    /// Produces `samples/events.jsonl`, starts the service and waits until
    /// it has published every stage change a replay of the sample derives.
    /// Returns the running service, the lines and that number of changes.
    pub fn run_sample(&self) -> (Running, Vec<String>, usize) {
        let lines = sample_lines();
        let expected = expected_changes(&lines).len();
        self.produce_lines(&lines);
        let running = self.start();
        let read = self.kafka.read_all(
            &self.kafka.topic("stage_changes"),
            expected,
            Duration::from_secs(60),
        );
        assert_eq!(read.len(), expected, "stage changes of the sample");
        (running, lines, expected)
    }
}

/// Decode limits without the future-skew check (test data is historical).
pub fn no_skew_limits() -> DecodeLimits {
    DecodeLimits {
        max_future_skew_ms: None,
        ..DecodeLimits::default()
    }
}

/// The event time of a JSON event line (0 if it does not decode).
pub fn occurred_ms(line: &str) -> i64 {
    decode_event(line.as_bytes(), Format::Json, None, None, &no_skew_limits())
        .map(|e| e.occurred_at_ms)
        .unwrap_or(0)
}

/// The lines of `samples/events.jsonl`.
pub fn sample_lines() -> Vec<String> {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/samples/events.jsonl"))
        .expect("sample file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// What the engine derives from `lines` in one task, in merge order
/// (event time, then topic order, then file order).
pub fn expected_changes(lines: &[String]) -> Vec<StageChange> {
    let model = Model::builtin();
    let limits = no_skew_limits();
    let mut decoded: Vec<(i64, usize, usize, &String)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Ok(e) = decode_event(l.as_bytes(), Format::Json, None, None, &limits) {
            decoded.push((e.occurred_at_ms, e.event_type() as usize, i, l));
        }
    }
    decoded.sort();
    let mut state = TaskState::default();
    let mut out = Vec::new();
    for (_, _, _, l) in decoded {
        let e = decode_event(l.as_bytes(), Format::Json, None, None, &limits).expect("valid");
        out.extend(state.apply(&model, &e).changes);
    }
    out
}

/// A stage-change body without `emitted_at` (wall time), for comparisons.
pub fn body_without_emitted_at(payload: &[u8]) -> Value {
    let mut v: Value = serde_json::from_slice(payload).expect("stage change JSON");
    v.as_object_mut().expect("object").remove("emitted_at");
    v
}

/// One event JSON line; `extra` is appended inside the object (`,"k":"v"`).
pub fn event(id: &str, lead: &str, at_ms: i64, kind: &str, extra: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","lead_id":"{lead}","occurred_at":{at_ms},"type":"{kind}"{extra}}}"#
    )
}
