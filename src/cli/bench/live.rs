//! The live phase: a ready pipeline on empty topics, events produced at a
//! fixed rate, and the time from producing a `contact_us` marker to reading
//! its MQL change back with a separate consumer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use leadscore::demo::{send_record, Stamp, Traffic, TrafficMix};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::broker::Broker;
use super::running::Running;
use super::BenchArgs;

/// Every this many events, one marker.
const MARKER_EVERY: u64 = 100;

/// What one live rate gave.
pub struct LiveResult {
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub markers: usize,
    pub seen: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LiveResult {
    /// The machine-readable summary line.
    pub fn line(&self) -> String {
        format!(
            "live_rate={:.0} achieved={:.0} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} changes_seen={}/{}",
            self.target_rate,
            self.achieved_rate,
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.seen,
            self.markers
        )
    }
}

/// Marker event id -> when it was handed to the producer.
type Sent = Arc<Mutex<HashMap<String, Instant>>>;

pub fn measure(broker: &Broker, args: &BenchArgs, rates: &[f64]) -> Result<Vec<LiveResult>> {
    let bootstrap = &broker.bootstrap();
    let config = super::config(broker, "live", "live", super::State::Full)?;
    super::create_topics(broker, &config, args.partitions)?;
    let inbound = config.topics.inbound();
    let run = Running::start(&config);
    run.wait_ready(Duration::from_secs(60))?;

    let reader = Reader::start(bootstrap, &config.topics.stage_changes.name)?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", args.live_linger_ms.to_string())
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let mut traffic = Traffic::new(
        23,
        args.leads,
        now - 30 * 86_400_000,
        1,
        TrafficMix::default(),
    );
    let mut marker = 0u64;
    let mut results = Vec::new();
    for &rate in rates {
        // One second of warm-up at the rate, then the measured seconds.
        let _ = produce_at(
            &producer,
            &inbound,
            &mut traffic,
            &mut marker,
            rate,
            Duration::from_secs(1),
            None,
        );
        let sent: Sent = Arc::default();
        reader.expect(sent.clone());
        let secs = Duration::from_secs(args.live_secs);
        let (n, took) = produce_at(
            &producer,
            &inbound,
            &mut traffic,
            &mut marker,
            rate,
            secs,
            Some(&sent),
        );
        producer.flush(Duration::from_secs(30))?;
        let markers = sent.lock().expect("sent").len();
        // Changes still arriving within 10 s after the end count.
        let deadline = Instant::now() + Duration::from_secs(10);
        while reader.seen() < markers && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut lat = reader.take();
        lat.sort_by(f64::total_cmp);
        let q = |f: f64| {
            lat.get(((lat.len() as f64 * f) as usize).min(lat.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        let r = LiveResult {
            target_rate: rate,
            achieved_rate: n as f64 / took.as_secs_f64().max(1e-9),
            markers,
            seen: lat.len(),
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            max_ms: lat.last().copied().unwrap_or(f64::NAN),
        };
        eprintln!(
            "(c) live at {:.0} events/s (achieved {:.0}): produced -> stage change read back: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} of {} changes seen",
            r.target_rate, r.achieved_rate, r.p50_ms, r.p99_ms, r.max_ms, r.seen, r.markers
        );
        results.push(r);
    }
    reader.stop();
    run.stop()?;
    Ok(results)
}

/// Produces at `rate` for `length`; every [`MARKER_EVERY`]th event is a
/// marker, recorded in `sent` when given. Returns events sent and the time taken.
fn produce_at(
    producer: &ThreadedProducer<DefaultProducerContext>,
    inbound: &[(leadscore::event::EventType, leadscore::config::TopicConfig)],
    traffic: &mut Traffic,
    marker: &mut u64,
    rate: f64,
    length: Duration,
    sent: Option<&Sent>,
) -> (u64, Duration) {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < length {
        let due = (start.elapsed().as_secs_f64() * rate) as u64;
        while n < due {
            n += 1;
            if n % MARKER_EVERY == 0 {
                *marker += 1;
                let r = traffic.contact_us(*marker);
                if let (Some(s), Some(id)) = (sent, &r.event_id) {
                    s.lock().expect("sent").insert(id.clone(), Instant::now());
                }
                send_record(producer, inbound, &r, Stamp::SendTime);
            } else {
                send_record(producer, inbound, &traffic.next_record(), Stamp::SendTime);
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    (n, start.elapsed())
}

/// The separate consumer of the output topic, on its own thread.
struct Reader {
    state: Arc<Mutex<ReaderState>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

#[derive(Default)]
struct ReaderState {
    sent: Sent,
    latencies: Vec<f64>,
}

impl Reader {
    fn start(bootstrap: &str, topic: &str) -> Result<Reader> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "bench-live-reader")
            .set("fetch.wait.max.ms", "1")
            .create()?;
        let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut tpl = TopicPartitionList::new();
        for t in md.topics() {
            for p in t.partitions() {
                tpl.add_partition_offset(topic, p.id(), Offset::End)?;
            }
        }
        c.assign(&tpl)?;
        let state: Arc<Mutex<ReaderState>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !sp.load(std::sync::atomic::Ordering::Relaxed) {
                let Some(Ok(m)) = c.poll(Duration::from_millis(20)) else {
                    continue;
                };
                let read_at = Instant::now();
                let v: serde_json::Value =
                    serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or_default();
                let Some(id) = v["trigger_event_id"].as_str() else {
                    continue;
                };
                let mut s = st.lock().expect("reader state");
                let at = s.sent.lock().expect("sent").get(id).copied();
                if let Some(at) = at {
                    s.latencies.push((read_at - at).as_secs_f64() * 1000.0);
                }
            }
        });
        Ok(Reader {
            state,
            stop,
            thread,
        })
    }

    /// From now on, match changes against `sent`.
    fn expect(&self, sent: Sent) {
        let mut s = self.state.lock().expect("reader state");
        s.sent = sent;
        s.latencies.clear();
    }

    fn seen(&self) -> usize {
        self.state.lock().expect("reader state").latencies.len()
    }

    fn take(&self) -> Vec<f64> {
        std::mem::take(&mut self.state.lock().expect("reader state").latencies)
    }

    fn stop(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = self.thread.join();
    }
}
