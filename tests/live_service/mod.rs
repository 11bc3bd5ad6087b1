//! The whole service in this test process, as ops run it: the real
//! pipeline and HTTP endpoints on librdkafka's mock cluster (or the broker
//! of `LEADSCORE_TEST_BROKERS`), synthetic traffic from the demo generator,
//! and a reader of the Prometheus text exposition it serves.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use leadscore::config::Config;
use leadscore::demo::{send_record, Stamp, Traffic, TrafficMix};
use leadscore::event::EventType;
use leadscore::model::Model;
use leadscore::service::{serve, ServiceHandles};
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use crate::kafka_harness::service::{Running, Setup};
use crate::kafka_harness::{http_get, TestKafka};

/// Partitions of every topic (= tasks of the service).
pub const PARTITIONS: i32 = 2;

/// A running service and the broker it reads from.
pub struct LiveService {
    pub kafka: TestKafka,
    pub config: Config,
    pub addr: SocketAddr,
    /// `/metrics` as served before the pipeline started: the first scrape
    /// any Prometheus can make.
    pub first_scrape: String,
    service: Running,
    _snapshots: tempfile::TempDir,
}

impl LiveService {
    /// Creates the topics and starts the service; returns once it listens.
    pub fn start() -> LiveService {
        // The harness's topics and config, with event time allowed ahead of
        // the wall clock (the generator runs in simulated time, like the demo).
        let setup = Setup::new(PARTITIONS);
        let config = setup.config_with("[limits]\nmax_future_skew_secs = 100000000\n");
        let Setup {
            kafka, snapshots, ..
        } = setup;
        let handles = ServiceHandles::default();
        let h = handles.clone();
        let c = config.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            serve(c, Arc::new(Model::builtin()), h, move |addr| {
                // on_listening runs before the pipeline starts.
                let (code, body) = http_get(addr, "/metrics");
                assert_eq!(code, 200, "first /metrics answer");
                let _ = tx.send((addr, body));
            })
        });
        let (addr, first_scrape) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("service listening");
        LiveService {
            kafka,
            config,
            addr,
            first_scrape,
            service: Running {
                handles,
                addr,
                thread,
            },
            _snapshots: snapshots,
        }
    }

    /// The configured name of the inbound topic for `t`.
    pub fn topic(&self, t: EventType) -> String {
        self.kafka.topic(&format!("events.{}", t.as_str()))
    }

    /// Every inbound topic name, in configuration order.
    pub fn inbound_topics(&self) -> Vec<String> {
        self.config
            .topics
            .inbound()
            .into_iter()
            .map(|(_, t)| t.name)
            .collect()
    }

    /// Waits until `/readyz` answers 200 (tasks restored and running).
    pub fn wait_ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while http_get(self.addr, "/readyz").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "service not ready within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The current `/metrics` text.
    pub fn scrape(&self) -> String {
        let (code, body) = http_get(self.addr, "/metrics");
        assert_eq!(code, 200, "/metrics answer");
        body
    }

    /// Produces `count` records that the codec refuses (not JSON) to the
    /// `t` topic, spread over its partitions, and waits for their acks.
    pub fn produce_malformed(&self, t: EventType, count: usize) {
        let topic = self.topic(t);
        for i in 0..count {
            self.kafka
                .produce(&topic, &format!("bad-{i}"), b"{this is not json", now_ms());
        }
        self.kafka.flush();
    }

    /// Starts synthetic traffic (the demo generator) at `rate` events/s,
    /// `days_per_second` simulated days per second, until the returned
    /// handle is stopped.
    pub fn traffic(&self, rate: u64, days_per_second: f64, mix: TrafficMix) -> TrafficRun {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.kafka.bootstrap)
            .set("linger.ms", "5")
            .set("partitioner", "murmur2_random")
            .create()
            .expect("traffic producer");
        let topics = self.config.topics.inbound();
        let step = (86_400_000.0 * days_per_second / rate as f64) as i64;
        let mut traffic = Traffic::new(11, 2_000, now_ms() - 60 * 86_400_000, step, mix);
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let start = Instant::now();
            let mut sent = 0u64;
            while !s.load(Ordering::SeqCst) {
                let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
                while sent < due {
                    send_record(&producer, &topics, &traffic.next_record(), Stamp::SendTime);
                    sent += 1;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            producer
                .flush(Duration::from_secs(10))
                .expect("flush traffic");
            sent
        });
        TrafficRun { stop, thread }
    }

    /// Stops the service gracefully and checks that it stopped cleanly.
    pub fn stop(self) {
        self.service.stop();
    }
}

/// Background traffic of a [`LiveService`].
pub struct TrafficRun {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl TrafficRun {
    /// Stops producing; returns how many records were sent.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("traffic thread")
    }
}

/// Wall-clock milliseconds since the epoch (record timestamps).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One sample line of the text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed `/metrics` answer: samples and `# HELP` texts by metric name.
#[derive(Debug, Default)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub help: BTreeMap<String, String>,
}

impl Exposition {
    /// Parses the text format as the metrics exporter writes it (one sample
    /// a line, `name{label="value",...} value`). Panics on a line it cannot
    /// read, so a malformed exposition fails the test.
    pub fn parse(text: &str) -> Exposition {
        let mut out = Exposition::default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
                out.help.insert(name.to_string(), help.to_string());
                continue;
            }
            if line.starts_with('#') {
                continue;
            }
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("exposition line without value: {line}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad sample value in: {line}")),
            };
            let (name, labels) = match series.split_once('{') {
                Some((n, l)) => (n, parse_labels(l.strip_suffix('}').unwrap_or(l), line)),
                None => (series, BTreeMap::new()),
            };
            out.samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
        out
    }

    /// Samples of series `name` whose labels include every pair of `with`.
    pub fn find<'a>(
        &'a self,
        name: &'a str,
        with: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The value of the one series `name` with labels `with`, if present.
    pub fn value(&self, name: &str, with: &[(&str, &str)]) -> Option<f64> {
        let found: Vec<&Sample> = self.find(name, with).collect();
        assert!(
            found.len() <= 1,
            "{name} {with:?} matches several series: {found:?}"
        );
        found.first().map(|s| s.value)
    }

    /// Whether metric `name` has any sample (a histogram's `_bucket`,
    /// `_sum` or `_count` series count for it).
    pub fn has_metric(&self, name: &str) -> bool {
        self.samples.iter().any(|s| {
            s.name == name
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| s.name.strip_suffix(suffix) == Some(name))
        })
    }
}

/// Parses the inside of `{...}` (label values with `\\`, `\"` and `\n`
/// escapes); `line` is for error messages.
fn parse_labels(text: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad labels in: {line}"));
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => panic!("bad escape in: {line}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in: {line}"),
            }
        };
        labels.insert(key.trim_start_matches(',').to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}
