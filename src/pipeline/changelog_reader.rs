//! Reads one changelog partition from an offset to its end into a
//! [`ChangelogImage`] (a task's restore, or a standby copy catching up),
//! with a reader from a small pool shared by all tasks.
//!
//! A reader per restoring task meant a librdkafka client (with its own
//! threads and broker connections) per partition, all created at once
//! when the group hands out its partitions: at 192 partitions the mock
//! cluster timed out their connection handshakes for 10 s and tasks
//! started seconds apart. The pool creates at most [`READERS`] clients,
//! keeps them connected, and hands one to each restore in turn.

use std::sync::{Condvar, Mutex};
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

/// Most reader clients one instance keeps (restores beyond this wait for
/// a free one; reading is mostly decoding, which two cores bound anyway).
pub const READERS: usize = 32;

/// Changelog reader clients, created on demand up to a limit and reused.
pub struct ReaderPool {
    config: ClientConfig,
    limit: usize,
    /// Idle readers, and how many exist in all.
    idle: Mutex<(Vec<ChangelogConsumer>, usize)>,
    freed: Condvar,
}

impl ReaderPool {
    /// A pool of at most `limit` readers with `config`.
    pub fn new(config: ClientConfig, limit: usize) -> ReaderPool {
        ReaderPool {
            config,
            limit: limit.max(1),
            idle: Mutex::new((Vec::new(), 0)),
            freed: Condvar::new(),
        }
    }

    /// The readers' settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// An idle reader, a new one while under the limit, or the next one
    /// given back.
    fn take(&self) -> Result<ChangelogConsumer, KafkaError> {
        let mut g = self.idle.lock().expect("reader pool");
        loop {
            if let Some(c) = g.0.pop() {
                return Ok(c);
            }
            if g.1 < self.limit {
                g.1 += 1;
                drop(g);
                return self
                    .config
                    .create_with_context(ReaderContext)
                    .inspect_err(|_| {
                        self.idle.lock().expect("reader pool").1 -= 1;
                        self.freed.notify_one();
                    });
            }
            g = self.freed.wait(g).expect("reader pool");
        }
    }

    /// Gives a reader back (with no partition assigned), or drops it.
    fn give_back(&self, c: ChangelogConsumer, reusable: bool) {
        let mut g = self.idle.lock().expect("reader pool");
        if reusable && c.unassign().is_ok() {
            g.0.push(c);
        } else {
            g.1 -= 1;
        }
        drop(g);
        self.freed.notify_one();
    }
}

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
    pool: &ReaderPool,
    topic: &str,
    partition: i32,
    from: i64,
    image: &mut ChangelogImage,
    timeout: Duration,
) -> Result<ReadStats, PipelineError> {
    let failed = |what: String| {
        PipelineError::Kafka(format!("changelog {topic} partition {partition}: {what}"))
    };
    let consumer = pool
        .take()
        .map_err(|e| failed(format!("cannot create a reader: {e}")))?;
    let result = (|| {
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
                Some(Ok(m)) if m.partition() != partition || m.topic() != topic => {}
                Some(Ok(m)) => {
                    image
                        .apply(m.offset(), m.key(), m.payload())
                        .map_err(|e| PipelineError::Fatal(e.to_string()))?;
                    stats.records += 1;
                    stats.next = m.offset() + 1;
                }
                Some(Err(KafkaError::PartitionEOF(p))) if p == partition => return Ok(stats),
                Some(Err(e)) => {
                    tracing::warn!(topic, partition, error = %e, "changelog read error; retrying")
                }
                None => {}
            }
        }
    })();
    // A reader that failed mid-read may hold a half-fetched partition.
    pool.give_back(consumer, result.is_ok());
    result
}
