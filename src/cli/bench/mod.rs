//! `leadscore bench`: what users feel, measured in one run on one broker
//! (librdkafka's mock cluster unless `--brokers` names one).
//!
//! 1. **Backlog**: fill the inbound topics with N events, then (a) a raw
//!    rdkafka consumer that only counts, (b) the full pipeline with
//!    snapshots and the changelog, (b') the same with neither, (b'') with
//!    snapshots but no changelog. Throughput is reported as a ratio to (a);
//!    the cost of state as (b) against (b'), the changelog's own as (b)
//!    against (b'').
//! 2. **Live**: a fresh pipeline on empty topics, ready, then events
//!    produced at fixed rates (by default 10%, 50% and 90% of (b)); every
//!    100th event a `contact_us` form for a new lead, whose MQL change is
//!    timed from the moment it was produced to the moment a separate
//!    consumer reads it from the output topic.

mod backlog;
mod broker;
mod cpu;
mod live;
mod running;

use anyhow::{Context, Result};
use broker::Broker;
use clap::Args;
use leadscore::config::Config;
use leadscore::telemetry::logging;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events to pre-fill for the backlog phase.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Partitions per topic (spread keeps the mock cluster's ~5 MB/partition limit away).
    #[arg(long, default_value_t = 64)]
    partitions: i32,
    /// Distinct leads.
    #[arg(long, default_value_t = 200_000)]
    leads: u64,
    /// Live rates as fractions of the measured backlog rate.
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.5,0.9")]
    live_fractions: Vec<f64>,
    /// Live rates in events/s (instead of fractions of the backlog rate).
    #[arg(long, value_delimiter = ',')]
    live_rates: Vec<f64>,
    /// Seconds measured at each live rate.
    #[arg(long, default_value_t = 10)]
    live_secs: u64,
    /// `linger.ms` of the live phase's event producer. Latency is timed
    /// from the hand-over to that producer, so it includes this wait; on
    /// the mock cluster a longer linger means fewer, larger message sets,
    /// which its fetch path walks one by one (librdkafka's default is 5).
    #[arg(long, default_value_t = 1)]
    live_linger_ms: u32,
    /// Skip the backlog phase (then --live-rates is required).
    #[arg(long)]
    live_only: bool,
    /// Skip the live phase.
    #[arg(long, conflicts_with = "live_only")]
    backlog_only: bool,
    /// Backlog rounds: each drains the same topics with (a), (b), (b'')
    /// and (b') afresh, (b) and (b'') in alternating order; the summary
    /// gives the median of each and the median of the per-round costs.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// `[changelog] catch_up_flush_interval_ms` of the backlog run (b)
    /// (default: the config default, 30 s, longer than a default backlog
    /// run, so that run has no flush; shorter shows what flushes cost).
    #[arg(long)]
    catch_up_flush_ms: Option<u64>,
    /// Skip the unmeasured warm-up drain before the first round. Without
    /// it, whichever pipeline runs first also pays for the process's first
    /// touch of the memory a pipeline of this size holds (the kernel zeroes
    /// fresh pages; later runs reuse what the allocator kept), which a
    /// service that has been running no longer pays.
    #[arg(long)]
    no_warmup: bool,
    /// Run against this broker (host:port) instead of the mock cluster;
    /// the bench creates its topics there, named `bench<time>-<pid>.*`.
    #[arg(long)]
    brokers: Option<String>,
}

pub fn run(args: BenchArgs) -> Result<()> {
    logging::init(leadscore::config::LogFormat::Human, "warn");
    let broker = Broker::new(args.brokers.as_deref())?;
    let mut backlog_rate = None;
    let mut summary = Vec::new();
    if !args.live_only {
        let b = backlog::measure(&broker, &args)?;
        summary.push(b.line());
        backlog_rate = Some(b.pipeline);
    }
    if !args.backlog_only {
        let rates: Vec<f64> = if !args.live_rates.is_empty() {
            args.live_rates.clone()
        } else {
            let base = backlog_rate.context("--live-only needs --live-rates")?;
            args.live_fractions.iter().map(|f| f * base).collect()
        };
        for r in live::measure(&broker, &args, &rates)? {
            summary.push(r.line());
        }
    }
    for line in summary {
        println!("{line}");
    }
    Ok(())
}

/// What state a bench run keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Snapshots and the changelog, as `run` does by default.
    Full,
    /// Snapshots, no changelog.
    SnapshotsOnly,
    /// Neither.
    None,
}

/// The pipeline config of a bench phase: `phase` names the topics,
/// `group` the consumer group, snapshot directory and changelog topic,
/// `state` what is kept.
fn config(broker: &Broker, phase: &str, group: &str, state: State) -> Result<Config> {
    let bootstrap = broker.bootstrap();
    let prefix = broker.prefix(phase);
    let snapshots = state != State::None;
    let changelog = state == State::Full;
    let dir = std::env::temp_dir().join(format!("leadscore-bench-{}-{group}", std::process::id()));
    let mut topics = String::new();
    for t in leadscore::event::EventType::ALL {
        topics.push_str(&format!(
            "{} = {{ name = \"{prefix}.events.{}\" }}\n",
            t.as_str(),
            t.as_str()
        ));
    }
    // The group gets Kafka's 45 s session timeout, not leadscore's 10 s: on
    // two cores shared with the mock cluster, a 288-partition run once went
    // 13 s without a heartbeat answered, lost its assignment mid-run and
    // read part of the backlog again; a bench measures throughput, not
    // fail-over.
    let text = format!(
        "[kafka]\n\"bootstrap.servers\" = \"{bootstrap}\"\n\"group.id\" = \"{prefix}-bench-{group}\"\n\"session.timeout.ms\" = \"45000\"\n\
         [topics]\n{topics}stage_changes = {{ name = \"{prefix}.stage_changes\" }}\ndead_letter = \"{prefix}.dlq\"\n\
         [snapshots]\nenabled = {snapshots}\ndir = \"{}\"\n\
         [changelog]\nenabled = {changelog}\ntopic = \"{prefix}.{group}.changelog\"\n\
         [limits]\nmax_future_skew_secs = 100000000\n",
        dir.display()
    );
    Ok(Config::parse(&text, "bench config", [])?)
}

/// Creates a phase's topics.
fn create_topics(broker: &Broker, config: &Config, partitions: i32) -> Result<()> {
    let inbound = config.topics.inbound();
    let mut topics: Vec<(&str, i32, bool)> = inbound
        .iter()
        .map(|(_, t)| (t.name.as_str(), partitions, false))
        .collect();
    topics.push((&config.topics.stage_changes.name, partitions, false));
    topics.push((&config.topics.dead_letter, 1, false));
    if config.changelog.enabled {
        topics.push((&config.changelog.topic, partitions, true));
    }
    broker.create_topics(&topics)
}
