//! Kafka for integration tests: librdkafka's mock cluster by default, or a
//! real Kafka-protocol broker when `LEADSCORE_TEST_BROKERS=host:port` is set
//! (`.ci/run` starts one). Topic names get a unique prefix so runs against a
//! shared broker never see each other's records.

#![allow(dead_code)]

pub mod service;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A broker for one test.
pub struct TestKafka {
    pub mock: Option<MockCluster<'static, DefaultProducerContext>>,
    pub bootstrap: String,
    pub prefix: String,
    producer: ThreadedProducer<DefaultProducerContext>,
}

impl TestKafka {
    pub fn start() -> TestKafka {
        match std::env::var("LEADSCORE_TEST_BROKERS") {
            Ok(b) if !b.is_empty() => TestKafka::with(None, b),
            _ => TestKafka::mock_cluster(1),
        }
    }

    /// librdkafka's mock cluster with `brokers` brokers (ids 1..=brokers),
    /// whatever `LEADSCORE_TEST_BROKERS` says: for tests that need its
    /// fault controls (see `mock()`).
    pub fn mock_cluster(brokers: i32) -> TestKafka {
        let m = MockCluster::new(brokers).expect("start librdkafka mock cluster");
        let b = m.bootstrap_servers();
        TestKafka::with(Some(m), b)
    }

    fn with(
        mock: Option<MockCluster<'static, DefaultProducerContext>>,
        bootstrap: String,
    ) -> TestKafka {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!(
            "t{}-{}-{}",
            std::process::id(),
            n,
            Instant::now().elapsed().as_nanos() % 1000
        );
        let producer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("linger.ms", "1")
            .set("partitioner", "murmur2_random")
            .create()
            .expect("test producer");
        TestKafka {
            mock,
            bootstrap,
            prefix,
            producer,
        }
    }

    pub fn is_mock(&self) -> bool {
        self.mock.is_some()
    }

    /// The mock cluster's controls (fault injection).
    pub fn mock(&self) -> &MockCluster<'static, DefaultProducerContext> {
        self.mock
            .as_ref()
            .expect("this test needs librdkafka's mock cluster (TestKafka::mock_cluster)")
    }

    /// The unique name of a test topic.
    pub fn topic(&self, base: &str) -> String {
        format!("{}.{}", self.prefix, base)
    }

    /// The metric label every one of this test's topics matches (for
    /// [`events_counted`]).
    pub fn topics_label(&self) -> String {
        format!("topic=\"{}.", self.prefix)
    }

    pub fn create_topic(&self, name: &str, partitions: i32) {
        match &self.mock {
            Some(m) => m
                .create_topic(name, partitions, 1)
                .expect("create mock topic"),
            None => {
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", &self.bootstrap)
                    .create()
                    .expect("admin client");
                let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
                let res = futures::executor::block_on(admin.create_topics(
                    [&topic],
                    &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
                ))
                .expect("create topics");
                for r in res {
                    if let Err((t, e)) = r {
                        if e != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                            panic!("create topic {t}: {e}");
                        }
                    }
                }
            }
        }
        self.wait_for_topic(name, partitions);
    }

    fn wait_for_topic(&self, name: &str, partitions: i32) {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("metadata client");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(md) = c.fetch_metadata(Some(name), Duration::from_secs(2)) {
                if md.topics().iter().any(|t| {
                    t.name() == name
                        && t.error().is_none()
                        && t.partitions().len() as i32 == partitions
                }) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("topic {name} did not appear with {partitions} partitions");
    }

    /// Produces one record (key, payload, timestamp), partitioned by key.
    pub fn produce(&self, topic: &str, key: &str, payload: &[u8], timestamp_ms: i64) {
        self.send(
            BaseRecord::to(topic)
                .key(key)
                .payload(payload)
                .timestamp(timestamp_ms),
        );
    }

    /// Produces one record with a value that may be null and headers,
    /// partitioned by key.
    pub fn produce_with(
        &self,
        topic: &str,
        key: &str,
        payload: Option<&[u8]>,
        headers: &[(&str, &str)],
        timestamp_ms: i64,
    ) {
        let h = headers
            .iter()
            .fold(rdkafka::message::OwnedHeaders::new(), |h, (k, v)| {
                h.insert(rdkafka::message::Header {
                    key: k,
                    value: Some(*v),
                })
            });
        let mut rec = BaseRecord::to(topic)
            .key(key)
            .headers(h)
            .timestamp(timestamp_ms);
        if let Some(p) = payload {
            rec = rec.payload(p);
        }
        self.send(rec);
    }

    /// Produces one record to an explicit partition.
    pub fn produce_to(
        &self,
        topic: &str,
        partition: i32,
        key: &str,
        payload: &[u8],
        timestamp_ms: i64,
    ) {
        self.send(
            BaseRecord::to(topic)
                .partition(partition)
                .key(key)
                .payload(payload)
                .timestamp(timestamp_ms),
        );
    }

    /// Hands a record to the producer, waiting while its queue is full.
    fn send(&self, mut rec: BaseRecord<'_, str, [u8]>) {
        loop {
            match self.producer.send(rec) {
                Ok(()) => return,
                Err((_, back)) => {
                    rec = back;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }

    pub fn flush(&self) {
        self.producer
            .flush(Duration::from_secs(30))
            .expect("flush test producer");
    }

    /// Reads every record of `topic` until `count` were seen or `timeout` passed.
    pub fn read_all(&self, topic: &str, count: usize, timeout: Duration) -> Vec<OwnedMessage> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set(
                "group.id",
                format!(
                    "{}-reader-{}",
                    self.prefix,
                    COUNTER.fetch_add(1, Ordering::SeqCst)
                ),
            )
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .set("fetch.wait.max.ms", "10")
            .create()
            .expect("reader");
        // Assign every partition from the beginning: no group join to wait for.
        let md = c
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("reader metadata");
        let mut tpl = TopicPartitionList::new();
        for t in md.topics().iter().filter(|t| t.name() == topic) {
            for p in t.partitions() {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .expect("reader offset");
            }
        }
        c.assign(&tpl).expect("assign reader");
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        while out.len() < count && Instant::now() < deadline {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
                out.push(m.detach());
            }
        }
        // Anything more that arrives shortly after is read too (to catch extras).
        let settle = Instant::now() + Duration::from_millis(500);
        while Instant::now() < settle {
            if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
                out.push(m.detach());
            }
        }
        out
    }

    /// The group's committed offsets for `topic` partitions `0..partitions`.
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .create()
            .expect("offsets reader");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        match c.committed_offsets(tpl, Duration::from_secs(5)) {
            Ok(t) => t
                .elements()
                .iter()
                .map(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .collect(),
            Err(_) => vec![None; partitions as usize],
        }
    }
}

