//! Delivery reports from the producer back to the task that sent each
//! record. The producer's own thread runs the callback; it only files the
//! report in the task's inbox and rings the task's doorbell, so no task
//! ever blocks waiting for the broker.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, OwnedHeaders};
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::{ClientContext, Message};

use super::doorbell::Doorbell;
use crate::telemetry::health::Health;

/// Everything it takes to produce a record (again).
#[derive(Debug, Clone)]
pub struct OwnedRecord {
    pub topic: String,
    /// `None`: the producer's partitioner picks one from the key.
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    /// `None` is a null value (a tombstone).
    pub payload: Option<Vec<u8>>,
    pub headers: OwnedHeaders,
}

impl OwnedRecord {
    fn from_message(m: &BorrowedMessage<'_>) -> OwnedRecord {
        OwnedRecord {
            topic: m.topic().to_string(),
            partition: Some(m.partition()).filter(|p| *p >= 0),
            key: m.key().map(<[u8]>::to_vec),
            payload: m.payload().map(<[u8]>::to_vec),
            headers: m.headers().map(|h| h.detach()).unwrap_or_default(),
        }
    }

    /// Bytes the broker will count against `message.max.bytes`, roughly.
    pub fn size(&self) -> usize {
        let headers: usize = (0..self.headers.count())
            .map(|i| {
                let h = self.headers.get(i);
                h.key.len() + h.value.map_or(0, <[u8]>::len)
            })
            .sum();
        self.key.as_ref().map_or(0, Vec::len) + self.payload.as_ref().map_or(0, Vec::len) + headers
    }
}

/// What happened to one output of a task.
#[derive(Debug)]
pub enum Ack {
    /// The broker acknowledged it (`acks=all`).
    Delivered { seq: u64, offset: i64 },
    /// It could not be delivered; `record` is what was sent, to send again.
    Failed {
        seq: u64,
        error: RDKafkaErrorCode,
        record: OwnedRecord,
    },
}

/// A task's mailbox for delivery reports.
#[derive(Debug)]
pub struct AckInbox {
    acks: Mutex<Vec<Ack>>,
    /// Raised by the first report after a take (which rings the doorbell),
    /// so the task's hot loop can skip the lock and later reports the ring.
    any: AtomicBool,
    doorbell: Doorbell,
}

impl AckInbox {
    pub fn new(doorbell: Doorbell) -> AckInbox {
        AckInbox {
            acks: Mutex::new(Vec::new()),
            any: AtomicBool::new(false),
            doorbell,
        }
    }

    fn push(&self, ack: Ack) {
        self.acks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ack);
        // Whoever raised the flag rings; until the task takes the reports
        // (and lowers it) more reports need no ring of their own.
        if !self.any.swap(true, Ordering::AcqRel) {
            self.doorbell.ring();
        }
    }

    /// Moves every report received so far into `into` (cheap when there is none).
    pub fn take(&self, into: &mut Vec<Ack>) {
        if !self.any.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut acks = self.acks.lock().unwrap_or_else(|e| e.into_inner());
        into.append(&mut acks);
    }
}

/// Carried through librdkafka with each record: whose output it is.
#[derive(Debug)]
pub struct Delivery {
    pub inbox: Arc<AckInbox>,
    pub seq: u64,
}

/// The producer's callbacks: delivery reports go to the owning task;
/// client errors mark the broker unreachable for `/readyz`.
pub struct DeliveryContext {
    pub health: Health,
}

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::Global(RDKafkaErrorCode::AllBrokersDown)) {
            self.health.set_broker_up(false);
        }
        tracing::warn!(error = %error, reason, "kafka producer error");
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = Box<Delivery>;

    fn delivery(&self, result: &DeliveryResult<'_>, d: Box<Delivery>) {
        let ack = match result {
            Ok(m) => Ack::Delivered {
                seq: d.seq,
                offset: m.offset(),
            },
            Err((e, m)) => Ack::Failed {
                seq: d.seq,
                error: e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail),
                record: OwnedRecord::from_message(m),
            },
        };
        d.inbox.push(ack);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn delivered(seq: u64) -> Ack {
        Ack::Delivered { seq, offset: 0 }
    }

    #[test]
    fn reports_filed_while_the_flag_is_up_are_all_taken_and_the_next_one_rings_again() {
        let doorbell = Doorbell::new();
        let inbox = AckInbox::new(doorbell.clone());
        inbox.push(delivered(1));
        inbox.push(delivered(2));
        assert!(doorbell.wait(Duration::ZERO), "the first report rang");
        let mut acks = Vec::new();
        inbox.take(&mut acks);
        assert_eq!(acks.len(), 2, "the report that did not ring is taken too");
        assert!(!doorbell.wait(Duration::ZERO), "no ring is left over");
        inbox.push(delivered(3));
        assert!(
            doorbell.wait(Duration::ZERO),
            "a report after the take rings"
        );
        inbox.take(&mut acks);
        assert_eq!(acks.len(), 3);
    }
}
