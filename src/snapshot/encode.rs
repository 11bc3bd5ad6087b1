//! Task state -> snapshot body bytes, in two steps. [`capture`] runs on
//! the task thread and only takes a copy-on-write image of the state
//! (`engine::StateImage`: microseconds, whatever the size of the state).
//! [`Captured::encode`] runs on the snapshot writer's thread: it walks the
//! image (the live lead table, one shard lock at a time, plus the copies
//! the task saved of leads it changed meanwhile) and writes the protobuf
//! encoding straight into buffers: no intermediate prost structs, no
//! per-lead allocation, lead slots in memory order.
//!
//! Fresh output memory costs a page fault per 4 KiB, so the output goes
//! into chunks drawn from a pool of already-mapped chunks that dropped
//! captures give back. The body is the concatenation of all chunks, which
//! is valid protobuf because a repeated field may be split anywhere
//! between elements.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::wire::{self, key, put_bytes, put_varint, put_varint_field, zigzag, Out, FIXED64, LEN};
use crate::engine::{LeadBlock, Slot, StateImage, TaskState};

/// A consistent image of one task's state plus what it covers, taken on
/// the task thread by [`crate::snapshot::SnapshotStore::capture`] and
/// `Send`, so [`crate::snapshot::SnapshotStore::write`] can encode and
/// write it on another thread while the task keeps working. The body is
/// encoded once, on the first `encode` (or `write`), and kept for retries.
/// Dropping it hands its buffers to the next capture (see
/// [`release_buffers`]).
#[derive(Debug)]
pub struct Captured {
    /// Partition (task) of the state.
    pub(crate) partition: i32,
    /// Next offset of each inbound topic.
    pub(crate) offsets: Vec<(String, i64)>,
    /// Model the state was computed with.
    pub(crate) model_version: String,
    /// Wall time of the capture, epoch ms.
    pub(crate) taken_at_ms: i64,
    /// Leads in the image.
    pub(crate) lead_count: usize,
    /// The image, until it is encoded.
    image: Mutex<Option<StateImage>>,
    /// The body, in pieces (see the module docs), once encoded.
    body: OnceLock<Vec<Vec<u8>>>,
    /// Time the capture paused the task.
    pub(crate) capture_duration: Duration,
    /// Time the encoding took (on the writer's thread).
    encode_duration: OnceLock<Duration>,
    /// Threads the encoding may use.
    threads: usize,
    /// Changelog offset a restore reads from (0: no changelog).
    pub(crate) changelog_next: i64,
}

impl Captured {
    /// Records the changelog offset from which records may be newer than
    /// this image (see `snapshot.proto`).
    pub fn with_changelog_next(mut self, offset: i64) -> Captured {
        self.changelog_next = offset;
        self
    }

    /// Partition (task) the state belongs to.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Next offset of each inbound topic the snapshot covers.
    pub fn offsets(&self) -> &[(String, i64)] {
        &self.offsets
    }

    /// Model version the state was computed with.
    pub fn model_version(&self) -> &str {
        &self.model_version
    }

    /// Wall time of the capture, epoch ms.
    pub fn taken_at_ms(&self) -> i64 {
        self.taken_at_ms
    }

    /// Leads in the image (for metrics and logs).
    pub fn lead_count(&self) -> usize {
        self.lead_count
    }

    /// Encodes the body if that has not happened yet (the expensive step:
    /// call it off the task thread) and returns it: the protobuf `Snapshot`
    /// message, without the file header, as consecutive pieces.
    pub fn encode(&self) -> &[Vec<u8>] {
        self.body.get_or_init(|| {
            let started = Instant::now();
            let image = self
                .image
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .expect("the image is taken only here, once");
            let chunks = encode_image(self, image);
            let _ = self.encode_duration.set(started.elapsed());
            chunks
        })
    }

    /// The encoded body (encodes it first if needed).
    pub fn chunks(&self) -> &[Vec<u8>] {
        self.encode()
    }

    /// Length of the body in bytes (encodes it first if needed).
    pub fn body_len(&self) -> u64 {
        self.encode().iter().map(|c| c.len() as u64).sum()
    }

    /// The body in one piece (a copy; for tools and tests).
    pub fn to_body(&self) -> Vec<u8> {
        self.encode().concat()
    }

