//! `leadscore demo`: the real pipeline on librdkafka's in-process mock
//! cluster, fed with synthetic traffic, with live progress and the HTTP
//! endpoints. Needs nothing installed.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Args;
use leadscore::config::{Config, LogFormat, TopicConfig};
use leadscore::demo::{send_record, InProcessCluster, Stamp, Traffic, TrafficMix};
use leadscore::engine::{Outcome, Stage};
use leadscore::event::EventType;
use leadscore::model::Model;
use leadscore::pipeline::{Counters, Shutdown};
use leadscore::service::{serve, ServiceHandles};
use leadscore::telemetry::{health::Health, logging};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Seconds of traffic; the demo ends a second or two later.
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
    /// Keep the snapshots in this directory (default: a temporary one, removed at the end).
    #[arg(long)]
    snapshot_dir: Option<PathBuf>,
}

/// After the traffic stops, how long the demo waits for the pipeline to
/// finish what was produced before it shuts down.
const DRAIN: Duration = Duration::from_millis(1500);

pub fn run(args: DemoArgs) -> Result<()> {
    // Records the mock cluster deletes before they are read are counted in
    // the summary; librdkafka's line for each offset reset would only bury it.
    logging::init(LogFormat::Human, "warn,librdkafka=error,rdkafka=error");
    let kafka = InProcessCluster::start(1)?;
    let mock = kafka.cluster();
    let (snapshots, temporary) = match &args.snapshot_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("leadscore-demo-{}", std::process::id())),
            true,
        ),
    };
    let config = demo_config(&mock.bootstrap_servers(), &args, &snapshots)?;
    for (_, t) in config.topics.inbound() {
        mock.create_topic(&t.name, args.partitions, 1)
            .with_context(|| format!("create topic {}", t.name))?;
    }
    mock.create_topic(&config.topics.stage_changes.name, args.partitions, 1)?;
    mock.create_topic(&config.topics.dead_letter, 1, 1)?;
    // The mock cluster does not take CreateTopics requests: the changelog
    // topic `run` would create is made here.
    mock.create_topic(&config.changelog.topic, args.partitions, 1)?;
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
    let http: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
    let showcase = Showcase::start(
        &mock.bootstrap_servers(),
        &config.topics.stage_changes.name,
        http.clone(),
        shutdown.clone(),
    )?;
    let generator = spawn_generator(&config, &args, produced.clone(), shutdown.clone())?;
    let progress = spawn_progress(&args, counters.clone(), produced.clone(), shutdown.clone());

    let handles = ServiceHandles {
        shutdown: shutdown.clone(),
        counters: counters.clone(),
        health: Health::new(),
    };
    let result = serve(config, model, handles, |addr| {
        eprintln!(
            "  HTTP: http://{addr}/metrics  http://{addr}/readyz  http://{addr}/leads/{{lead_id}}"
        );
        *http.lock().expect("http address") = Some(addr);
    });
    shutdown.trigger();
    let _ = generator.join();
    let _ = progress.join();
    let examples = showcase.finish();
    result?;
    print_summary(&counters, produced.load(Ordering::Relaxed));
    print_examples(&examples, *http.lock().expect("http address"));
    if temporary {
        let _ = std::fs::remove_dir_all(&snapshots);
        eprintln!(
            "  snapshots were written to {} (removed)",
            snapshots.display()
        );
    } else {
        eprintln!("  snapshots are in {}", snapshots.display());
    }
    drop(mock);
    drop(kafka);
    Ok(())
}

