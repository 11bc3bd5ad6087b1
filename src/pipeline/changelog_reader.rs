//! Reads one changelog partition from an offset to its end into a
//! [`ChangelogImage`] (a task's restore, or a standby copy catching up).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, ClientContext, Message, Offset, TopicPartitionList};

use super::PipelineError;
use crate::changelog::ChangelogImage;

/// The context of changelog readers: reaching the end of a partition is
/// what they wait for, not an error to log; other client errors are
/// warnings (the read retries or times out with its own message).
#[derive(Default)]
pub struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if !matches!(error, KafkaError::PartitionEOF(_))
            && !reason.contains("reached end of partition")
        {
            tracing::warn!(error = %error, reason, "changelog reader");
        }
    }
}

impl ConsumerContext for ReaderContext {}

/// A consumer reading changelog partitions.
pub type ChangelogConsumer = BaseConsumer<ReaderContext>;

/// What one read did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadStats {
    /// Records taken.
    pub records: u64,
    /// Offset after the last record read (where a later read continues).
    pub next: i64,
}

/// Reads partition `partition` of `topic` from `from` (an offset; below
/// the log start means from the beginning) until the reader reports the
/// end of the partition. Gives up after `timeout`. (The end is taken from
/// the fetch, not from ListOffsets, which some Kafka-protocol brokers
/// answer inexactly.)
pub fn read_to_end(
    client: &ClientConfig,
    topic: &str,
    partition: i32,
    from: i64,
    image: &mut ChangelogImage,
    timeout: Duration,
) -> Result<ReadStats, PipelineError> {
    let failed = |what: String| {
        PipelineError::Kafka(format!("changelog {topic} partition {partition}: {what}"))
    };
    let consumer: ChangelogConsumer = client
        .create_with_context(ReaderContext)
        .map_err(|e| failed(format!("cannot create a reader: {e}")))?;
    let mut stats = ReadStats {
        records: 0,
        next: from.max(0),
    };
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, Offset::Offset(from.max(0)))
        .map_err(|e| failed(e.to_string()))?;
    consumer
        .assign(&tpl)
        .map_err(|e| failed(format!("cannot assign: {e}")))?;
    let deadline = Instant::now() + timeout;
    loop {
        if Instant::now() >= deadline {
            return Err(failed(format!(
                "read {} records up to offset {} in {}s without reaching the end; the restore gives up",
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
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(stats),
            Some(Err(e)) => {
                tracing::warn!(topic, partition, error = %e, "changelog read error; retrying")
            }
            None => {}
        }
    }
}
