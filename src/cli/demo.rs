//! `leadscore demo`: the real pipeline on librdkafka's in-process mock
//! cluster, fed with synthetic traffic, with live progress and the HTTP
//! endpoints. Needs nothing installed.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use leadscore::config::{Config, LogFormat, TopicConfig};
use leadscore::demo::{send_record, Stamp, Traffic, TrafficMix};
use leadscore::engine::{Outcome, Stage};
use leadscore::event::EventType;
use leadscore::model::Model;
use leadscore::pipeline::{Counters, Shutdown};
use leadscore::service::{serve, ServiceHandles};
use leadscore::telemetry::{health::Health, logging};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::ClientConfig;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seconds of traffic before the demo drains and exits.
    #[arg(long, default_value_t = 30)]
    duration: u64,
    /// Distinct leads in the synthetic traffic.
    #[arg(long, default_value_t = 50_000)]
    leads: u64,
    /// Events per second produced.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    /// Partitions per topic (= tasks).
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Simulated event-time days per wall-clock second (decay needs days to show).
    #[arg(long, default_value_t = 2.0)]
    days_per_second: f64,
    /// HTTP listen address.
    #[arg(long, default_value = "127.0.0.1:9464")]
    http: SocketAddr,
}

pub fn run(args: DemoArgs) -> Result<()> {
    logging::init(LogFormat::Human, "warn");
    let mock = MockCluster::new(1).context("cannot start librdkafka's mock cluster")?;
    let config = demo_config(&mock.bootstrap_servers(), &args)?;
    for (_, t) in config.topics.inbound() {
        mock.create_topic(&t.name, args.partitions, 1)
            .with_context(|| format!("create topic {}", t.name))?;
    }
    mock.create_topic(&config.topics.stage_changes.name, args.partitions, 1)?;
    mock.create_topic(&config.topics.dead_letter, 1, 1)?;
    let model = Arc::new(Model::builtin());
    eprintln!(
        "leadscore demo: mock Kafka cluster at {}, {} partitions per topic, model {}",
        mock.bootstrap_servers(),
        args.partitions,
        model.version
    );
    eprintln!(
        "  {} leads, {} events/s for {} s, {} simulated day(s) per second",
        args.leads, args.rate, args.duration, args.days_per_second
    );

    let shutdown = Shutdown::new();
    let counters = Counters::default();
    let produced = Arc::new(AtomicU64::new(0));
    let generator = spawn_generator(&config, &args, produced.clone(), shutdown.clone())?;
    let progress = spawn_progress(&args, counters.clone(), produced.clone(), shutdown.clone());

    let handles = ServiceHandles {
        shutdown: shutdown.clone(),
        counters: counters.clone(),
        health: Health::new(),
    };
    let result = serve(config, model, handles, |addr| {
        eprintln!(
            "  HTTP: http://{addr}/metrics  http://{addr}/readyz  http://{addr}/leads/{}",
            Traffic::lead_id(16)
        );
    });
    shutdown.trigger();
    let _ = generator.join();
    let _ = progress.join();
    result?;
    print_summary(&counters, produced.load(Ordering::Relaxed));
    drop(mock);
    Ok(())
}

