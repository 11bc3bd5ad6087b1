//! A task's outbound side: every output gets a sequence number in the
//! in-flight window, delivery reports come back through the task's inbox,
//! failures are sent again with backoff, and what the acknowledgements
//! cover is handed back as input offsets that are safe to commit.
//!
//! Delivery errors are of two kinds:
//! - **retriable** (broker unreachable, leader moving, timeouts, full local
//!   queue, authorization): the output is sent again, with backoff, for as
//!   long as it takes. It holds the frontier, so nothing after it is
//!   committed or snapshotted; nothing is skipped.
//! - **permanent** (the record itself can never be accepted: over the
//!   broker's or producer's size limit, or refused as invalid): sending it
//!   again would block the partition forever. A dead letter is re-sent
//!   truncated to fit, with headers saying so; a stage change is sent to
//!   the dead-letter topic (truncated if need be) with the reason. Each
//!   case is counted (`leadscore_outputs_rerouted_total`) and logged.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{Header, OwnedHeaders};

use super::counters::Counters;
use super::delivery::{Ack, AckInbox, OwnedRecord};
use super::inflight::InFlight;
use super::publisher::Publisher;
use crate::emit;
use crate::engine::Stage;
use crate::telemetry::events::{
    EndToEndLatency, OutputRerouted, ProducerError, ProducerQueueFull, StageChanged,
};

/// What an output is, for the metrics counted when it is acknowledged.
#[derive(Debug, Clone, Copy)]
pub enum OutputKind {
    Change {
        from: Stage,
        to: Stage,
        reason: &'static str,
    },
    DeadLetter,
    /// A changelog record of a lead or of dedupe ids.
    Changelog,
    /// A changelog checkpoint (its offset is reported back).
    Checkpoint,
}

/// One output in the window.
#[derive(Debug, Clone, Copy)]
pub struct OutputMeta {
    pub kind: OutputKind,
    /// Kafka timestamp of the inbound record it was derived from (the start
    /// of the end-to-end latency), `None` for sweep changes.
    pub source_ts_ms: Option<i64>,
}

/// An output not yet in the producer's hands.
struct Waiting {
    seq: u64,
    record: OwnedRecord,
    attempt: u32,
    /// Permanent failures so far (each one shrinks the record further).
    refused: u32,
}

/// An output to send again once `not_before` has passed.
struct Retry {
    waiting: Waiting,
    not_before: Instant,
}

/// Permanent failures of one output after which it is given up (only a
/// record that cannot be made to fit even truncated gets there).
const MAX_REFUSALS: u32 = 3;

/// Whether a delivery error is about the record itself (it will never be
/// accepted as it is) rather than about the broker or the network.
pub fn is_permanent(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::MessageBatchTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidRecord
    )
}

/// Backoff before attempt `n` (1-based): 10 ms doubling to 2 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((10u64 << attempt.min(8).saturating_sub(1)).min(2_000))
}

/// Waits before trying again while the producer's local queue is full:
/// it drains at the broker's pace, so the wait starts short and doubles
/// while the queue stays full (a task must not spin on it).
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(2);
const QUEUE_FULL_MAX_WAIT: Duration = Duration::from_millis(100);

/// The outputs of one task that are not yet acknowledged.
pub struct Outbox {
    inflight: InFlight<OutputMeta>,
    inbox: Arc<AckInbox>,
    /// Outputs that failed, to be sent again with backoff, and the
    /// earliest time one is due.
    retries: Vec<Retry>,
    retry_due: Option<Instant>,
    /// Outputs the producer's full local queue refused, oldest first
    /// (everything newer waits behind them), and when to try again.
    queued: VecDeque<Waiting>,
    queued_not_before: Instant,
    /// The wait after the next refusal.
    queued_wait: Duration,
    acks: Vec<Ack>,
    /// Largest record the producer accepts (`message.max.bytes`).
    max_record_bytes: usize,
    dead_letter_topic: String,
    /// `(seq, offset)` of acknowledged changelog checkpoints, until taken.
    checkpoints: Vec<(u64, i64)>,
}

