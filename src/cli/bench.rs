//! `leadscore bench`: fills the inbound topics of one mock cluster with N
//! events, then measures in the same run (a) raw rdkafka consumption with no
//! processing and (b) the full pipeline including publishing stage changes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use leadscore::config::Config;
use leadscore::demo::{send_record, Traffic, TrafficMix};
use leadscore::model::Model;
use leadscore::pipeline::{self, Counters, Shutdown};
use leadscore::telemetry::{health::Health, logging};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events to pre-fill.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Partitions per inbound topic (spread keeps the mock cluster's ~5 MB/partition limit away).
    #[arg(long, default_value_t = 64)]
    partitions: i32,
    /// Distinct leads.
    #[arg(long, default_value_t = 200_000)]
    leads: u64,
    /// Rate for the latency phase (default: half the pipeline rate measured in (b)).
    #[arg(long)]
    latency_rate: Option<f64>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    logging::init(leadscore::config::LogFormat::Human, "warn");
    let mock = MockCluster::new(1).context("mock cluster")?;
    let bootstrap = mock.bootstrap_servers();
    let mut config = Config::parse(
        &format!("[kafka]\n\"bootstrap.servers\" = \"{bootstrap}\"\n\"fetch.wait.max.ms\" = 10\n[snapshots]\ndir = \"{}\"\ninterval_secs = 3600\nevery_events = 1000000000\n[limits]\nmax_future_skew_secs = 100000000\n", std::env::temp_dir().join(format!("leadscore-bench-{}", std::process::id())).display()),
        "bench config",
        [],
    )?;
    config.topics.profile = config.topics.profile.take();
    let inbound = config.topics.inbound();
    for (_, t) in &inbound {
        mock.create_topic(&t.name, args.partitions, 1)?;
    }
    mock.create_topic(&config.topics.stage_changes.name, args.partitions, 1)?;
    mock.create_topic(&config.topics.dead_letter, 1, 1)?;

    // Fill.
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    let mut traffic = Traffic::new(
        11,
        args.leads,
        now - 90 * 86_400_000,
        5,
        TrafficMix::default(),
    );
    let t0 = Instant::now();
    let mut bytes = 0u64;
    for _ in 0..args.events {
        let r = traffic.next_record();
        bytes += r.payload.len() as u64;
        send_record(&producer, &inbound, &r);
    }
    producer.flush(Duration::from_secs(60))?;
    eprintln!(
        "filled {} events ({} bytes avg) in {:.1}s",
        args.events,
        bytes / args.events.max(1),
        t0.elapsed().as_secs_f64()
    );

    // (a) raw consumption.
    let raw: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "bench-raw")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.queue.backoff.ms", "10")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    let names: Vec<&str> = inbound.iter().map(|(_, t)| t.name.as_str()).collect();
    raw.subscribe(&names)?;
    // The mock cluster keeps about 5 MB per partition: count what it still holds.
    let mut available = 0u64;
    for (_, t) in &inbound {
        for p in 0..args.partitions {
            let (lo, hi) = raw.fetch_watermarks(&t.name, p, Duration::from_secs(10))?;
            available += (hi - lo).max(0) as u64;
        }
    }
    if available < args.events {
        eprintln!(
            "warning: the mock cluster retained {available} of {} records; use more --partitions",
            args.events
        );
    }
    let mut n = 0u64;
    let mut started: Option<Instant> = None;
    let mut last = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(300);
    while n < available && Instant::now() < deadline {
        if let Some(Ok(_m)) = raw.poll(Duration::from_millis(100)) {
            started.get_or_insert_with(Instant::now);
            last = Instant::now();
            n += 1;
        }
    }
    let raw_secs = started.map_or(0.0, |s| (last - s).as_secs_f64());
    let raw_rate = n as f64 / raw_secs.max(1e-9);
    drop(raw);
    eprintln!(
        "(a) raw rdkafka consumption: {n} records in {raw_secs:.2}s = {raw_rate:.0} records/s"
    );

    // (b) the full pipeline.
    let counters = Counters::default();
    let shutdown = Shutdown::new();
    let c2 = counters.clone();
    let sd = shutdown.clone();
    let total = available;
    let watcher = std::thread::spawn(move || {
        let mut first: Option<Instant> = None;
        let deadline = Instant::now() + Duration::from_secs(600);
        while c2.records() < total && Instant::now() < deadline {
            if c2.records() > 0 {
                first.get_or_insert_with(Instant::now);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let secs = first.map_or(0.0, |s| s.elapsed().as_secs_f64());
        sd.trigger();
        (c2.records(), secs)
    });
    pipeline::run(
        &config,
        Arc::new(Model::builtin()),
        Health::new(),
        counters.clone(),
        shutdown,
    )?;
    let (m, secs) = watcher.join().expect("watcher");
    let rate = m as f64 / secs.max(1e-9);
    eprintln!("(b) full pipeline: {m} records in {secs:.2}s = {rate:.0} records/s, {} stage changes acknowledged", counters.changes_total());
    let (p50, p99, matched) = latency_at(
        &config,
        &bootstrap,
        &inbound,
        &mut traffic,
        (rate / 2.0).max(1000.0),
    )?;
    eprintln!("(c) at {:.0} events/s: event produced -> its stage change readable: p50 {p50:.1} ms, p99 {p99:.1} ms over {matched} changes", args.latency_rate.unwrap_or(rate / 2.0));
    println!(
        "raw_records_per_sec={raw_rate:.0} pipeline_records_per_sec={rate:.0} ratio={:.2} p50_ms={p50:.1} p99_ms={p99:.1}",
        rate / raw_rate.max(1e-9)
    );
    Ok(())
}

/// Runs the pipeline again (resuming from its snapshots) while producing at
/// `rate` for 10 s, and measures, for every stage change, the time from
/// producing its trigger event to a consumer reading the change.
fn latency_at(
    config: &Config,
    bootstrap: &str,
    inbound: &[(leadscore::event::EventType, leadscore::config::TopicConfig)],
    traffic: &mut Traffic,
    rate: f64,
) -> Result<(f64, f64, usize)> {
    use rdkafka::{Message, Offset, TopicPartitionList};
    use std::collections::HashMap;
    use std::sync::Mutex;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let shutdown = Shutdown::new();
    let reader: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-latency")
        .set("fetch.wait.max.ms", "5")
        .create()?;
    let changes = config.topics.stage_changes.name.clone();
    let md = reader.fetch_metadata(Some(&changes), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    for t in md.topics() {
        for p in t.partitions() {
            tpl.add_partition_offset(&changes, p.id(), Offset::End)?;
        }
    }
    reader.assign(&tpl)?;
    let (s2, sd) = (sent.clone(), shutdown.clone());
    let read = std::thread::spawn(move || {
        let mut lat = Vec::new();
        while !sd.is_triggered() {
            if let Some(Ok(m)) = reader.poll(Duration::from_millis(50)) {
                let now = Instant::now();
                let v: serde_json::Value =
                    serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or_default();
                if let Some(id) = v["trigger_event_id"].as_str() {
                    if let Some(t) = s2.lock().expect("sent map").get(id) {
                        lat.push((now - *t).as_secs_f64() * 1000.0);
                    }
                }
            }
        }
        lat
    });
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "1")
        .create()?;
    let records: Vec<_> = (0..(rate * 10.0) as usize)
        .map(|_| traffic.next_record())
        .collect();
    let inbound = inbound.to_vec();
    let (s3, sd3) = (sent.clone(), shutdown.clone());
    let produce = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let start = Instant::now();
        for (i, r) in records.iter().enumerate() {
            let due = start + Duration::from_secs_f64(i as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            if let Some(id) = &r.event_id {
                s3.lock()
                    .expect("sent map")
                    .entry(id.clone())
                    .or_insert_with(Instant::now);
            }
            send_record(&producer, &inbound, r);
        }
        std::thread::sleep(Duration::from_secs(3));
        sd3.trigger();
    });
    pipeline::run(
        config,
        Arc::new(Model::builtin()),
        Health::new(),
        Counters::default(),
        shutdown.clone(),
    )?;
    let _ = produce.join();
    let mut lat = read.join().expect("reader");
    lat.sort_by(f64::total_cmp);
    let q = |f: f64| {
        lat.get(((lat.len() as f64 * f) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    Ok((q(0.5), q(0.99), lat.len()))
}