fn demo_config(bootstrap: &str, args: &DemoArgs) -> Result<Config> {
    let dir = std::env::temp_dir().join(format!("leadscore-demo-{}", std::process::id()));
    let text = format!(
        r#"
[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "leadscore-demo"
"fetch.wait.max.ms" = 10
[snapshots]
dir = "{}"
interval_secs = 5
[http]
listen = "{}"
[limits]
# Demo traffic runs in simulated time, ahead of the wall clock.
max_future_skew_secs = 100000000
"#,
        dir.display(),
        args.http
    );
    Ok(Config::parse(&text, "demo config", [])?)
}

fn spawn_generator(
    config: &Config,
    args: &DemoArgs,
    produced: Arc<AtomicU64>,
    shutdown: Shutdown,
) -> Result<std::thread::JoinHandle<()>> {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set(
            "bootstrap.servers",
            config
                .kafka_properties()
                .into_iter()
                .find(|(k, _)| k == "bootstrap.servers")
                .map(|(_, v)| v)
                .unwrap_or_default(),
        )
        .set("linger.ms", "5")
        .set("partitioner", "murmur2_random")
        .create()
        .context("cannot create the demo traffic producer")?;
    let topics: Vec<(EventType, TopicConfig)> = config.topics.inbound();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let rate = args.rate.max(1);
    let step = ((86_400_000.0 * args.days_per_second) / rate as f64) as i64;
    let mut traffic = Traffic::new(
        7,
        args.leads,
        now - 60 * 86_400_000,
        step,
        TrafficMix::default(),
    );
    let duration = Duration::from_secs(args.duration);
    Ok(std::thread::spawn(move || {
        let start = Instant::now();
        let mut sent = 0u64;
        while start.elapsed() < duration && !shutdown.is_triggered() {
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while sent < due {
                let r = traffic.next_record();
                send_record(&producer, &topics, &r, Stamp::SendTime);
                sent += 1;
                produced.store(sent, Ordering::Relaxed);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = producer.flush(Duration::from_secs(10));
    }))
}

fn spawn_progress(
    args: &DemoArgs,
    counters: Counters,
    produced: Arc<AtomicU64>,
    shutdown: Shutdown,
) -> std::thread::JoinHandle<()> {
    let duration = Duration::from_secs(args.duration);
    let tty = std::io::stderr().is_terminal();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut last = (Instant::now(), 0u64);
        let mut drained_since: Option<Instant> = None;
        while !shutdown.is_triggered() {
            std::thread::sleep(Duration::from_secs(1));
            let records = counters.records();
            let rate = (records - last.1) as f64 / last.0.elapsed().as_secs_f64();
            last = (Instant::now(), records);
            let line = format!(
                "{:>4}s  events {:>9} ({:>7.0}/s)  scored {}  dup {}  bot {}  dlq {}  | lead->mql {}  ->sql {}  recycled {}",
                start.elapsed().as_secs(),
                records,
                rate,
                counters.outcome(Outcome::Scored),
                counters.outcome(Outcome::Duplicate),
                counters.outcome(Outcome::Bot) + counters.outcome(Outcome::RateLimited),
                counters.dlq(),
                counters.change(Stage::Lead, Stage::Mql),
                counters.change(Stage::Lead, Stage::Sql) + counters.change(Stage::Mql, Stage::Sql),
                counters.change(Stage::Mql, Stage::Lead) + counters.change(Stage::Sql, Stage::Lead),
            );
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
            // After the traffic stops, exit once everything produced was processed.
            if start.elapsed() >= duration {
                let done = records >= produced.load(Ordering::Relaxed);
                let since = *drained_since.get_or_insert_with(Instant::now);
                if done || since.elapsed() > Duration::from_secs(20) {
                    shutdown.trigger();
                }
            }
        }
        if tty {
            eprintln!();
        }
    })
}

fn print_summary(c: &Counters, produced: u64) {
    eprintln!("\nleadscore demo summary");
    eprintln!("  records produced      {produced}");
    eprintln!("  records processed     {}", c.records());
    for o in Outcome::ALL {
        eprintln!("  {:<21} {}", o.as_str(), c.outcome(o));
    }
    eprintln!("  {:<21} {}", "dead-lettered", c.dlq());
    eprintln!("  stage changes (acknowledged on leadscore.stage_changes):");
    for from in [Stage::Lead, Stage::Mql, Stage::Sql] {
        for to in [Stage::Lead, Stage::Mql, Stage::Sql] {
            let n = c.change(from, to);
            if n > 0 {
                eprintln!("    {from:>4} -> {to:<4} {n}");
            }
        }
    }
    eprintln!("  producer retries      {}", c.producer_errors());
}
