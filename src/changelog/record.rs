//! Keys and values of changelog records (`changelog.proto`). Lead records
//! are keyed by the lead id, so compaction keeps each lead's newest state;
//! the other kinds have keys starting with 0xFF, which no UTF-8 lead id
//! does.

use prost::Message;

use super::error::ChangelogError;
use crate::codec::proto as pb;
use crate::engine::{LeadKey, LeadState};
use crate::snapshot::{lead_from_record, lead_record};

/// The value layout this build writes and reads.
pub const FORMAT: u32 = 1;

const SPECIAL: u8 = 0xFF;
const CHECKPOINT: &[u8] = b"\xFFcheckpoint";
const SEEN: &[u8] = b"\xFFseen";

/// The key of a lead's record.
pub fn lead_key(lead_id: &str) -> Vec<u8> {
    lead_id.as_bytes().to_vec()
}

/// The key of the checkpoint record.
pub fn checkpoint_key() -> Vec<u8> {
    CHECKPOINT.to_vec()
}

/// The key of dedupe batch `seq`.
pub fn seen_key(seq: u64) -> Vec<u8> {
    let mut k = SEEN.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Where the restored state stands: positions (next offset per inbound
/// topic, names sorted), event-time clock and dedupe bookkeeping.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub positions: Vec<(String, i64)>,
    pub watermark_ms: i64,
    pub last_sweep_ms: i64,
    pub seen_cutoff_ms: i64,
    pub seen_first_live: u64,
    pub seen_next: u64,
    pub model_version: String,
    pub written_at_ms: i64,
}

/// One decoded record.
#[derive(Debug)]
pub enum Record {
    /// A lead's state and the inbound offsets it covers.
    Lead {
        key: LeadKey,
        lead: LeadState,
        covers: Vec<i64>,
    },
    /// The lead was evicted.
    Evicted(LeadKey),
    /// Event ids the dedupe window took in.
    Seen {
        seq: u64,
        entries: Vec<(u64, i64)>,
    },
    /// Dedupe batch `seq` expired.
    SeenExpired(u64),
    Checkpoint(Checkpoint),
}

/// `ChangelogLead` with the lead left as bytes (the same wire form as the
/// embedded `LeadRecord` message, encoded by the snapshot code).
#[derive(Clone, PartialEq, Message)]
struct LeadWire {
    #[prost(uint32, tag = "1")]
    format: u32,
    #[prost(sint64, repeated, tag = "2")]
    covers: Vec<i64>,
    #[prost(bytes = "vec", tag = "3")]
    lead: Vec<u8>,
}

/// The value of a lead's record.
pub fn encode_lead(lead: &LeadState, covers: &[i64]) -> Vec<u8> {
    LeadWire {
        format: FORMAT,
        covers: covers.to_vec(),
        lead: lead_record(lead),
    }
    .encode_to_vec()
}

/// Most dedupe entries in one batch record: at most 18 bytes each encoded
/// (8 for the hash, up to 10 for the time), so a batch stays under 300 KB,
/// well within Kafka's default 1 MB `message.max.bytes`.
pub const SEEN_BATCH: usize = 16_384;

/// The value of a dedupe batch (at most [`SEEN_BATCH`] entries).
pub fn encode_seen(seq: u64, entries: &[(u64, i64)]) -> Vec<u8> {
    pb::ChangelogSeen {
        format: FORMAT,
        seq,
        id_hashes: entries.iter().map(|e| e.0).collect(),
        occurred_at_ms: entries.iter().map(|e| e.1).collect(),
    }
    .encode_to_vec()
}

/// The value of a checkpoint.
pub fn encode_checkpoint(c: &Checkpoint) -> Vec<u8> {
    pb::ChangelogCheckpoint {
        format: FORMAT,
        positions: c
            .positions
            .iter()
            .map(|(topic, next_offset)| pb::TopicOffset {
                topic: topic.clone(),
                next_offset: *next_offset,
            })
            .collect(),
        watermark_ms: c.watermark_ms,
        last_sweep_ms: c.last_sweep_ms,
        seen_cutoff_ms: c.seen_cutoff_ms,
        seen_first_live: c.seen_first_live,
        seen_next: c.seen_next,
        model_version: c.model_version.clone(),
        written_at_ms: c.written_at_ms,
    }
    .encode_to_vec()
}

/// Decodes the record at `offset`.
pub fn decode(
    offset: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Result<Record, ChangelogError> {
    let corrupt = |what: String| ChangelogError::Corrupt { offset, what };
    let key = key.ok_or_else(|| corrupt("the record has no key".into()))?;
    let check = |found: u32| {
        if found > FORMAT {
            Err(ChangelogError::Format {
                offset,
                found,
                supported: FORMAT,
            })
        } else {
            Ok(())
        }
    };
    if key.first() != Some(&SPECIAL) {
        let id =
            std::str::from_utf8(key).map_err(|_| corrupt("a lead key that is not UTF-8".into()))?;
        let Some(value) = value else {
            return Ok(Record::Evicted(LeadKey::parse(id)));
        };
        let w = LeadWire::decode(value).map_err(|e| corrupt(format!("lead {id}: {e}")))?;
        check(w.format)?;
        let lead = lead_from_record(&w.lead).map_err(|e| corrupt(format!("lead {id}: {e}")))?;
        let key = LeadKey::parse(id);
        if !lead.has_key(&key) {
            return Err(corrupt(format!(
                "the record of lead {id} holds lead {}",
                lead.lead_id()
            )));
        }
        return Ok(Record::Lead {
            key,
            lead,
            covers: w.covers,
        });
    }
    if key == CHECKPOINT {
        let value = value.ok_or_else(|| corrupt("a checkpoint with no value".into()))?;
        let c = pb::ChangelogCheckpoint::decode(value)
            .map_err(|e| corrupt(format!("checkpoint: {e}")))?;
        check(c.format)?;
        return Ok(Record::Checkpoint(Checkpoint {
            positions: c
                .positions
                .into_iter()
                .map(|t| (t.topic, t.next_offset))
                .collect(),
            watermark_ms: c.watermark_ms,
            last_sweep_ms: c.last_sweep_ms,
            seen_cutoff_ms: c.seen_cutoff_ms,
            seen_first_live: c.seen_first_live,
            seen_next: c.seen_next,
            model_version: c.model_version,
            written_at_ms: c.written_at_ms,
        }));
    }
    if let Some(seq) = key.strip_prefix(SEEN) {
        let seq: [u8; 8] = seq
            .try_into()
            .map_err(|_| corrupt("a dedupe batch key without an 8-byte sequence".into()))?;
        let seq = u64::from_be_bytes(seq);
        let Some(value) = value else {
            return Ok(Record::SeenExpired(seq));
        };
        let s =
            pb::ChangelogSeen::decode(value).map_err(|e| corrupt(format!("dedupe batch: {e}")))?;
        check(s.format)?;
        if s.id_hashes.len() != s.occurred_at_ms.len() {
            return Err(corrupt(format!(
                "dedupe batch {seq} has {} ids and {} times",
                s.id_hashes.len(),
                s.occurred_at_ms.len()
            )));
        }
        return Ok(Record::Seen {
            seq,
            entries: s.id_hashes.into_iter().zip(s.occurred_at_ms).collect(),
        });
    }
    Err(corrupt(format!(
        "unknown key {:?}",
        String::from_utf8_lossy(key)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_dedupe_batch_fits_a_default_kafka_message_and_reads_back() {
        // The widest entries there are: a time of i64::MIN is 10 bytes as
        // a zigzag varint.
        let entries: Vec<(u64, i64)> = (0..SEEN_BATCH as u64)
            .map(|i| (u64::MAX - i, if i % 2 == 0 { i64::MIN } else { i64::MAX }))
            .collect();
        let value = encode_seen(7, &entries);
        assert!(value.len() < 300_000, "{} bytes", value.len());
        match decode(0, Some(&seen_key(7)), Some(&value)).expect("decodes") {
            Record::Seen { seq, entries: back } => {
                assert_eq!(seq, 7);
                assert_eq!(back, entries);
            }
            other => panic!("not a dedupe batch: {other:?}"),
        }
    }
}