impl Outbox {
    pub fn new(
        inputs: usize,
        capacity: usize,
        inbox: Arc<AckInbox>,
        max_record_bytes: usize,
        dead_letter_topic: String,
    ) -> Outbox {
        Outbox {
            inflight: InFlight::new(inputs, capacity),
            inbox,
            retries: Vec::new(),
            retry_due: None,
            queued: VecDeque::new(),
            queued_not_before: Instant::now(),
            queued_wait: QUEUE_FULL_WAIT,
            acks: Vec::new(),
            max_record_bytes,
            dead_letter_topic,
            checkpoints: Vec::new(),
        }
    }

    /// `(seq, offset)` of the changelog checkpoints acknowledged since the
    /// last call.
    pub fn take_checkpoints(&mut self) -> Vec<(u64, i64)> {
        std::mem::take(&mut self.checkpoints)
    }

    /// Gives `record` a sequence number and hands it to the producer (or
    /// queues it for a retry if the producer cannot take it right now).
    pub fn send(&mut self, publisher: &Publisher, record: OwnedRecord, meta: OutputMeta) {
        let seq = self.inflight.issue(meta);
        let waiting = Waiting {
            seq,
            record,
            attempt: 0,
            refused: 0,
        };
        if self.queued.is_empty() {
            self.attempt(publisher, waiting);
        } else {
            // Behind the outputs the full queue refused, so that a lead's
            // records keep their order.
            self.queued.push_back(waiting);
        }
    }

    /// Hands one output to the producer; false if its queue is full (the
    /// output is then first in line in `queued`).
    fn attempt(&mut self, publisher: &Publisher, w: Waiting) -> bool {
        match publisher.send(&w.record, &self.inbox, w.seq) {
            Ok(()) => {
                self.queued_wait = QUEUE_FULL_WAIT;
                true
            }
            Err(RDKafkaErrorCode::QueueFull) => {
                emit!(ProducerQueueFull);
                self.queued.push_front(w);
                self.queued_not_before = Instant::now() + self.queued_wait;
                self.queued_wait = (self.queued_wait * 2).min(QUEUE_FULL_MAX_WAIT);
                false
            }
            Err(code) => {
                self.failed(w.seq, code, w.record, w.attempt, w.refused, "enqueue");
                true
            }
        }
    }

    /// Deals with one failure of output `seq` (attempt `attempt`).
    fn failed(
        &mut self,
        seq: u64,
        code: RDKafkaErrorCode,
        record: OwnedRecord,
        attempt: u32,
        refused: u32,
        stage: &'static str,
    ) {
        let mut refused = refused;
        let record = if is_permanent(code) {
            refused += 1;
            if refused > MAX_REFUSALS {
                emit!(OutputRerouted {
                    action: "dropped",
                    topic: &record.topic,
                    bytes: record.size(),
                    error: &code.to_string()
                });
                // Acknowledge it as handled so the partition moves on.
                self.inflight.acknowledge(seq);
                return;
            }
            self.reroute(record, code)
        } else {
            emit!(ProducerError {
                kind: stage,
                error: &code.to_string()
            });
            record
        };
        let not_before = Instant::now() + backoff(attempt + 1);
        self.retry_due = Some(self.retry_due.map_or(not_before, |d| d.min(not_before)));
        self.retries.push(Retry {
            waiting: Waiting {
                seq,
                record,
                attempt: attempt + 1,
                refused,
            },
            not_before,
        });
    }

