//! The backlog phase: raw consumption against the full pipeline, with all,
//! none or part of its state, over the same pre-filled topics.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use leadscore::demo::{send_record, Stamp, Traffic, TrafficMix};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

use super::broker::Broker;
use super::cpu::CpuTime;
use super::running::Running;
use super::BenchArgs;

/// The inbound topics, as `TopicsConfig::inbound` lists them.
type Inbound = [(leadscore::event::EventType, leadscore::config::TopicConfig)];

/// Records per second of each backlog run (medians over the rounds), and
/// the per-round costs over pairs of rounds (see [`paired`]).
pub struct Backlog {
    pub raw: f64,
    /// Snapshots and changelog.
    pub pipeline: f64,
    pub no_state: f64,
    pub snapshots_only: f64,
    /// (b) against (b'), in percent.
    pub state_cost: f64,
    /// (b) against (b''), in percent.
    pub changelog_cost: f64,
    /// Own CPU time per record (µs, mock cluster threads excluded) of (a)
    /// and (b), in the steady window.
    pub raw_cpu_us: f64,
    pub pipeline_cpu_us: f64,
    /// (b) against (b'') by own CPU time per record, in percent.
    pub changelog_cpu_cost: f64,
    pub rounds: usize,
}

impl Backlog {
    /// The summary line.
    pub fn line(&self) -> String {
        format!(
            "rounds={} raw_records_per_sec={:.0} pipeline_records_per_sec={:.0} ratio={:.2} no_state_records_per_sec={:.0} state_cost={:.1}% snapshots_only_records_per_sec={:.0} changelog_cost={:.1}% raw_cpu_us_per_record={:.2} pipeline_cpu_us_per_record={:.2} changelog_cpu_cost={:.1}%",
            self.rounds,
            self.raw,
            self.pipeline,
            self.pipeline / self.raw.max(1e-9),
            self.no_state,
            self.state_cost,
            self.snapshots_only,
            self.changelog_cost,
            self.raw_cpu_us,
            self.pipeline_cpu_us,
            self.changelog_cpu_cost,
        )
    }
}

/// What one run measured in its steady window.
#[derive(Debug, Clone, Copy)]
struct Rate {
    records_per_sec: f64,
    /// Own CPU time per record, µs (see `cpu.rs`).
    cpu_us: f64,
}

/// The rates of one round.
struct Round {
    raw: Rate,
    full: Rate,
    none: Rate,
    snapshots_only: Rate,
}

/// The median (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// A cost over rounds: the median of the means of consecutive pairs of
/// rounds (one pair for two or three rounds, the last odd one left out),
/// or the one round's. (b) and (b'') swap places every round and the run
/// right after the raw consumer pays for page faults the other does not
/// (measured: 15-20% of its CPU in the kernel zeroing pages, against
/// 2-5%), so a single round, or the median of three, is biased towards
/// whichever ran first twice; a pair holds each order once.
fn paired(v: Vec<f64>) -> f64 {
    if v.len() < 2 {
        return median(v);
    }
    median(v.chunks_exact(2).map(|p| (p[0] + p[1]) / 2.0).collect())
}

/// `1 - with / without`, in percent.
fn cost(with: f64, without: f64) -> f64 {
    100.0 * (1.0 - with / without.max(1e-9))
}

/// `with / without - 1`, in percent (for costs per record).
fn extra(with: f64, without: f64) -> f64 {
    100.0 * (with / without.max(1e-9) - 1.0)
}