    /// How long the capture paused the task thread.
    pub fn capture_duration(&self) -> Duration {
        self.capture_duration
    }

    /// How long the encoding took, once done (it runs off the task thread).
    pub fn encode_duration(&self) -> Option<Duration> {
        self.encode_duration.get().copied()
    }

    /// Sum of the next offsets (negative "no offset yet" markers count as
    /// zero): the progress measure that orders snapshots of one partition
    /// and names their files.
    pub fn offset_sum(&self) -> u64 {
        offset_sum(&self.offsets)
    }
}

/// See [`Captured::offset_sum`].
pub(crate) fn offset_sum(offsets: &[(String, i64)]) -> u64 {
    offsets
        .iter()
        .fold(0u64, |acc, (_, o)| acc.saturating_add((*o).max(0) as u64))
}

/// Output chunk size: large enough that per-chunk overhead is nil, small
/// enough that the unused tail of each is negligible.
const CHUNK: usize = 4 << 20;

/// Below this many leads one thread encodes (a thread costs more than it saves).
const PARALLEL_FROM_LEADS: usize = 100_000;

/// Most threads a capture uses.
const MAX_THREADS: usize = 4;

/// Appends bytes to a list of fixed-size chunks taken from the [`POOL`],
/// so the output never reallocates and copies, and, after the first
/// snapshot, never page-faults either. Chunk boundaries are invisible in
/// the body (it is the concatenation of the chunks' contents), so a field
/// may span two chunks; lead records are kept whole for the slice cursor.
#[derive(Debug, Default)]
struct Chunks {
    done: Vec<Vec<u8>>,
    cur: Vec<u8>,
}

impl Chunks {
    /// A buffer with room for `n` more bytes, without reallocating.
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut Vec<u8> {
        if self.cur.capacity() - self.cur.len() < n {
            let next = if n <= CHUNK {
                take_chunk()
            } else {
                Vec::with_capacity(n)
            };
            let full = std::mem::replace(&mut self.cur, next);
            if !full.is_empty() {
                self.done.push(full);
            }
        }
        &mut self.cur
    }

    /// Appends bytes (which may span chunks).
    fn extend(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let free = self.cur.capacity() - self.cur.len();
            if free == 0 {
                self.room(1);
                continue;
            }
            let n = free.min(bytes.len());
            self.cur.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
    }

    /// The filled chunks, in order.
    fn finish(mut self) -> Vec<Vec<u8>> {
        if !self.cur.is_empty() {
            self.done.push(self.cur);
        }
        self.done
    }
}

/// Where a lead record is written: the snapshot's chunks, or one vector
/// (a changelog record).
trait Room {
    /// A buffer with room for `n` more bytes.
    fn room(&mut self, n: usize) -> &mut Vec<u8>;
}

impl Room for Chunks {
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut Vec<u8> {
        Chunks::room(self, n)
    }
}

impl Room for Vec<u8> {
    fn room(&mut self, n: usize) -> &mut Vec<u8> {
        self.reserve(n);
        self
    }
}

/// Appends `lead` to `out` as field `field` (a `LeadRecord`, length
/// delimited) of an enclosing message: how a changelog record embeds it,
/// with no copy of the encoding.
pub(crate) fn append_lead_field(out: &mut Vec<u8>, field: u32, lead: &LeadBlock) {
    let start = out.len();
    encode_lead(out, lead);
    // `encode_lead` writes the snapshot's `leads` key: a single byte, as
    // is the key of any field numbered below 16.
    debug_assert!(field < 16);
    out[start] = key(field, LEN);
}

/// Output chunks of dropped [`Captured`] images, kept for the next
/// capture: writing into memory that is already mapped avoids a page fault
/// per 4 KiB, which is what fresh output memory mostly costs (on the test
/// VM, faulting in 184 MB took about as long as encoding into it). The pool
/// holds at most twice the largest body captured so far, i.e. what a task
/// with one snapshot being written and one being captured needs anyway, so
/// it does not raise peak memory; [`release_buffers`] empties it.
static POOL: Mutex<Pool> = Mutex::new(Pool {
    chunks: Vec::new(),
    largest_body: 0,
});

