//! The outbound records of the pipeline: stage changes (with CloudEvents
//! binary-mode headers) and dead letters, and handing them to the producer
//! with a delivery report addressed to the task that sent them. Nothing
//! here waits for the broker.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{Producer, ThreadedProducer};
use rdkafka::Message;

use super::delivery::{AckInbox, Delivery, DeliveryContext, OwnedRecord};
use super::topic_handles::TopicHandles;
use crate::codec::{encode_change, format_rfc3339_ms, Format};
use crate::engine::StageChange;

/// The producer every task shares.
pub type OutputProducer = ThreadedProducer<DeliveryContext>;

/// Header names the pipeline sets on dead letters; incoming headers with
/// this prefix are dropped so a producer cannot forge a reason.
pub const DEAD_LETTER_HEADER_PREFIX: &str = "leadscore.";

/// Builds and sends the outbound records.
pub struct Publisher {
    /// Dropped before the producer they belong to.
    topics: TopicHandles,
    producer: OutputProducer,
    changes_topic: String,
    format: Format,
    dlq_topic: String,
    source: String,
}

impl Publisher {
    pub fn new(
        producer: OutputProducer,
        changes_topic: String,
        format: Format,
        dlq_topic: String,
        source: String,
    ) -> Publisher {
        Publisher {
            topics: TopicHandles::default(),
            producer,
            changes_topic,
            format,
            dlq_topic,
            source,
        }
    }

    /// One stage change keyed by lead_id, stamped `emitted_at_ms`.
    pub fn change_record(&self, change: &StageChange, emitted_at_ms: i64) -> OwnedRecord {
        let time = format_rfc3339_ms(emitted_at_ms);
        let headers = [
            ("ce_specversion", "1.0"),
            ("ce_id", change.change_id.as_str()),
            ("ce_type", "com.leadscore.stage_change.v1"),
            ("ce_source", self.source.as_str()),
            ("ce_subject", change.lead_id.as_str()),
            ("ce_time", time.as_str()),
            ("content-type", self.format.content_type()),
        ]
        .into_iter()
        .fold(OwnedHeaders::new(), |h, (key, value)| {
            h.insert(Header {
                key,
                value: Some(value),
            })
        });
        OwnedRecord {
            partition: None,
            topic: self.changes_topic.clone(),
            key: Some(change.lead_id.as_bytes().to_vec()),
            payload: Some(encode_change(change, emitted_at_ms, self.format)),
            headers,
        }
    }

    /// A refused record for the dead-letter topic: key, value (null stays
    /// null) and headers unchanged, except that incoming `leadscore.*`
    /// headers are replaced by ours: the reason and where it came from.
    pub fn dead_letter_record(&self, msg: &BorrowedMessage<'_>, reason: &str) -> OwnedRecord {
        let mut headers = OwnedHeaders::new();
        if let Some(h) = msg.headers() {
            for hdr in h.iter() {
                if !hdr.key.starts_with(DEAD_LETTER_HEADER_PREFIX) {
                    headers = headers.insert(Header {
                        key: hdr.key,
                        value: hdr.value,
                    });
                }
            }
        }
        let partition = msg.partition().to_string();
        let offset = msg.offset().to_string();
        for (key, value) in [
            ("leadscore.error", reason),
            ("leadscore.source.topic", msg.topic()),
            ("leadscore.source.partition", partition.as_str()),
            ("leadscore.source.offset", offset.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        OwnedRecord {
            partition: None,
            topic: self.dlq_topic.clone(),
            key: msg.key().map(<[u8]>::to_vec),
            payload: msg.payload().map(<[u8]>::to_vec),
            headers,
        }
    }

    /// Hands `record` to the producer; its delivery report goes to `inbox`
    /// as output `seq`. An error here means it was not enqueued at all
    /// (e.g. the local queue is full) and must be sent again later.
    pub fn send(
        &self,
        record: &OwnedRecord,
        inbox: &Arc<AckInbox>,
        seq: u64,
    ) -> Result<(), RDKafkaErrorCode> {
        self.topics.send(
            &self.producer,
            record,
            Box::new(Delivery {
                inbox: inbox.clone(),
                seq,
            }),
        )
    }

    /// Waits up to `timeout` for everything queued to be delivered (shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "producer flush did not finish");
        }
    }
}
