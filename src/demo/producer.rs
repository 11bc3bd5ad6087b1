//! Produces generated records to their typed topics.

use std::time::Duration;

use rdkafka::producer::{BaseRecord, DefaultProducerContext, ThreadedProducer};

use super::Record;
use crate::config::TopicConfig;
use crate::event::EventType;

/// Which record timestamp a generator sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// The event time (a producer replaying history).
    EventTime,
    /// Left to the client: the send time (what live producers do).
    SendTime,
}

/// Sends `record` to the topic configured for its event type, waiting while
/// the producer's local queue is full (traffic generators must not drop).
pub fn send_record(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topics: &[(EventType, TopicConfig)],
    record: &Record,
    stamp: Stamp,
) {
    let topic = &topics
        .iter()
        .find(|(t, _)| *t == record.event_type)
        .expect("a topic for every event type")
        .1
        .name;
    let mut rec = BaseRecord::to(topic)
        .key(&record.key)
        .payload(&record.payload);
    if stamp == Stamp::EventTime {
        rec = rec.timestamp(record.timestamp_ms);
    }
    loop {
        match producer.send(rec) {
            Ok(()) => return,
            Err((_, back)) => {
                rec = back;
                producer.poll(Duration::from_millis(1));
            }
        }
    }
}