/// See [`POOL`].
#[derive(Debug)]
struct Pool {
    /// Empty chunks of capacity [`CHUNK`].
    chunks: Vec<Vec<u8>>,
    /// Largest body captured in this process, which bounds the pool.
    largest_body: usize,
}

/// The pool, locked (a panic elsewhere while holding it leaves it usable).
fn pool() -> std::sync::MutexGuard<'static, Pool> {
    POOL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An empty chunk of capacity [`CHUNK`], from the pool if it has one.
fn take_chunk() -> Vec<u8> {
    pool()
        .chunks
        .pop()
        .unwrap_or_else(|| Vec::with_capacity(CHUNK))
}

/// Frees the output buffers kept for reuse by later captures (see
/// [`Captured`]): for a process that will not snapshot again soon, or is
/// short of memory.
pub fn release_buffers() {
    let chunks = std::mem::take(&mut pool().chunks);
    drop(chunks);
}

impl Drop for Captured {
    /// Returns the output chunks to the pool for the next capture.
    fn drop(&mut self) {
        let Some(mut chunks) = self.body.take() else {
            return;
        };
        {
            let mut pool = pool();
            let limit = 2 * pool.largest_body / CHUNK + 2;
            chunks.retain_mut(|c| {
                let keep = c.capacity() == CHUNK && pool.chunks.len() < limit;
                if keep {
                    c.clear();
                    pool.chunks.push(std::mem::take(c));
                }
                !keep
            });
        }
        // The rest is freed here, outside the lock.
        drop(chunks);
    }
}