    /// The replacement for a record that can never be accepted as it is.
    fn reroute(&self, mut record: OwnedRecord, code: RDKafkaErrorCode) -> OwnedRecord {
        let size = record.size();
        let what = if record.topic == self.dead_letter_topic {
            "dead letter"
        } else {
            "output"
        };
        emit!(OutputRerouted {
            action: if what == "dead letter" {
                "truncated"
            } else {
                "dead_lettered"
            },
            topic: &record.topic,
            bytes: size,
            error: &code.to_string()
        });
        let reason = format!("{what} of {size} bytes to {} refused: {code}", record.topic);
        if record.topic != self.dead_letter_topic {
            let from = std::mem::replace(&mut record.topic, self.dead_letter_topic.clone());
            record.partition = None;
            record.headers = record
                .headers
                .insert(Header {
                    key: "leadscore.error",
                    value: Some(reason.as_str()),
                })
                .insert(Header {
                    key: "leadscore.intended.topic",
                    value: Some(from.as_str()),
                });
        }
        truncate_to_fit(&mut record, self.max_record_bytes, size);
        record
    }

    /// Takes delivery reports, re-sends due retries, and counts what was
    /// acknowledged. Returns the next time a retry falls due, if any.
    pub fn poll(&mut self, publisher: &Publisher, counters: &Counters) -> Option<Instant> {
        self.inbox.take(&mut self.acks);
        let mut acks = std::mem::take(&mut self.acks);
        let now_ms = if acks.is_empty() {
            0
        } else {
            crate::pipeline::wall_clock_ms()
        };
        for ack in acks.drain(..) {
            match ack {
                Ack::Delivered { seq, offset } => {
                    if let Some(meta) = self.inflight.acknowledge(seq) {
                        if matches!(meta.kind, OutputKind::Checkpoint) {
                            self.checkpoints.push((seq, offset));
                        }
                        acknowledged(&meta, counters, now_ms);
                    }
                }
                Ack::Failed { seq, error, record } => {
                    counters.add_producer_error();
                    self.failed(seq, error, record, 0, 0, "delivery");
                }
            }
        }
        self.acks = acks;
        let now = Instant::now();
        if self.retry_due.is_some_and(|d| d <= now) {
            let (mut due, later): (Vec<Retry>, Vec<Retry>) = std::mem::take(&mut self.retries)
                .into_iter()
                .partition(|r| r.not_before <= now);
            self.retry_due = later.iter().map(|r| r.not_before).min();
            self.retries = later;
            due.sort_by_key(|r| r.waiting.seq);
            // Ahead of what the full queue refused: they are older.
            for r in due.into_iter().rev() {
                self.queued.push_front(r.waiting);
            }
            self.queued_not_before = now;
        }
        if !self.queued.is_empty() && self.queued_not_before <= now {
            while let Some(w) = self.queued.pop_front() {
                if !self.attempt(publisher, w) {
                    break;
                }
            }
        }
        let queued_at = (!self.queued.is_empty()).then_some(self.queued_not_before);
        match (self.retry_due, queued_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The window (for positions, back-pressure and covered offsets).
    pub fn window(&mut self) -> &mut InFlight<OutputMeta> {
        &mut self.inflight
    }

    /// The window, read-only.
    pub fn window_ref(&self) -> &InFlight<OutputMeta> {
        &self.inflight
    }
}

/// Counts an acknowledged output.
fn acknowledged(meta: &OutputMeta, counters: &Counters, now_ms: i64) {
    if let OutputKind::Change { from, to, reason } = meta.kind {
        counters.add_change(from, to);
        emit!(StageChanged {
            from: from.as_str(),
            to: to.as_str(),
            reason
        });
        if let Some(ts) = meta.source_ts_ms {
            emit!(EndToEndLatency(Duration::from_millis(
                now_ms.saturating_sub(ts).max(0) as u64
            )));
        }
    }
}

/// Bytes kept free below the limit for the record's framing and headers.
const FRAMING_BYTES: usize = 512;

/// Cuts `record`'s value so that the whole record fits in `max_bytes`, and
/// says so in headers (`leadscore.truncated`, `leadscore.original.bytes`).
/// A key that alone is too large is cut too.
fn truncate_to_fit(record: &mut OwnedRecord, max_bytes: usize, original: usize) {
    let budget = max_bytes.saturating_sub(FRAMING_BYTES);
    if header_bytes(&record.headers) > budget / 4 {
        // Only our own headers are kept when the record's own would not fit.
        record.headers = keep_headers(&record.headers, |k| {
            k.starts_with(super::publisher::DEAD_LETTER_HEADER_PREFIX)
        });
    }
    let headers_len: usize = header_bytes(&record.headers) + 64;
    if let Some(k) = record.key.as_mut() {
        k.truncate(budget / 4);
    }
    let key_len = record.key.as_ref().map_or(0, Vec::len);
    let room = budget.saturating_sub(headers_len + key_len);
    if let Some(p) = record.payload.as_mut() {
        p.truncate(room);
    }
    let original = original.to_string();
    record.headers = std::mem::replace(&mut record.headers, OwnedHeaders::new())
        .insert(Header {
            key: "leadscore.truncated",
            value: Some("true"),
        })
        .insert(Header {
            key: "leadscore.original.bytes",
            value: Some(original.as_str()),
        });
}

/// The headers of `h` whose key passes `keep`, in order.
fn keep_headers(h: &OwnedHeaders, keep: impl Fn(&str) -> bool) -> OwnedHeaders {
    use rdkafka::message::Headers;
    h.iter()
        .filter(|x| keep(x.key))
        .fold(OwnedHeaders::new(), |out, x| {
            out.insert(Header {
                key: x.key,
                value: x.value,
            })
        })
}

fn header_bytes(h: &OwnedHeaders) -> usize {
    use rdkafka::message::Headers;
    (0..h.count())
        .map(|i| {
            let x = h.get(i);
            x.key.len() + x.value.map_or(0, <[u8]>::len) + 8
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::Headers;

    fn record(topic: &str, key: usize, payload: usize) -> OwnedRecord {
        OwnedRecord {
            topic: topic.into(),
            partition: None,
            key: Some(vec![b'k'; key]),
            payload: Some(vec![b'p'; payload]),
            headers: OwnedHeaders::new().insert(Header {
                key: "leadscore.error",
                value: Some("bad"),
            }),
        }
    }

    #[test]
    fn size_errors_are_permanent_and_broker_errors_are_not() {
        assert!(is_permanent(RDKafkaErrorCode::MessageSizeTooLarge));
        assert!(is_permanent(RDKafkaErrorCode::InvalidRecord));
        assert!(!is_permanent(RDKafkaErrorCode::MessageTimedOut));
        assert!(!is_permanent(RDKafkaErrorCode::QueueFull));
        assert!(!is_permanent(RDKafkaErrorCode::TopicAuthorizationFailed));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(10));
        assert_eq!(backoff(2), Duration::from_millis(20));
        assert!(backoff(30) <= Duration::from_secs(2));
    }

    #[test]
    fn a_truncated_record_fits_and_says_what_it_was() {
        let mut r = record("dlq", 10, 2_000_000);
        let original = r.size();
        truncate_to_fit(&mut r, 1_000_000, original);
        assert!(r.size() <= 1_000_000, "{}", r.size());
        assert!(
            r.payload.as_ref().unwrap().len() > 900_000,
            "keeps what fits"
        );
        let h: Vec<(String, String)> = (0..r.headers.count())
            .map(|i| {
                let x = r.headers.get(i);
                (
                    x.key.to_string(),
                    String::from_utf8_lossy(x.value.unwrap_or_default()).to_string(),
                )
            })
            .collect();
        assert!(h.contains(&("leadscore.truncated".into(), "true".into())));
        assert!(h.contains(&("leadscore.original.bytes".into(), original.to_string())));
        let mut huge_key = record("dlq", 4_000_000, 10);
        truncate_to_fit(&mut huge_key, 1_000_000, 4_000_010);
        assert!(huge_key.size() <= 1_000_000);
    }
}
