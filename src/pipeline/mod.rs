//! The Kafka edge: consumer group over the inbound topics, one task per
//! partition, the stage-change producer and the dead-letter topic. The
//! pipeline never computes a score; it moves bytes to and from the engine.

pub mod context;
pub mod counters;
pub mod kafka_config;
pub mod partition_task;
pub mod publisher;
pub mod shutdown;
pub mod tasks;
pub mod topics;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::producer::FutureProducer;
use thiserror::Error;

pub use counters::Counters;
pub use shutdown::Shutdown;

use crate::codec::DecodeLimits;
use crate::config::Config;
use crate::model::Model;
use crate::snapshot::SnapshotStore;
use crate::telemetry::health::Health;
use context::{PipelineConsumer, PipelineContext};
use tasks::{Input, TaskEnv, TaskManager};

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

/// Runs the service until `shutdown` is triggered (blocking; call it on a
/// dedicated thread). On the way out every task acknowledges its in-flight
/// changes, stores offsets and snapshots, and offsets are committed.
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
        Duration::from_secs(30),
    )?;
    tracing::info!(partitions, topics = ?topic_names, model = %model.version, "inbound topics are co-partitioned");

    let producer: FutureProducer = kafka_config::producer(config)
        .create()
        .map_err(|e| PipelineError::Kafka(format!("cannot create producer: {e}")))?;
    let group = config
        .kafka_properties()
        .into_iter()
        .find(|(k, _)| k == "group.id")
        .map_or("leadscore".to_string(), |(_, v)| v);
    let publisher = publisher::Publisher::new(
        producer,
        config.topics.stage_changes.name.clone(),
        config.topics.stage_changes.format,
        config.topics.dead_letter.clone(),
        format!("urn:leadscore:{group}"),
        counters.clone(),
    );
    let store = SnapshotStore::open(&config.snapshots.dir, config.snapshots.keep.max(1))
        .map_err(|e| PipelineError::Snapshots(format!("{e}")))?;
    let env = Arc::new(TaskEnv {
        model,
        inputs,
        publisher,
        store: Some(store),
        on_model_change: config.snapshots.on_model_change,
        snapshot_interval: Duration::from_secs(config.snapshots.interval_secs.max(1)),
        snapshot_every_events: config.snapshots.every_events.max(1),
        limits: DecodeLimits {
            max_record_bytes: config.limits.max_record_bytes,
            max_future_skew_ms: Some(config.limits.max_future_skew_secs as i64 * 1000),
        },
        max_task_idle_ms: config.limits.max_task_idle_ms,
        counters,
        health: health.clone(),
        shutdown: shutdown.clone(),
        fatal: Mutex::new(None),
    });
    let ctx = PipelineContext {
        consumer: OnceLock::new(),
        tasks: Mutex::new(TaskManager::new(env.clone())),
        health: health.clone(),
    };
    let consumer: Arc<PipelineConsumer> = Arc::new(
        kafka_config::consumer(config)
            .create_with_context(ctx)
            .map_err(|e| PipelineError::Kafka(format!("cannot create consumer: {e}")))?,
    );
    let _ = consumer.context().consumer.set(Arc::downgrade(&consumer));
    let names: Vec<&str> = topic_names.iter().map(String::as_str).collect();
    consumer
        .subscribe(&names)
        .map_err(|e| PipelineError::Kafka(format!("cannot subscribe to {names:?}: {e}")))?;

    // Serve rebalances and client events; records arrive on the tasks' own queues.
    while !shutdown.is_triggered() {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            tracing::error!(topic = m.topic(), partition = m.partition(), offset = m.offset(), "record on the main queue (partition queue not split); it will be re-read after a restart");
        }
    }
    use rdkafka::Message;
    consumer
        .context()
        .tasks
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .stop_all("shutdown");
    if let Err(e) = consumer.commit_consumer_state(CommitMode::Sync) {
        tracing::debug!(error = %e, "final offset commit failed");
    }
    consumer.unsubscribe();
    // Serve the revocation the unsubscribe causes, so closing does not wait.
    let until = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < until {
        if consumer.poll(Duration::from_millis(50)).is_none()
            && consumer
                .assignment()
                .map(|a| a.count() == 0)
                .unwrap_or(true)
        {
            break;
        }
    }
    env.publisher.flush(Duration::from_secs(10));
    let fatal = env.fatal.lock().unwrap_or_else(|e| e.into_inner()).take();
    match fatal {
        Some(msg) => Err(PipelineError::Fatal(msg)),
        None => Ok(()),
    }
}
