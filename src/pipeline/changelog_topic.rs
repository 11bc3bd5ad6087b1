//! Startup: the changelog topic exists with one partition per task, and is
//! compacted. `run` creates it when it is missing and refuses to start when
//! it has another partition count (its partitions would not line up with
//! the tasks).

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use super::PipelineError;

/// Partition count of `topic`, `None` if it does not exist.
fn partitions_of(
    client: &BaseConsumer,
    topic: &str,
    timeout: Duration,
) -> Result<Option<usize>, PipelineError> {
    let md = client
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| PipelineError::Kafka(format!("cannot read metadata of {topic}: {e}")))?;
    Ok(md
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.partitions().len()))
}

/// Makes sure `topic` exists with `partitions` partitions, creating it
/// (compacted, `replication` replicas, -1 for the broker's default).
pub fn ensure(
    client: &ClientConfig,
    topic: &str,
    partitions: i32,
    replication: i32,
    timeout: Duration,
) -> Result<(), PipelineError> {
    let meta: BaseConsumer = client
        .create()
        .map_err(|e| PipelineError::Kafka(format!("cannot create metadata client: {e}")))?;
    match partitions_of(&meta, topic, timeout)? {
        Some(n) if n as i32 == partitions => return Ok(()),
        Some(n) => {
            return Err(PipelineError::Topics(format!(
                "changelog topic {topic} has {n} partitions but the inbound topics have {partitions}; \
                 partition p of the changelog holds the state of task p, so the counts must match: \
                 delete it (state is rebuilt from snapshots and the inbound topics) or set [changelog] topic to a new name"
            )))
        }
        None => {}
    }
    let admin: AdminClient<DefaultClientContext> = client
        .create()
        .map_err(|e| PipelineError::Kafka(format!("cannot create admin client: {e}")))?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication))
        .set("cleanup.policy", "compact");
    let opts = AdminOptions::new().operation_timeout(Some(timeout));
    let results = futures::executor::block_on(admin.create_topics([&new], &opts))
        .map_err(|e| PipelineError::Kafka(format!("cannot create changelog topic {topic}: {e}")))?;
    for r in results {
        if let Err((_, code)) = r {
            // Another instance may have created it a moment ago.
            if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                return Err(PipelineError::Topics(format!(
                    "cannot create changelog topic {topic} ({partitions} partitions, compacted): {code}; \
                     create it yourself or give the service's principal the right to create topics"
                )));
            }
        }
    }
    tracing::info!(
        topic,
        partitions,
        "changelog topic created (cleanup.policy=compact)"
    );
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if partitions_of(&meta, topic, Duration::from_secs(2))? == Some(partitions as usize) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(PipelineError::Topics(format!(
        "changelog topic {topic} was created but its {partitions} partitions did not appear within {}s",
        timeout.as_secs()
    )))
}
