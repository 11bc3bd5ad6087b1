//! Keys and values of changelog records (`changelog.proto`). Lead records
//! are keyed by the lead id, so compaction keeps each lead's newest state;
//! the other kinds have keys starting with 0xFF, which no UTF-8 lead id
//! does.

use prost::{encoding, Message};

use super::error::ChangelogError;
use crate::codec::proto as pb;
use crate::engine::{LeadBlock, LeadKey, LeadState};
use crate::snapshot::{append_lead_field, lead_from_record, zigzag};

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
    encode_lead_block(&lead.block, covers)
}

/// [`encode_lead`] of a lead read in place (`TaskState::read_lead`): the
/// value is written once into one buffer, the same bytes `LeadWire` gives.
pub(crate) fn encode_lead_block(lead: &LeadBlock, covers: &[i64]) -> Vec<u8> {
    // The lead's encoding reserves exactly the room it takes: a buffer
    // held until the record is acknowledged is no larger than its bytes.
    let mut out = Vec::with_capacity(2 + encoding::sint64::encoded_len_packed(2, covers));
    encoding::uint32::encode(1, &FORMAT, &mut out);
    encoding::sint64::encode_packed(2, covers, &mut out);
    append_lead_field(&mut out, 3, lead);
    out
}

/// Most dedupe entries in one batch record: at most 18 bytes each encoded
/// (8 for the hash, up to 10 for the time), so a batch stays under 300 KB,
/// well within Kafka's default 1 MB `message.max.bytes`.
pub const SEEN_BATCH: usize = 16_384;

/// The value of a dedupe batch (at most [`SEEN_BATCH`] entries).
pub fn encode_seen(seq: u64, entries: &[(u64, i64)]) -> Vec<u8> {
    encode_seen_runs(seq, &[entries])
}

/// Cuts `runs` of entries (the dedupe window's queue, as
/// `SeenEvents::since_slices` gives it) into batches of at most `max`
/// entries, each a list of runs, without copying an entry.
pub(crate) fn seen_batches<'a>(
    runs: impl Iterator<Item = &'a [(u64, i64)]>,
    max: usize,
) -> Vec<Vec<&'a [(u64, i64)]>> {
    let mut batches: Vec<Vec<&[(u64, i64)]>> = Vec::new();
    let mut room = 0;
    for mut run in runs {
        while !run.is_empty() {
            if room == 0 {
                batches.push(Vec::new());
                room = max;
            }
            let (head, rest) = run.split_at(run.len().min(room));
            batches.last_mut().expect("pushed above").push(head);
            room -= head.len();
            run = rest;
        }
    }
    batches
}

/// [`encode_seen`] of a batch given as runs of entries: written straight
/// from them, the same bytes `pb::ChangelogSeen` gives.
pub(crate) fn encode_seen_runs(seq: u64, runs: &[&[(u64, i64)]]) -> Vec<u8> {
    use encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
    let entries = || runs.iter().flat_map(|r| r.iter());
    let n: usize = runs.iter().map(|r| r.len()).sum();
    let times_len: usize = entries().map(|e| encoded_len_varint(zigzag(e.1))).sum();
    let mut out = Vec::with_capacity(32 + 8 * n + times_len);
    encoding::uint32::encode(1, &FORMAT, &mut out);
    if seq != 0 {
        encoding::uint64::encode(2, &seq, &mut out);
    }
    if n > 0 {
        encode_key(3, WireType::LengthDelimited, &mut out);
        encode_varint(8 * n as u64, &mut out);
        for e in entries() {
            out.extend_from_slice(&e.0.to_le_bytes());
        }
        encode_key(4, WireType::LengthDelimited, &mut out);
        encode_varint(times_len as u64, &mut out);
        for e in entries() {
            encode_varint(zigzag(e.1), &mut out);
        }
    }
    out
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
    use crate::event::{Event, EventBody, FormKind};
    use crate::model::Model;
    use std::borrow::Cow;

    #[test]
    fn a_lead_written_in_place_is_the_message_prost_writes_and_reads_back() {
        let model = Model::builtin();
        let mut st = crate::engine::TaskState::default();
        for (i, lead) in ["0a1b2c3d-4e5f-6789-abcd-ef0123456789", "lead-b"]
            .into_iter()
            .enumerate()
        {
            st.apply(
                &model,
                &Event {
                    event_id: Cow::Owned(format!("e{i}")),
                    lead_id: Cow::Borrowed(lead),
                    occurred_at_ms: 1_700_000_000_000 + i as i64,
                    body: EventBody::Form {
                        form: FormKind::ContactUs,
                    },
                },
            );
        }
        for lead in st.lead_states() {
            for covers in [&[][..], &[-2], &[0, 41, i64::MAX]] {
                let value = encode_lead(&lead, covers);
                // What prost writes for the same fields, byte for byte.
                let wire = LeadWire::decode(&value[..]).expect("valid protobuf");
                assert_eq!(wire.encode_to_vec(), value);
                assert_eq!(wire.covers, covers);
                let key = LeadKey::parse(&lead.lead_id());
                match decode(0, Some(&lead_key(&lead.lead_id())), Some(&value)).unwrap() {
                    Record::Lead {
                        key: k,
                        lead: back,
                        covers: c,
                    } => {
                        assert_eq!(k, key);
                        assert_eq!(back, lead);
                        assert_eq!(c, covers);
                    }
                    other => panic!("not a lead: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn a_dedupe_batch_written_from_runs_is_the_message_prost_writes() {
        let entries: Vec<(u64, i64)> = (0..40u64)
            .map(|i| {
                (
                    i.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                    i as i64 * 1_000 - 7_000,
                )
            })
            .collect();
        for seq in [0, 7] {
            for cut in [&[][..], &[40], &[3, 20, 40], &[0, 0, 40]] {
                let mut runs = Vec::new();
                let mut from = 0;
                for &to in cut {
                    runs.push(&entries[from..to]);
                    from = to;
                }
                let all: Vec<(u64, i64)> = runs.iter().flat_map(|r| r.iter()).copied().collect();
                let expected = pb::ChangelogSeen {
                    format: FORMAT,
                    seq,
                    id_hashes: all.iter().map(|e| e.0).collect(),
                    occurred_at_ms: all.iter().map(|e| e.1).collect(),
                }
                .encode_to_vec();
                assert_eq!(
                    encode_seen_runs(seq, &runs),
                    expected,
                    "seq {seq}, runs {cut:?}"
                );
            }
        }
    }

    #[test]
    fn runs_are_cut_in_batches_of_at_most_the_limit_in_order() {
        let e: Vec<(u64, i64)> = (0..12u64).map(|i| (i, i as i64)).collect();
        let runs = [&e[0..3], &e[3..3], &e[3..8], &e[8..12]];
        let batches = seen_batches(runs.into_iter(), 4);
        let sizes: Vec<usize> = batches
            .iter()
            .map(|b| b.iter().map(|r| r.len()).sum())
            .collect();
        assert_eq!(sizes, [4, 4, 4]);
        let flat: Vec<(u64, i64)> = batches
            .iter()
            .flatten()
            .flat_map(|r| r.iter())
            .copied()
            .collect();
        assert_eq!(flat, e);
        assert_eq!(seen_batches(runs.into_iter(), 100).len(), 1);
        assert!(seen_batches(std::iter::empty(), 4).is_empty());
    }

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
