//! Publishes stage changes (with CloudEvents headers) and dead letters, and
//! waits for the broker's acknowledgements. A failed delivery is sent again,
//! never dropped: the caller does not store offsets until `settle` returns.

use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::Message;

use super::counters::Counters;
use super::shutdown::Shutdown;
use crate::codec::{encode_change, format_rfc3339_ms, Format};
use crate::emit;
use crate::engine::{Stage, StageChange};
use crate::telemetry::events::{EndToEndLatency, ProducerError, StageChanged};

/// A record that was handed to the producer and is not yet acknowledged.
pub struct Pending {
    future: DeliveryFuture,
    record: OwnedRecord,
    kind: PendingKind,
}

enum PendingKind {
    Change {
        from: Stage,
        to: Stage,
        reason: String,
        taken_at: Instant,
    },
    DeadLetter,
}

/// What it takes to send a record again.
struct OwnedRecord {
    topic: String,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
}

/// The outbound side of the pipeline.
pub struct Publisher {
    producer: FutureProducer,
    changes_topic: String,
    format: Format,
    dlq_topic: String,
    source: String,
    counters: Counters,
}

impl Publisher {
    pub fn new(
        producer: FutureProducer,
        changes_topic: String,
        format: Format,
        dlq_topic: String,
        source: String,
        counters: Counters,
    ) -> Publisher {
        Publisher {
            producer,
            changes_topic,
            format,
            dlq_topic,
            source,
            counters,
        }
    }

    /// Sends one stage change keyed by lead_id. `taken_at` is when its
    /// triggering record left the partition queue (for the latency histogram).
    pub fn send_change(
        &self,
        change: &StageChange,
        emitted_at_ms: i64,
        taken_at: Instant,
    ) -> Pending {
        let payload = encode_change(change, emitted_at_ms, self.format);
        let content_type = match self.format {
            Format::Json => "application/json",
            Format::Protobuf => "application/x-protobuf",
        };
        let time = format_rfc3339_ms(emitted_at_ms);
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "ce_specversion",
                value: Some("1.0"),
            })
            .insert(Header {
                key: "ce_id",
                value: Some(change.change_id.as_str()),
            })
            .insert(Header {
                key: "ce_type",
                value: Some("com.leadscore.stage_change.v1"),
            })
            .insert(Header {
                key: "ce_source",
                value: Some(self.source.as_str()),
            })
            .insert(Header {
                key: "ce_subject",
                value: Some(change.lead_id.as_str()),
            })
            .insert(Header {
                key: "ce_time",
                value: Some(time.as_str()),
            })
            .insert(Header {
                key: "content-type",
                value: Some(content_type),
            });
        let record = OwnedRecord {
            topic: self.changes_topic.clone(),
            key: Some(change.lead_id.as_bytes().to_vec()),
            payload,
            headers,
        };
        let kind = PendingKind::Change {
            from: change.from,
            to: change.to,
            reason: change.reason.to_string(),
            taken_at,
        };
        self.send(record, kind)
    }

    /// Sends a refused record to the dead-letter topic unchanged (key,
    /// payload and headers), with the reason and its source in headers.
    pub fn send_dead_letter(&self, msg: &BorrowedMessage<'_>, reason: &str) -> Pending {
        let mut headers = OwnedHeaders::new();
        if let Some(h) = msg.headers() {
            for i in 0..h.count() {
                let hdr = h.get(i);
                headers = headers.insert(Header {
                    key: hdr.key,
                    value: hdr.value,
                });
            }
        }
        let partition = msg.partition().to_string();
        let offset = msg.offset().to_string();
        headers = headers
            .insert(Header {
                key: "leadscore.error",
                value: Some(reason),
            })
            .insert(Header {
                key: "leadscore.source.topic",
                value: Some(msg.topic()),
            })
            .insert(Header {
                key: "leadscore.source.partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "leadscore.source.offset",
                value: Some(offset.as_str()),
            });
        let record = OwnedRecord {
            topic: self.dlq_topic.clone(),
            key: msg.key().map(<[u8]>::to_vec),
            payload: msg.payload().unwrap_or_default().to_vec(),
            headers,
        };
        self.send(record, PendingKind::DeadLetter)
    }

    fn send(&self, record: OwnedRecord, kind: PendingKind) -> Pending {
        loop {
            let mut fr = FutureRecord::to(&record.topic)
                .payload(&record.payload)
                .headers(record.headers.clone());
            if let Some(k) = &record.key {
                fr = fr.key(k);
            }
            match self.producer.send_result(fr) {
                Ok(future) => {
                    return Pending {
                        future,
                        record,
                        kind,
                    }
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // The local queue drains as the broker acks; wait a moment.
                    self.producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => {
                    self.counters.add_producer_error();
                    emit!(ProducerError {
                        kind: "enqueue",
                        error: &e.to_string()
                    });
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Waits until every pending record is acknowledged, re-sending failed
    /// ones. Returns false only if shutdown was forced while a record could
    /// still not be delivered (then the caller must not store offsets).
    pub fn settle(&self, pending: &mut Vec<Pending>, shutdown: &Shutdown) -> bool {
        let mut attempt = 0u32;
        while !pending.is_empty() {
            let batch = std::mem::take(pending);
            for p in batch {
                match futures::executor::block_on(p.future) {
                    Ok(Ok(_)) => {
                        if let PendingKind::Change {
                            from,
                            to,
                            reason,
                            taken_at,
                        } = &p.kind
                        {
                            self.counters.add_change(*from, *to);
                            emit!(StageChanged {
                                from: from.as_str(),
                                to: to.as_str(),
                                reason
                            });
                            emit!(EndToEndLatency(taken_at.elapsed()));
                        }
                    }
                    Ok(Err((e, _))) => {
                        self.counters.add_producer_error();
                        emit!(ProducerError {
                            kind: "delivery",
                            error: &e.to_string()
                        });
                        pending.push(self.send(p.record, p.kind));
                    }
                    Err(_canceled) => {
                        self.counters.add_producer_error();
                        emit!(ProducerError {
                            kind: "canceled",
                            error: "delivery future canceled"
                        });
                        pending.push(self.send(p.record, p.kind));
                    }
                }
            }
            if !pending.is_empty() {
                attempt += 1;
                if shutdown.is_triggered() && attempt > 20 {
                    return false;
                }
                std::thread::sleep(Duration::from_millis((50 * attempt as u64).min(1000)));
            }
        }
        true
    }

    /// Flushes everything queued in the producer (shutdown).
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "producer flush did not finish");
        }
    }
}