/// How many threads to encode `leads` leads with: one core is left to the
/// task, which keeps working while its snapshot is encoded.
fn encode_threads(leads: usize) -> usize {
    if leads < PARALLEL_FROM_LEADS {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .clamp(1, MAX_THREADS)
}

/// Takes the image of `state` for a snapshot; `None` while the previous
/// capture of this state has not been encoded (or dropped) yet.
pub(crate) fn capture(
    partition: i32,
    state: &TaskState,
    offsets: &[(String, i64)],
    model_version: &str,
    taken_at_ms: i64,
) -> Option<Captured> {
    capture_with(
        partition,
        state,
        offsets,
        model_version,
        taken_at_ms,
        encode_threads(state.lead_count()),
    )
}

/// [`capture`] with an explicit encoder thread count.
pub(crate) fn capture_with(
    partition: i32,
    state: &TaskState,
    offsets: &[(String, i64)],
    model_version: &str,
    taken_at_ms: i64,
    threads: usize,
) -> Option<Captured> {
    let started = Instant::now();
    let image = state.image()?;
    Some(Captured {
        partition,
        offsets: offsets.to_vec(),
        model_version: model_version.to_string(),
        taken_at_ms,
        lead_count: image.lead_count,
        image: Mutex::new(Some(image)),
        body: OnceLock::new(),
        capture_duration: started.elapsed(),
        encode_duration: OnceLock::new(),
        threads: threads.max(1),
        changelog_next: 0,
    })
}

/// Encodes an image: the small fields, the dedupe window, then every lead.
fn encode_image(c: &Captured, mut image: StateImage) -> Vec<Vec<u8>> {
    let mut head = Vec::with_capacity(256);
    encode_meta(&mut head, c, &image);
    let mut first = Chunks::default();
    first.extend(&head);
    encode_seen(&mut first, &image);
    let outs: Vec<Mutex<Chunks>> = (0..c.threads)
        .map(|_| Mutex::new(Chunks::default()))
        .collect();
    *outs[0].lock().unwrap_or_else(PoisonError::into_inner) = first;
    let counts: Vec<Mutex<usize>> = (0..c.threads).map(|_| Mutex::new(0)).collect();
    image.walk(c.threads, |k, lead| {
        // Each walker has its own buffer: the lock is never contended.
        encode_lead(
            &mut *outs[k].lock().unwrap_or_else(PoisonError::into_inner),
            lead,
        );
        *counts[k].lock().unwrap_or_else(PoisonError::into_inner) += 1;
    });
    let encoded: usize = counts
        .into_iter()
        .map(|n| n.into_inner().unwrap_or_else(PoisonError::into_inner))
        .sum();
    // The walk visits exactly the leads of the image; anything else is a
    // bug in the copy-on-write protocol, and the decoder's count check
    // would refuse the file.
    debug_assert_eq!(encoded, c.lead_count, "the walk saw every lead once");
    let chunks: Vec<Vec<u8>> = outs
        .into_iter()
        .flat_map(|o| {
            o.into_inner()
                .unwrap_or_else(PoisonError::into_inner)
                .finish()
        })
        .collect();
    let body: usize = chunks.iter().map(Vec::len).sum();
    {
        let mut pool = pool();
        pool.largest_body = pool.largest_body.max(body);
    }
    chunks
}

/// Writes the small fields that precede the dedupe window and the leads.
fn encode_meta(buf: &mut Vec<u8>, c: &Captured, image: &StateImage) {
    use wire::snapshot as f;
    // int32/int64 are sign-extended two's complement varints in protobuf.
    put_varint_field(buf, f::PARTITION, i64::from(c.partition) as u64);
    put_bytes(buf, f::MODEL_VERSION, c.model_version.as_bytes());
    for (topic, next) in &c.offsets {
        use wire::topic_offset as t;
        let len = 1
            + wire::varint_len(topic.len() as u64)
            + topic.len()
            + wire::varint_field_len(*next as u64);
        buf.push(key(f::OFFSETS, LEN));
        put_varint(buf, len as u64);
        put_bytes(buf, t::TOPIC, topic.as_bytes());
        put_varint_field(buf, t::NEXT_OFFSET, *next as u64);
    }
    put_varint_field(buf, f::WATERMARK_MS, image.watermark_ms as u64);
    put_varint_field(buf, f::LAST_SWEEP_MS, image.last_sweep_ms as u64);
    put_varint_field(buf, f::TAKEN_AT_MS, c.taken_at_ms as u64);
    put_varint_field(buf, f::LEAD_COUNT, c.lead_count as u64);
    put_varint_field(buf, f::SEEN_CUTOFF_MS, image.seen.cutoff_ms() as u64);
    if c.changelog_next != 0 {
        put_varint_field(buf, f::CHANGELOG_NEXT_OFFSET, c.changelog_next as u64);
    }
}

/// Writes the dedupe window as two packed arrays in arrival order: ids,
/// then each time as the difference from the previous entry's (the first
/// from the watermark), which keeps the varints short because arrival
/// order is nearly time order.
fn encode_seen(out: &mut Chunks, image: &StateImage) {
    use wire::snapshot as f;
    let n = image.seen.entries().count();
    if n == 0 {
        return;
    }
    let mut head = Vec::with_capacity(12);
    head.push(key(f::SEEN_ID_HASHES, LEN));
    put_varint(&mut head, (n * 8) as u64);
    out.extend(&head);
    let mut deltas_len = 0usize;
    let mut prev = image.watermark_ms;
    let mut piece = Vec::with_capacity(8 << 10);
    for (id, t) in image.seen.entries() {
        piece.extend_from_slice(&id.to_le_bytes());
        deltas_len += wire::varint_len(zigzag(t.wrapping_sub(prev)));
        prev = t;
        if piece.len() >= 8 << 10 {
            out.extend(&piece);
            piece.clear();
        }
    }
    out.extend(&piece);
    piece.clear();
    piece.push(key(f::SEEN_TIME_DELTAS, LEN));
    put_varint(&mut piece, deltas_len as u64);
    let mut prev = image.watermark_ms;
    for (_, t) in image.seen.entries() {
        put_varint(&mut piece, zigzag(t.wrapping_sub(prev)));
        prev = t;
        if piece.len() >= 8 << 10 {
            out.extend(&piece);
            piece.clear();
        }
    }
    out.extend(&piece);
}

/// Whether slots of this kind keep a time in bits 16..64 of `a` (stored
/// as an age in `slot_age`, see `snapshot.proto`): candidates, fit values
/// and a promoted lead's next decay check.
#[inline(always)]
pub(crate) fn timed_kind(a: u64) -> bool {
    matches!(a & 7, 1 | 2 | 7)
}

/// The `slot_head` value of a slot.
#[inline(always)]
fn head_of(s: &Slot) -> u64 {
    if timed_kind(s.a) {
        s.a & 0xffff
    } else {
        s.a
    }
}

/// Bytes of a packed field holding `len` bytes of content (none if empty).
#[inline(always)]
fn packed_len(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        1 + wire::varint_len(len as u64) + len
    }
}