/// A partition whose committed offset has not reached its end:
/// `(topic, partition, end, committed)`.
pub type Behind = (String, i32, i64, Option<i64>);

impl TestKafka {
    /// The end offset of each non-empty `(topic, partition)` for `partitions`
    /// partitions of each topic: one past the last record read back (not
    /// ListOffsets, which some Kafka-protocol brokers answer inexactly).
    pub fn end_offsets(&self, topics: &[String], partitions: i32) -> Vec<(String, i32, i64)> {
        let mut out = Vec::new();
        for t in topics {
            // One reader per topic, so an end-of-partition report (which
            // names only the partition) is unambiguous.
            let c: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &self.bootstrap)
                .set("group.id", format!("{}-ends", self.prefix))
                .set("enable.partition.eof", "true")
                .set("fetch.wait.max.ms", "10")
                .create()
                .expect("end reader");
            let mut tpl = TopicPartitionList::new();
            for p in 0..partitions {
                tpl.add_partition_offset(t, p, Offset::Beginning)
                    .expect("end reader offset");
            }
            c.assign(&tpl).expect("assign end reader");
            let mut ends = vec![0i64; partitions as usize];
            let mut at_end = vec![false; partitions as usize];
            let deadline = Instant::now() + Duration::from_secs(120);
            while at_end.iter().any(|e| !e) {
                assert!(
                    Instant::now() < deadline,
                    "reading {t} to its end timed out"
                );
                match c.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => {
                        ends[m.partition() as usize] = m.offset() + 1;
                        at_end[m.partition() as usize] = false;
                    }
                    Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                        at_end[p as usize] = true;
                    }
                    _ => {}
                }
            }
            for (p, end) in ends.into_iter().enumerate() {
                if end > 0 {
                    out.push((t.clone(), p as i32, end));
                }
            }
        }
        out
    }

    /// Waits until `group` has committed `end` for every `(topic, partition,
    /// end)`; on timeout returns the ones behind with what was committed.
    pub fn wait_for_commits(
        &self,
        group: &str,
        ends: &[(String, i32, i64)],
        timeout: Duration,
    ) -> Result<(), Vec<Behind>> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .set("group.id", group)
            .create()
            .expect("offsets reader");
        let deadline = Instant::now() + timeout;
        loop {
            let mut tpl = TopicPartitionList::new();
            for (t, p, _) in ends {
                tpl.add_partition(t, *p);
            }
            let committed = c.committed_offsets(tpl, Duration::from_secs(5)).ok();
            let behind: Vec<_> = ends
                .iter()
                .filter_map(|(t, p, end)| {
                    let got = committed
                        .as_ref()
                        .and_then(|c| c.find_partition(t, *p))
                        .and_then(|e| match e.offset() {
                            Offset::Offset(o) => Some(o),
                            _ => None,
                        });
                    (got != Some(*end)).then(|| (t.clone(), *p, *end, got))
                })
                .collect();
            if behind.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(behind);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A message's headers as a map (last value wins).
pub fn headers(m: &OwnedMessage) -> HashMap<String, String> {
    let mut out = HashMap::new();
    if let Some(h) = m.headers() {
        for hdr in h.iter() {
            out.insert(
                hdr.key.to_string(),
                String::from_utf8_lossy(hdr.value.unwrap_or_default()).to_string(),
            );
        }
    }
    out
}

/// The sum of the `leadscore_events_total` samples of a scrape whose labels
/// contain each of `labels`. The services of one test binary share the
/// process's metrics recorder, so a test names its own topics (their
/// prefix) to count only what it produced.
pub fn events_counted(metrics: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| l.starts_with("leadscore_events_total{"))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// Waits up to 10 s for the service at `addr` to count `n` events with
/// `labels` (a task hands its counts over in batches, and when it idles),
/// then asserts the count is exactly `n`.
pub fn expect_events(addr: std::net::SocketAddr, labels: &[&str], n: f64, what: &str) {
    let count = || events_counted(&http_get(addr, "/metrics").1, labels);
    service::wait_until(Duration::from_secs(10), what, || count() >= n);
    let (_, metrics) = http_get(addr, "/metrics");
    assert_eq!(events_counted(&metrics, labels), n, "{what}:\n{metrics}");
}

/// A minimal HTTP GET against the service (status code and body).
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .expect("connect to HTTP");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write request");
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok();
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
