//! Standby copies (`[changelog] standby_replicas = 1`, Kafka Streams'
//! `num.standby.replicas`): one thread tails the changelog partitions of
//! every task this instance does not own and keeps each as a
//! [`ChangelogImage`], so when the group hands such a task over, its
//! restore reads only the records written since (seconds), not the whole
//! partition. Costs the memory of those tasks' leads, and the reading.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::changelog_reader::{ChangelogConsumer, ReaderContext};
use super::shutdown::Shutdown;
use super::PipelineError;
use crate::changelog::ChangelogImage;

/// A warm copy of one task's changelog partition.
#[derive(Debug, Default)]
pub struct StandbyCopy {
    pub image: ChangelogImage,
    /// Next offset to read.
    pub next: i64,
}

/// The copies, and the thread that keeps them up to date.
pub struct Standby {
    copies: Mutex<BTreeMap<i32, StandbyCopy>>,
    /// Partitions to start or stop reading, for the reader thread. It
    /// changes its assignment incrementally, so the positions of the other
    /// partitions (and records already fetched for them) are untouched: a
    /// full re-assign could hand it a record fetched before the re-assign
    /// after one it had skipped, a gap in the copy. A new copy starts at
    /// offset 0 (reset to the log start if that is gone), not at
    /// "beginning", which some brokers answer inexactly.
    changes: Mutex<Vec<(i32, bool)>>,
    changed: AtomicBool,
}

impl Standby {
    /// Starts tailing every partition of `topic` (`partitions` of them)
    /// until tasks take theirs.
    pub fn start(
        reader: &ClientConfig,
        topic: &str,
        partitions: i32,
        shutdown: Shutdown,
    ) -> Result<Arc<Standby>, PipelineError> {
        let consumer: ChangelogConsumer = reader
            .create_with_context(ReaderContext)
            .map_err(|e| PipelineError::Kafka(format!("cannot create the standby reader: {e}")))?;
        let standby = Arc::new(Standby {
            copies: Mutex::new(
                (0..partitions)
                    .map(|p| (p, StandbyCopy::default()))
                    .collect(),
            ),
            changes: Mutex::new((0..partitions).map(|p| (p, true)).collect()),
            changed: AtomicBool::new(true),
        });
        let s = standby.clone();
        let topic = topic.to_string();
        std::thread::Builder::new()
            .name("standby".into())
            .spawn(move || s.tail(&consumer, &topic, &shutdown))
            .map_err(|e| PipelineError::Fatal(format!("cannot start the standby reader: {e}")))?;
        Ok(standby)
    }

    /// Takes the copy of `partition` (a task of it starts here).
    pub fn take(&self, partition: i32) -> Option<StandbyCopy> {
        let copy = self.lock().remove(&partition);
        if copy.is_some() {
            self.change(partition, false);
        }
        copy
    }

    /// Keeps a copy of `partition` (its task is owned elsewhere now),
    /// read from the start, unless one is kept already.
    pub fn watch(&self, partition: i32) {
        let mut copies = self.lock();
        if let std::collections::btree_map::Entry::Vacant(v) = copies.entry(partition) {
            v.insert(StandbyCopy::default());
            self.change(partition, true);
        }
    }

    /// Tells the reader to start (`true`) or stop reading `partition`.
    fn change(&self, partition: i32, read: bool) {
        self.changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((partition, read));
        self.changed.store(true, Ordering::SeqCst);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, StandbyCopy>> {
        self.copies.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tail(&self, consumer: &ChangelogConsumer, topic: &str, shutdown: &Shutdown) {
        while !shutdown.is_triggered() {
            if self.changed.swap(false, Ordering::SeqCst) {
                let changes =
                    std::mem::take(&mut *self.changes.lock().unwrap_or_else(|e| e.into_inner()));
                let (mut start, mut stop) = (TopicPartitionList::new(), TopicPartitionList::new());
                for (p, read) in changes {
                    let added = if read {
                        start.add_partition_offset(topic, p, Offset::Offset(0))
                    } else {
                        stop.add_partition_offset(topic, p, Offset::Invalid)
                    };
                    if let Err(e) = added {
                        tracing::warn!(partition = p, error = %e, "standby: cannot change partition");
                    }
                }
                if stop.count() > 0 {
                    if let Err(e) = consumer.incremental_unassign(&stop) {
                        tracing::warn!(error = %e, "standby: cannot stop reading");
                    }
                }
                if start.count() > 0 {
                    if let Err(e) = consumer.incremental_assign(&start) {
                        tracing::warn!(error = %e, "standby: cannot start reading");
                    }
                }
            }
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    let mut copies = self.lock();
                    // A copy taken meanwhile: the record is the task's now.
                    let Some(c) = copies.get_mut(&m.partition()) else {
                        continue;
                    };
                    if m.offset() < c.next {
                        continue;
                    }
                    if let Err(e) = c.image.apply(m.offset(), m.key(), m.payload()) {
                        tracing::warn!(partition = m.partition(), error = %e, "standby copy dropped; its task would restore from the changelog");
                        copies.remove(&m.partition());
                        continue;
                    }
                    c.next = m.offset() + 1;
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => {}
                Some(Err(e)) => tracing::debug!(error = %e, "standby reader"),
            }
        }
    }
}
