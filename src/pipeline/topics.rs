//! Startup check: every inbound topic exists and all have the same
//! partition count (co-partitioning), or the service refuses to start.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use super::PipelineError;

/// Returns the common partition count of `topics`.
pub fn check_copartitioned(
    client: &ClientConfig,
    topics: &[String],
    timeout: Duration,
) -> Result<i32, PipelineError> {
    let consumer: BaseConsumer = client
        .create()
        .map_err(|e| PipelineError::Kafka(format!("cannot create metadata client: {e}")))?;
    let mut counts = Vec::new();
    for t in topics {
        let md = consumer
            .fetch_metadata(Some(t), timeout)
            .map_err(|e| PipelineError::Kafka(format!("cannot fetch metadata for topic {t}: {e} (is bootstrap.servers right and the broker up?)")))?;
        let Some(topic) = md.topics().iter().find(|x| x.name() == t) else {
            return Err(PipelineError::Topics(format!("topic {t} not found")));
        };
        if topic.error().is_some() || topic.partitions().is_empty() {
            return Err(PipelineError::Topics(format!(
                "inbound topic {t} does not exist (create it with the same partition count as the other inbound topics)"
            )));
        }
        counts.push((t.clone(), topic.partitions().len() as i32));
    }
    let first = counts.first().map(|c| c.1).unwrap_or(0);
    if counts.iter().any(|c| c.1 != first) {
        let list: Vec<String> = counts.iter().map(|(t, n)| format!("{t}={n}")).collect();
        return Err(PipelineError::Topics(format!(
            "inbound topics are not co-partitioned: partition counts differ ({}); every inbound topic needs the same count so that partition p of each is one task",
            list.join(", ")
        )));
    }
    Ok(first)
}
