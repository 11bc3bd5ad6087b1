//! The Kafka edge: a consumer group over the inbound topics, one task per
//! partition, the stage-change producer and the dead-letter topic. The
//! pipeline never computes a score; it moves bytes to and from the engine.
//!
//! Follow one event, in at most five files: `context.rs` (the group assigns
//! partitions) → `coordinator.rs` (tasks start, restore, partitions are
//! assigned) → `task.rs` (take in `merge.rs` order, decode, apply, send) →
//! `outbox.rs` (acknowledgements, retries, covered offsets) →
//! `snapshot_writer.rs` (the snapshot that covers it).

pub mod changelog_reader;
pub mod changelog_topic;
pub mod changelog_writer;
pub mod context;
pub mod coordinator;
pub mod counters;
pub mod delivery;
pub mod doorbell;
pub mod inflight;
pub mod kafka_config;
pub mod merge;
pub mod outbox;
pub mod ownership;
pub mod publisher;
pub mod restore;
pub mod shutdown;
pub mod snapshot_writer;
pub mod standby;
pub mod tally;
pub mod task;
pub mod topic_handles;
pub mod topics;
pub mod watermark;

use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::Consumer;
use rdkafka::Message;
use thiserror::Error;

pub use counters::Counters;
pub use shutdown::Shutdown;

use crate::codec::DecodeLimits;
use crate::config::Config;
use crate::model::Model;
use crate::snapshot::SnapshotStore;
use crate::telemetry::health::Health;
use context::{PipelineConsumer, PipelineContext};
use coordinator::{Command, Coordinator};
use delivery::DeliveryContext;
use publisher::{OutputProducer, Publisher};
use snapshot_writer::SnapshotWriter;
use task::{Input, TaskEnv};

/// Why the pipeline could not start or had to stop.
#[derive(Debug, Error)]
pub enum PipelineError {
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("topics: {0}")]
    Topics(String),
    #[error("snapshots: {0}")]
    Snapshots(String),
    #[error("{0}")]
    Fatal(String),
}