/// Appends one `LeadRecord` (key, length, body): sizes it, takes room for
/// it, then writes through a slice cursor.
#[inline]
fn encode_lead(out: &mut impl Room, lead: &LeadBlock) {
    use wire::lead as f;
    lead.with_id_bytes(|uuid, id| {
        let last = lead.last_event_ms();
        let tagged = lead.tagged();
        let (mut heads_len, mut ages_len) = (0, 0);
        for s in tagged {
            heads_len += wire::varint_len(head_of(s));
            if timed_kind(s.a) {
                ages_len += wire::varint_len(zigzag(last - (s.a >> 16) as i64));
            }
        }
        let id_len = 1 + wire::varint_len(id.len() as u64) + id.len();
        let behavior = lead.total0().to_bits();
        let len = id_len
            + wire::varint_field_len(u64::from(lead.stage_bits()))
            + wire::varint_field_len(last as u64)
            + if behavior == 0 { 0 } else { 9 }
            + packed_len(heads_len)
            + packed_len(ages_len)
            + packed_len(tagged.len() * 8);
        let total = 1 + wire::varint_len(len as u64) + len;
        let buf = out.room(total);
        let start = buf.len();
        buf.resize(start + total, 0);
        let mut o = Out::new(&mut buf[start..]);
        o.byte(key(wire::snapshot::LEADS, LEN));
        o.varint(len as u64);
        o.byte(key(if uuid { f::LEAD_UUID } else { f::LEAD_ID }, LEN));
        o.varint(id.len() as u64);
        o.bytes(id);
        o.varint_field(f::STAGE, u64::from(lead.stage_bits()));
        o.varint_field(f::LAST_EVENT_MS, last as u64);
        if behavior != 0 {
            o.byte(key(f::BEHAVIOR_BITS, FIXED64));
            o.bytes(&behavior.to_le_bytes());
        }
        if heads_len > 0 {
            o.byte(key(f::SLOT_HEAD, LEN));
            o.varint(heads_len as u64);
            for s in tagged {
                o.varint(head_of(s));
            }
        }
        if ages_len > 0 {
            o.byte(key(f::SLOT_AGE, LEN));
            o.varint(ages_len as u64);
            for s in tagged {
                if timed_kind(s.a) {
                    o.varint(zigzag(last - (s.a >> 16) as i64));
                }
            }
        }
        if !tagged.is_empty() {
            o.byte(key(f::SLOT_B, LEN));
            o.varint((tagged.len() * 8) as u64);
            for s in tagged {
                o.bytes(&s.b.to_le_bytes());
            }
        }
        debug_assert_eq!(o.pos(), total, "lead record length prediction");
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::proto as pb;
    use crate::event::{Event, EventBody, Profile, WebContext};
    use crate::model::Model;
    use prost::Message;
    use std::borrow::Cow;

    /// Three leads: one with a UUID id and a few kinds of slots, one text
    /// id, one promoted by a contact form.
    fn sample_state(model: &Model) -> TaskState {
        let mut st = TaskState::default();
        let t = 1_700_000_000_000;
        let ev = |id: &str, lead: &str, t: i64, body: EventBody<'static>| Event {
            event_id: Cow::Owned(id.to_string()),
            lead_id: Cow::Owned(lead.to_string()),
            occurred_at_ms: t,
            body,
        };
        let uuid = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";
        for e in [
            ev(
                "e1",
                uuid,
                t,
                EventBody::PageView {
                    path: Cow::Borrowed("/a"),
                    referrer: None,
                    web: WebContext::default(),
                },
            ),
            ev(
                "e2",
                uuid,
                t + 5,
                EventBody::Profile(Profile {
                    industry: Some(Cow::Borrowed("software")),
                    employees: Some(300),
                    ..Profile::default()
                }),
            ),
            ev(
                "e3",
                "lead-b",
                t + 9,
                EventBody::Form {
                    form: crate::event::FormKind::ContactUs,
                },
            ),
        ] {
            st.apply(model, &e);
        }
        st
    }

    /// The hand-written encoder produces what prost's generated decoder
    /// reads as the schema says (so the body is plain protobuf).
    #[test]
    fn body_decodes_with_prost_as_the_schema_says() {
        let model = Model::builtin();
        let st = sample_state(&model);
        let offsets = vec![("page_views".to_string(), 42), ("forms".to_string(), -1)];
        let c = capture(7, &st, &offsets, "default-1234abcd", 1_700_000_999_000).unwrap();
        let msg = pb::Snapshot::decode(&c.to_body()[..]).expect("valid protobuf");
        assert_eq!(msg.partition, 7);
        assert_eq!(msg.model_version, "default-1234abcd");
        assert_eq!(msg.offsets.len(), 2);
        assert_eq!(msg.offsets[0].topic, "page_views");
        assert_eq!(msg.offsets[0].next_offset, 42);
        assert_eq!(msg.offsets[1].next_offset, -1);
        assert_eq!(msg.watermark_ms, st.watermark_ms());
        assert_eq!(msg.last_sweep_ms, st.last_sweep_ms());
        assert_eq!(msg.taken_at_ms, 1_700_000_999_000);
        assert_eq!(msg.lead_count, 2);
        assert_eq!(msg.seen_id_hashes.len(), 3);
        assert_eq!(msg.seen_time_deltas.len(), 3);
        let mut t = msg.watermark_ms;
        for (id, delta) in msg.seen_id_hashes.iter().zip(&msg.seen_time_deltas) {
            t = t.wrapping_add(*delta);
            assert!(st.seen().entries().contains(&(*id, t)));
        }
        let uuid = msg
            .leads
            .iter()
            .find(|l| matches!(l.id, Some(pb::lead_record::Id::LeadUuid(_))))
            .unwrap();
        assert_eq!(
            uuid.id,
            Some(pb::lead_record::Id::LeadUuid(vec![
                0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45,
                0x67, 0x89
            ]))
        );
        let lead = st.lead("0a1b2c3d-4e5f-6789-abcd-ef0123456789").unwrap();
        assert_eq!(uuid.last_event_ms, lead.last_event_ms());
        assert_eq!(uuid.stage, pb::LeadStage::Lead as i32);
        // A page view's candidate and one fit slot: heads, one age per timed
        // slot, one b per slot.
        let tagged = lead.block.tagged();
        assert_eq!(uuid.slot_head.len(), tagged.len());
        assert_eq!(uuid.slot_b, tagged.iter().map(|s| s.b).collect::<Vec<_>>());
        assert_eq!(
            uuid.slot_age.len(),
            tagged.iter().filter(|s| timed_kind(s.a)).count()
        );
        for ((h, s), age) in uuid.slot_head.iter().zip(tagged).zip(&uuid.slot_age) {
            assert_eq!(*h, s.a & 0xffff);
            assert_eq!(lead.last_event_ms() - age, (s.a >> 16) as i64);
        }
        let two_decayed_5ms = 2.0 * crate::model::decay_factor(5, model.half_life_of_group(0));
        assert_eq!(
            f64::from_bits(uuid.behavior_bits),
            two_decayed_5ms,
            "a page view, as of the last event"
        );
        let b = msg
            .leads
            .iter()
            .find(|l| l.id == Some(pb::lead_record::Id::LeadId("lead-b".into())))
            .unwrap();
        assert_eq!(b.stage, pb::LeadStage::Mql as i32);
    }

    /// A capture is refused while the previous one of the same state is
    /// alive, and possible again once it is encoded.
    #[test]
    fn one_capture_at_a_time() {
        let model = Model::builtin();
        let st = sample_state(&model);
        let c = capture(0, &st, &[], "m", 1).unwrap();
        assert!(capture(0, &st, &[], "m", 2).is_none());
        c.encode();
        let again = capture(0, &st, &[], "m", 3).expect("the walk is done");
        drop(again);
        assert!(
            capture(0, &st, &[], "m", 4).is_some(),
            "a dropped capture finishes its walk"
        );
    }

    #[test]
    fn offset_sum_ignores_markers_and_saturates() {
        let o =
            |v: &[i64]| -> Vec<(String, i64)> { v.iter().map(|x| ("t".to_string(), *x)).collect() };
        assert_eq!(offset_sum(&o(&[1, 2, -2])), 3);
        assert_eq!(offset_sum(&o(&[i64::MAX, i64::MAX, i64::MAX])), u64::MAX);
    }
}
