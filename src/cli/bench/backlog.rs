//! The backlog phase: raw consumption against the full pipeline, with all,
//! none or part of its state, over the same pre-filled topics.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use leadscore::demo::{send_record, Stamp, Traffic, TrafficMix};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use super::running::Running;
use super::BenchArgs;

/// Records per second of each backlog run.
pub struct Backlog {
    pub raw: f64,
    /// Snapshots and changelog.
    pub pipeline: f64,
    pub no_state: f64,
    pub snapshots_only: f64,
}

pub fn measure(
    mock: &MockCluster<'_, DefaultProducerContext>,
    bootstrap: &str,
    args: &BenchArgs,
) -> Result<Backlog> {
    use super::State;
    let with = super::config(bootstrap, "backlog", "snapshots", State::Full)?;
    let without = super::config(bootstrap, "backlog", "no-state", State::None)?;
    let snapshots_only =
        super::config(bootstrap, "backlog", "snapshots-only", State::SnapshotsOnly)?;
    super::create_topics(mock, &with, args.partitions)?;
    let inbound = with.topics.inbound();

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
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
        send_record(&producer, &inbound, &r, Stamp::EventTime);
    }
    producer.flush(Duration::from_secs(60))?;
    eprintln!(
        "filled {} events ({} bytes avg, {} partitions per topic) in {:.1}s",
        args.events,
        bytes / args.events.max(1),
        args.partitions,
        t0.elapsed().as_secs_f64()
    );

    // (a) raw consumption: subscribe and count.
    let raw: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
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

    let pipeline = drain(
        &with,
        available,
        "(b) full pipeline, snapshots and changelog",
    )?;
    let no_state = drain(&without, available, "(b') full pipeline, no state kept")?;
    let snapshots_only = drain(
        &snapshots_only,
        available,
        "(b'') full pipeline, snapshots, no changelog",
    )?;
    Ok(Backlog {
        raw: raw_rate,
        pipeline,
        no_state,
        snapshots_only,
    })
}

/// Runs the pipeline over the whole backlog; records/s from its first
/// processed record to its last.
fn drain(config: &leadscore::config::Config, total: u64, label: &str) -> Result<f64> {
    let run = Running::start(config);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut first: Option<Instant> = None;
    while run.counters.records() < total && Instant::now() < deadline {
        if run.counters.records() > 0 {
            first.get_or_insert_with(Instant::now);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = first.map_or(0.0, |s| s.elapsed().as_secs_f64());
    let m = run.counters.records();
    let changes = run.counters.changes_total();
    run.stop()?;
    let rate = m as f64 / secs.max(1e-9);
    eprintln!("{label}: {m} records in {secs:.2}s = {rate:.0} records/s, {changes} stage changes acknowledged");
    Ok(rate)
}