/// Wall-clock time in epoch milliseconds: `emitted_at` and latency. The
/// engine never sees it.
pub fn wall_clock_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// librdkafka's default `message.max.bytes`.
const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// Runs the service until `shutdown` is triggered (blocking; call it on a
/// dedicated thread). On the way out every task drains (bounded by
/// `[limits] drain_timeout_secs`), stores its offsets and snapshots, and
/// offsets are committed.
pub fn run(
    config: &Config,
    model: Arc<Model>,
    health: Health,
    counters: Counters,
    shutdown: Shutdown,
) -> Result<(), PipelineError> {
    let inputs: Vec<Input> = config
        .topics
        .inbound()
        .into_iter()
        .map(|(event_type, t)| Input {
            topic: t.name,
            event_type,
            format: t.format,
        })
        .collect();
    let topic_names: Vec<String> = inputs.iter().map(|i| i.topic.clone()).collect();
    let partitions = topics::check_copartitioned(
        &kafka_config::admin(config),
        &topic_names,
        Duration::from_secs(config.limits.startup_timeout_secs),
    )?;
    tracing::info!(partitions, topics = ?topic_names, model = %model.version, "inbound topics are co-partitioned");
    let changelog = if config.changelog.enabled {
        changelog_topic::ensure(
            &kafka_config::admin(config),
            &config.changelog.topic,
            partitions,
            config.changelog.replication_factor,
            Duration::from_secs(config.limits.startup_timeout_secs),
        )?;
        Some(changelog_writer::ChangelogEnv {
            topic: config.changelog.topic.clone(),
            flush_interval: Duration::from_millis(config.changelog.flush_interval_ms),
            catch_up_flush_interval: Duration::from_millis(
                config.changelog.catch_up_flush_interval_ms,
            ),
            readers: Arc::new(changelog_reader::ReaderPool::new(
                kafka_config::changelog_reader(config),
                changelog_reader::READERS,
            )),
            read_timeout: Duration::from_secs(config.limits.startup_timeout_secs.max(60) * 5),
        })
    } else {
        tracing::warn!("the changelog is off ([changelog] enabled = false): a task's state is only in its snapshot directory");
        None
    };
    let standby = match &changelog {
        Some(cl) if config.changelog.standby_replicas > 0 => Some(standby::Standby::start(
            cl.readers.config(),
            &cl.topic,
            partitions,
            shutdown.clone(),
        )?),
        _ => None,
    };

    let producer: OutputProducer = kafka_config::producer(config)
        .create_with_context(DeliveryContext {
            health: health.clone(),
        })
        .map_err(|e| PipelineError::Kafka(format!("cannot create producer: {e}")))?;
    let props = config.kafka_properties();
    let prop = |key: &str| props.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let group = prop("group.id").unwrap_or_else(|| "leadscore".to_string());
    let max_output_bytes = prop("message.max.bytes")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MESSAGE_MAX_BYTES);
    let publisher = Publisher::new(
        producer,
        config.topics.stage_changes.name.clone(),
        config.topics.stage_changes.format,
        config.topics.dead_letter.clone(),
        format!("urn:leadscore:{group}"),
    );
    let writer = if config.snapshots.enabled {
        let store = SnapshotStore::open(&config.snapshots.dir, config.snapshots.keep.max(1))
            .map_err(|e| PipelineError::Snapshots(format!("{e}")))?;
        Some(SnapshotWriter::start(store))
    } else {
        tracing::warn!("snapshots are off ([snapshots] enabled = false): a restart starts from the earliest offset");
        None
    };
    let env = Arc::new(TaskEnv {
        model,
        inputs,
        publisher,
        writer,
        standby,
        partitions,
        changelog,
        on_model_change: config.snapshots.on_model_change,
        snapshot_interval: Duration::from_secs(config.snapshots.interval_secs.max(1)),
        snapshot_every_events: config.snapshots.every_events.max(1),
        limits: DecodeLimits {
            max_record_bytes: config.limits.max_record_bytes,
            max_id_bytes: config.limits.max_id_bytes,
            max_future_skew_ms: Some(config.limits.max_future_skew_secs as i64 * 1000),
        },
        max_task_idle: Duration::from_millis(config.limits.max_task_idle_ms),
        max_in_flight: config.limits.max_in_flight.max(1),
        drain_timeout: Duration::from_secs(config.limits.drain_timeout_secs),
        max_output_bytes,
        dead_letter_topic: config.topics.dead_letter.clone(),
        counters,
        health: health.clone(),
        shutdown: shutdown.clone(),
        fatal: Mutex::new(None),
    });

    let (tx, rx) = channel::<Command>();
    let consumer: Arc<PipelineConsumer> = Arc::new(
        kafka_config::consumer(config)
            .create_with_context(PipelineContext {
                coordinator: tx.clone(),
                inputs: env.inputs.len(),
                health: health.clone(),
            })
            .map_err(|e| PipelineError::Kafka(format!("cannot create consumer: {e}")))?,
    );
    let names: Vec<&str> = topic_names.iter().map(String::as_str).collect();
    consumer
        .subscribe(&names)
        .map_err(|e| PipelineError::Kafka(format!("cannot subscribe to {names:?}: {e}")))?;
    let coordinator = {
        let c = Coordinator::new(env.clone(), consumer.clone(), tx.clone());
        std::thread::Builder::new()
            .name("coordinator".into())
            .spawn(move || c.run(rx))
            .map_err(|e| PipelineError::Fatal(format!("cannot start the coordinator: {e}")))?
    };

    // Serve rebalances and client events; records arrive on the tasks' own queues.
    while !shutdown.is_triggered() {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            tracing::error!(topic = m.topic(), partition = m.partition(), offset = m.offset(), "record on the main queue (partition queue not split); it will be read again after a restart");
        }
    }
    // Tasks drain in parallel (each was woken by the signal), then commit.
    let (reply, done) = sync_channel(1);
    if tx.send(Command::Shutdown { reply }).is_ok() {
        let _ = done.recv();
    }
    drop(tx);
    let _ = coordinator.join();
    consumer.unsubscribe();
    // Serve the revocation the unsubscribe causes, so closing does not wait.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if consumer.poll(Duration::from_millis(50)).is_none()
            && consumer
                .assignment()
                .map(|a| a.count() == 0)
                .unwrap_or(true)
        {
            break;
        }
    }
    env.publisher.flush(Duration::from_secs(5));
    if let Some(w) = &env.writer {
        w.stop();
    }
    let fatal = env.fatal.lock().unwrap_or_else(|e| e.into_inner()).take();
    match fatal {
        Some(msg) => Err(PipelineError::Fatal(msg)),
        None => Ok(()),
    }
}
