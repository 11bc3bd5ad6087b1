//! Reads one changelog partition from an offset to its end into a
//! [`ChangelogImage`] (a task's restore, or a standby copy catching up).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::PipelineError;
use crate::changelog::ChangelogImage;

/// What one read did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadStats {
    /// Records taken.
    pub records: u64,
    /// Offset after the last record read (where a later read continues).
    pub next: i64,
}

/// Reads partition `partition` of `topic` from `from` (an offset; below
/// the log start means from the beginning) up to the high watermark it
/// had when the read began. Gives up after `timeout`.
pub fn read_to_end(
    client: &ClientConfig,
    topic: &str,
    partition: i32,
    from: i64,
    image: &mut ChangelogImage,
    timeout: Duration,
) -> Result<ReadStats, PipelineError> {
    let failed = |what: String| {
        PipelineError::Kafka(format!(
            "changelog {topic} partition {partition}: {what}"
        ))
    };
    let consumer: BaseConsumer = client
        .create()
        .map_err(|e| failed(format!("cannot create a reader: {e}")))?;
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, timeout)
        .map_err(|e| failed(format!("cannot read its offsets: {e}")))?;
    let start = from.max(low);
    let mut stats = ReadStats {
        records: 0,
        next: start,
    };
    if start >= high {
        return Ok(stats);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(start))
        .map_err(|e| failed(e.to_string()))?;
    consumer
        .assign(&tpl)
        .map_err(|e| failed(format!("cannot assign: {e}")))?;
    let deadline = Instant::now() + timeout;
    while stats.next < high {
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "read {} records up to offset {} of {high} in {}s; the restore gives up",
                stats.records,
                stats.next,
                timeout.as_secs()
            )));
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                image
                    .apply(m.offset(), m.key(), m.payload())
                    .map_err(|e| PipelineError::Fatal(e.to_string()))?;
                stats.records += 1;
                stats.next = m.offset() + 1;
            }
            // Compaction leaves gaps: the end may come before `high`.
            Some(Err(KafkaError::PartitionEOF(_))) => {
                let (_, now_high) = consumer
                    .fetch_watermarks(topic, partition, Duration::from_secs(5))
                    .unwrap_or((0, high));
                if stats.next >= now_high.min(high) || now_high <= stats.next {
                    break;
                }
            }
            Some(Err(e)) => tracing::warn!(topic, partition, error = %e, "changelog read error; retrying"),
            None => {}
        }
    }
    stats.next = stats.next.max(high);
    Ok(stats)
}