pub fn measure(broker: &Broker, args: &BenchArgs) -> Result<Backlog> {
    use super::State;
    let bootstrap = &broker.bootstrap();
    let first = super::config(broker, "backlog", "snapshots-0", State::Full)?;
    super::create_topics(broker, &first, args.partitions)?;
    let inbound = first.topics.inbound();
    fill(bootstrap, &inbound, args)?;

    let available = retained(bootstrap, &inbound, args.partitions, args.events)?;
    if available < args.events {
        eprintln!(
            "warning: the broker retained {available} of {} records; use more --partitions",
            args.events
        );
    }
    if !args.no_warmup {
        let mut warm = super::config(broker, "backlog", "warm-up", State::Full)?;
        warm.changelog.catch_up_flush_interval_ms = flush_ms(args, &warm);
        broker.create_topics(&[(&warm.changelog.topic, args.partitions, true)])?;
        drain(&warm, available, "(w) warm-up, full pipeline (not counted)")?;
    }
    let mut rounds = Vec::new();
    for r in 0..args.rounds {
        let raw = raw_rate(bootstrap, &inbound, available, r)?;
        let mut full = super::config(broker, "backlog", &format!("snapshots-{r}"), State::Full)?;
        full.changelog.catch_up_flush_interval_ms = flush_ms(args, &full);
        if r > 0 {
            broker.create_topics(&[(&full.changelog.topic, args.partitions, true)])?;
        }
        let only = super::config(
            broker,
            "backlog",
            &format!("snapshots-only-{r}"),
            State::SnapshotsOnly,
        )?;
        let none = super::config(broker, "backlog", &format!("no-state-{r}"), State::None)?;
        let full_label = "(b) full pipeline, snapshots and changelog";
        let only_label = "(b'') full pipeline, snapshots, no changelog";
        // (b) and (b'') swap places every round, so neither always runs
        // first on a fresh broker.
        let (full_rate, only_rate) = if r % 2 == 0 {
            let f = drain(&full, available, full_label)?;
            (f, drain(&only, available, only_label)?)
        } else {
            let o = drain(&only, available, only_label)?;
            (drain(&full, available, full_label)?, o)
        };
        let none_rate = drain(&none, available, "(b') full pipeline, no state kept")?;
        eprintln!(
            "round {}: ratio {:.2}, state cost {:.1}%, changelog cost {:.1}% (by own CPU per record {:.1}%)",
            r + 1,
            full_rate.records_per_sec / raw.records_per_sec.max(1e-9),
            cost(full_rate.records_per_sec, none_rate.records_per_sec),
            cost(full_rate.records_per_sec, only_rate.records_per_sec),
            extra(full_rate.cpu_us, only_rate.cpu_us)
        );
        rounds.push(Round {
            raw,
            full: full_rate,
            none: none_rate,
            snapshots_only: only_rate,
        });
    }
    let pick = |f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    let pick_cost = |f: fn(&Round) -> f64| paired(rounds.iter().map(f).collect());
    Ok(Backlog {
        raw: pick(|r| r.raw.records_per_sec),
        pipeline: pick(|r| r.full.records_per_sec),
        no_state: pick(|r| r.none.records_per_sec),
        snapshots_only: pick(|r| r.snapshots_only.records_per_sec),
        state_cost: pick_cost(|r| cost(r.full.records_per_sec, r.none.records_per_sec)),
        changelog_cost: pick_cost(|r| {
            cost(r.full.records_per_sec, r.snapshots_only.records_per_sec)
        }),
        raw_cpu_us: pick(|r| r.raw.cpu_us),
        pipeline_cpu_us: pick(|r| r.full.cpu_us),
        changelog_cpu_cost: pick_cost(|r| extra(r.full.cpu_us, r.snapshots_only.cpu_us)),
        rounds: rounds.len(),
    })
}

/// The catch-up flush interval of a run with the changelog: `--catch-up-flush-ms`
/// (never below the live interval), or the config's.
fn flush_ms(args: &BenchArgs, config: &leadscore::config::Config) -> u64 {
    args.catch_up_flush_ms
        .map_or(config.changelog.catch_up_flush_interval_ms, |ms| {
            ms.max(config.changelog.flush_interval_ms)
        })
}

/// Fills the inbound topics with `args.events` demo events.
fn fill(bootstrap: &str, inbound: &Inbound, args: &BenchArgs) -> Result<()> {
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
        send_record(&producer, inbound, &r, Stamp::EventTime);
    }
    producer.flush(Duration::from_secs(60))?;
    eprintln!(
        "filled {} events ({} bytes avg, {} partitions per topic) in {:.1}s",
        args.events,
        bytes / args.events.max(1),
        args.partitions,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A count-only consumer.
fn raw_consumer(bootstrap: &str, group: &str) -> Result<BaseConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.queue.backoff.ms", "10")
        .set("fetch.wait.max.ms", "10")
        .create()?)
}