fn demo_config(bootstrap: &str, args: &DemoArgs, snapshots: &std::path::Path) -> Result<Config> {
    let text = format!(
        r#"
[kafka]
"bootstrap.servers" = "{bootstrap}"
"group.id" = "leadscore-demo"
[snapshots]
dir = "{}"
interval_secs = 5
[http]
listen = "{}"
[limits]
# Demo traffic runs in simulated time, ahead of the wall clock.
max_future_skew_secs = 100000000
drain_timeout_secs = 5
"#,
        snapshots.display(),
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
        // At the default rate and partitions, batches of about 60 records
        // per partition instead of 6: the mock cluster finds a fetch's
        // offset by walking a partition's message sets one by one, so at
        // 20 000 events/s with a 5 ms linger that walk grew to thousands
        // of sets and the demo fell behind after about 20 s
        // (BENCHMARKS.md, "The demo").
        .set("linger.ms", "50")
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
            }
            produced.store(sent, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = producer.flush(Duration::from_secs(2));
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
        while !shutdown.is_triggered() {
            // Wake at each full second, and exactly when the traffic stops.
            let elapsed = start.elapsed();
            let tick = Duration::from_secs(elapsed.as_secs() + 1);
            let target = if elapsed < duration {
                tick.min(duration)
            } else {
                tick
            };
            std::thread::sleep(target.saturating_sub(elapsed));
            let records = counters.records();
            let rate = (records - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
            last = (Instant::now(), records);
            let line = format!(
                "{:>4}s  events {:>9} ({:>7.0}/s)  scored {}  dup {}  bot/rate {}  dlq {}  | ->mql {}  ->sql {}  recycled {}",
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
            if start.elapsed() >= duration {
                // The traffic has stopped: give the pipeline a moment to
                // finish what was produced, then stop.
                let until = Instant::now() + DRAIN;
                while counters.records() + counters.skipped() < produced.load(Ordering::Relaxed)
                    && Instant::now() < until
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                shutdown.trigger();
            }
        }
        if tty {
            eprintln!();
        }
    })
}

fn print_summary(c: &Counters, produced: u64) {
    let processed = c.records();
    let lost = c.skipped();
    let left = produced.saturating_sub(processed + lost);
    eprintln!("\nleadscore demo summary");
    eprintln!("  records produced      {produced}");
    eprintln!("  records processed     {processed}");
    eprintln!(
        "  lost to retention     {lost}{}",
        if lost > 0 {
            "  (the mock cluster keeps about 5 MB per partition and deleted them before the pipeline read them; try --partitions 8 or a lower --rate)"
        } else {
            ""
        }
    );
    eprintln!(
        "  not yet processed     {left}{}",
        if left > 0 {
            "  (still in the topics when the demo stopped; a restart would process them)"
        } else {
            ""
        }
    );
    for o in Outcome::ALL {
        eprintln!("    {:<19} {}", o.as_str(), c.outcome(o));
    }
    eprintln!("    {:<19} {}", "dead-lettered", c.dlq());
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

/// A stage change as read from the output topic: the record as it is, and parsed.
struct Example {
    raw: String,
    v: serde_json::Value,
}

/// The first stage change of each kind, as read from the output topic.
#[derive(Default)]
struct Examples {
    mql: Option<Example>,
    sql: Option<Example>,
    recycled: Option<Example>,
}

impl Examples {
    /// Keeps `e` if it is the first of its kind; returns the kind's label.
    fn offer(&mut self, e: Example) -> Option<&'static str> {
        let v = &e.v;
        let slot = match (v["to"].as_str(), v["reason"].as_str()) {
            (_, Some("recycled_decay")) => (&mut self.recycled, "recycled"),
            (Some("sql"), _) => (&mut self.sql, "SQL"),
            (Some("mql"), _) => (&mut self.mql, "MQL"),
            _ => return None,
        };
        if slot.0.is_some() {
            return None;
        }
        *slot.0 = Some(e);
        Some(slot.1)
    }

    fn done(&self) -> bool {
        self.mql.is_some() && self.sql.is_some() && self.recycled.is_some()
    }
}

/// Reads the output topic, as a CRM would, until it has one change of each kind.
struct Showcase {
    thread: std::thread::JoinHandle<Examples>,
}

impl Showcase {
    fn start(
        bootstrap: &str,
        topic: &str,
        http: Arc<Mutex<Option<SocketAddr>>>,
        shutdown: Shutdown,
    ) -> Result<Showcase> {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "leadscore-demo-crm")
            .set("fetch.wait.max.ms", "50")
            .create()
            .context("cannot create the demo's output reader")?;
        let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut tpl = TopicPartitionList::new();
        for t in md.topics() {
            for p in t.partitions() {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
            }
        }
        c.assign(&tpl)?;
        let tty = std::io::stderr().is_terminal();
        let thread = std::thread::spawn(move || {
            let mut ex = Examples::default();
            while !shutdown.is_triggered() && !ex.done() {
                let Some(Ok(m)) = c.poll(Duration::from_millis(100)) else {
                    continue;
                };
                let raw = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&raw) else {
                    continue;
                };
                let lead = v["lead_id"].as_str().unwrap_or_default().to_string();
                if let Some(kind) = ex.offer(Example { raw, v }) {
                    let url = http
                        .lock()
                        .ok()
                        .and_then(|a| *a)
                        .map(|a| format!("http://{a}/leads/{lead}"))
                        .unwrap_or_default();
                    let clear = if tty { "\r\x1b[2K" } else { "" };
                    eprintln!("{clear}  first {kind} change: lead {lead}  {url}");
                }
            }
            ex
        });
        Ok(Showcase { thread })
    }

    fn finish(self) -> Examples {
        self.thread.join().unwrap_or_default()
    }
}

fn print_examples(ex: &Examples, http: Option<SocketAddr>) {
    for (label, e) in [
        ("MQL", &ex.mql),
        ("SQL", &ex.sql),
        ("recycled", &ex.recycled),
    ] {
        let Some(e) = e else {
            eprintln!("\n  no {label} change was seen (run longer with --duration)");
            continue;
        };
        let v = &e.v;
        eprintln!(
            "\n  {label}: lead {} went {} -> {} ({}): {}",
            v["lead_id"].as_str().unwrap_or_default(),
            v["from"].as_str().unwrap_or_default(),
            v["to"].as_str().unwrap_or_default(),
            v["reason"].as_str().unwrap_or_default(),
            v["explanation"]["summary"].as_str().unwrap_or_default()
        );
        if let (Some(a), Some(lead)) = (http, v["lead_id"].as_str()) {
            eprintln!("  while the demo ran: http://{a}/leads/{lead}");
        }
        eprintln!(
            "  the record on leadscore.stage_changes, as a CRM reads it:\n  {}",
            e.raw
        );
    }
}