/// The records the broker still holds (the mock cluster keeps about 5 MB
/// per partition). Some brokers make acknowledged records visible a moment
/// later, so this waits until the count reaches `events` or stops moving.
fn retained(bootstrap: &str, inbound: &Inbound, partitions: i32, events: u64) -> Result<u64> {
    let c = raw_consumer(bootstrap, "bench-watermarks")?;
    let count = || -> Result<u64> {
        let mut available = 0u64;
        for (_, t) in inbound {
            for p in 0..partitions {
                let (lo, hi) = c.fetch_watermarks(&t.name, p, Duration::from_secs(10))?;
                available += (hi - lo).max(0) as u64;
            }
        }
        Ok(available)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = count()?;
    let mut still = 0;
    while last < events && still < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let now = count()?;
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
    Ok(last)
}

/// (a) raw consumption: subscribe and count; records/s from the first
/// record to the last.
fn raw_rate(bootstrap: &str, inbound: &Inbound, available: u64, round: u32) -> Result<Rate> {
    let raw = raw_consumer(bootstrap, &format!("bench-raw-{round}"))?;
    let names: Vec<&str> = inbound.iter().map(|(_, t)| t.name.as_str()).collect();
    raw.subscribe(&names)?;
    let mut n = 0u64;
    let mut started: Option<Instant> = None;
    let mut last = Instant::now();
    let mut steady = Steady::new(available);
    let deadline = Instant::now() + Duration::from_secs(600);
    while n < available && Instant::now() < deadline {
        if let Some(Ok(_m)) = raw.poll(Duration::from_millis(100)) {
            started.get_or_insert_with(Instant::now);
            last = Instant::now();
            n += 1;
            steady.saw(n);
        }
    }
    let raw_secs = started.map_or(0.0, |s| (last - s).as_secs_f64());
    let rate = steady.rate();
    eprintln!(
        "(a) raw rdkafka consumption: {n} records in {raw_secs:.2}s, {:.0} records/s steady (10-90%), {:.2} µs own CPU per record",
        rate.records_per_sec, rate.cpu_us
    );
    Ok(rate)
}

/// The steady part of a drain: from the moment 10% of the records are
/// consumed to the moment 90% are, so that startup (group join, restores,
/// tasks starting at different moments) and the last partitions' tail
/// count for no run.
struct Steady {
    total: u64,
    from: Option<(Instant, CpuTime)>,
    to: Option<(Instant, CpuTime)>,
}

impl Steady {
    fn new(total: u64) -> Steady {
        Steady {
            total,
            from: None,
            to: None,
        }
    }

    /// Notes the count seen now.
    fn saw(&mut self, n: u64) {
        let mark = || (Instant::now(), CpuTime::now());
        if n * 10 >= self.total {
            self.from.get_or_insert_with(mark);
        }
        if n * 10 >= self.total * 9 {
            self.to.get_or_insert_with(mark);
        }
    }

    /// Records per second and own CPU per record between the two marks.
    fn rate(&self) -> Rate {
        match (self.from, self.to) {
            (Some((t0, c0)), Some((t1, c1))) => {
                let records = 0.8 * self.total as f64;
                Rate {
                    records_per_sec: records / (t1 - t0).as_secs_f64().max(1e-9),
                    cpu_us: c1.own_since(&c0).as_secs_f64() * 1e6 / records.max(1.0),
                }
            }
            _ => Rate {
                records_per_sec: 0.0,
                cpu_us: 0.0,
            },
        }
    }
}

/// Runs the pipeline over the whole backlog; records/s between 10% and
/// 90% of it (see [`Steady`]).
fn drain(config: &leadscore::config::Config, total: u64, label: &str) -> Result<Rate> {
    let run = Running::start(config);
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut first: Option<Instant> = None;
    let mut steady = Steady::new(total);
    while run.counters.records() < total && Instant::now() < deadline {
        let n = run.counters.records();
        if n > 0 {
            first.get_or_insert_with(Instant::now);
        }
        steady.saw(n);
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = first.map_or(0.0, |s| s.elapsed().as_secs_f64());
    let m = run.counters.records();
    if m > total {
        eprintln!(
            "warning: {label} read {} records more than the backlog holds: a rebalance made it read some again, so this run's figures are disturbed",
            m - total
        );
    }
    let counters = run.counters.clone();
    run.stop()?;
    // Read after the stop: a stage change is counted when acknowledged,
    // and the stop waits for every acknowledgement.
    let changes = counters.changes_total();
    let rate = steady.rate();
    eprintln!(
        "{label}: {m} records in {secs:.2}s, {:.0} records/s steady (10-90%), {:.2} µs own CPU per record, {changes} stage changes acknowledged",
        rate.records_per_sec, rate.cpu_us
    );
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paired_cost_averages_each_order_once() {
        assert_eq!(paired(vec![]), 0.0);
        assert_eq!(paired(vec![7.0]), 7.0);
        // Rounds 1 and 3 ran (b) first; the third round is left out.
        assert_eq!(paired(vec![20.0, 0.0, 18.0]), 10.0);
        // Two pairs: the median of two means is their mean.
        assert_eq!(paired(vec![20.0, 0.0, 18.0, 4.0]), 10.5);
        assert_eq!(paired(vec![20.0, 0.0, 18.0, 4.0, 30.0, 2.0]), 11.0);
    }
}
