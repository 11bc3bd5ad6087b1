//! Task state -> snapshot body bytes. Runs on the task thread while the task
//! is paused (that is what makes the image consistent), so it writes the
//! protobuf encoding straight into buffers: no intermediate prost structs,
//! no per-lead allocation, lead slots in memory order.
//!
//! Where the time goes, and what is done about it: each lead's table slot,
//! id and slots sit in random places of memory (cache and TLB misses), and
//! fresh output memory costs a page fault per 4 KiB. So the walk prefetches
//! ahead of the encoder, large states are encoded by several threads at
//! once (each walks the map and takes every n-th block of entries), each
//! into its own list of chunks drawn from a pool of already-mapped chunks
//! that dropped captures give back. The body is the concatenation of all
//! chunks, which is valid protobuf because a repeated field may be split
//! anywhere between elements.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::wire::{self, key, put_bytes, put_varint, put_varint_field, zigzag, Out, LEN};
use crate::codec::proto as pb;
use thin_vec::ThinVec;

use crate::engine::{LeadState, Slot, TaskState};

/// An encoded, consistent image of one task's state plus what it covers,
/// ready for [`crate::snapshot::SnapshotStore::write`] (which may run on
/// another thread: the task keeps working meanwhile). Dropping it hands its
/// buffers to the next capture (see [`release_buffers`]).
#[derive(Debug, Clone)]
pub struct Captured {
    /// Partition (task) of the state.
    pub(crate) partition: i32,
    /// Next offset of each inbound topic.
    pub(crate) offsets: Vec<(String, i64)>,
    /// Model the state was computed with.
    pub(crate) model_version: String,
    /// Wall time of the capture, epoch ms.
    pub(crate) taken_at_ms: i64,
    /// Leads encoded.
    pub(crate) lead_count: usize,
    /// Dedupe-window entries encoded.
    pub(crate) seen_count: usize,
    /// The body, in pieces (see the module docs).
    pub(crate) chunks: Vec<Vec<u8>>,
    /// Time the capture took.
    pub(crate) capture_duration: Duration,
}

impl Captured {
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

    /// Dedupe-window entries in the image.
    pub fn seen_count(&self) -> usize {
        self.seen_count
    }

    /// The encoded body (the protobuf `Snapshot` message, without the file
    /// header) as consecutive pieces.
    pub fn chunks(&self) -> &[Vec<u8>] {
        &self.chunks
    }

    /// Length of the body in bytes.
    pub fn body_len(&self) -> u64 {
        self.chunks.iter().map(|c| c.len() as u64).sum()
    }

    /// The body in one piece (a copy; for tools and tests).
    pub fn to_body(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    /// How long the capture paused the task (the encoding time).
    pub fn capture_duration(&self) -> Duration {
        self.capture_duration
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

/// Entries per block when several threads share the map (each takes every
/// n-th block).
const BLOCK: usize = 2048;

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
        let mut chunks = std::mem::take(&mut self.chunks);
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

/// How many threads to encode `leads` leads with.
fn encode_threads(leads: usize) -> usize {
    if leads < PARALLEL_FROM_LEADS {
        return 1;
    }
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_THREADS)
}

/// Encodes `state` and its metadata into a [`Captured`] image.
pub(crate) fn capture(
    partition: i32,
    state: &TaskState,
    offsets: &[(String, i64)],
    model_version: &str,
    taken_at_ms: i64,
) -> Captured {
    capture_with(
        partition,
        state,
        offsets,
        model_version,
        taken_at_ms,
        encode_threads(state.leads.len()),
    )
}

/// [`capture`] with an explicit thread count.
pub(crate) fn capture_with(
    partition: i32,
    state: &TaskState,
    offsets: &[(String, i64)],
    model_version: &str,
    taken_at_ms: i64,
    threads: usize,
) -> Captured {
    let started = Instant::now();
    let lead_count = state.leads.len();
    let seen_count = state.seen.len();
    let mut head = Vec::with_capacity(256);
    encode_meta(
        &mut head,
        partition,
        state,
        offsets,
        model_version,
        taken_at_ms,
        lead_count,
    );
    let mut first = Chunks::default();
    first.extend(&head);
    let threads = threads.max(1);
    let parts: Vec<(Vec<Vec<u8>>, usize)> = if threads == 1 {
        encode_seen(&mut first, state);
        vec![encode_leads(first, state, 0, 1)]
    } else {
        std::thread::scope(|s| {
            let helpers: Vec<_> = (1..threads)
                .map(|k| s.spawn(move || encode_leads(Chunks::default(), state, k, threads)))
                .collect();
            encode_seen(&mut first, state);
            let mut parts = vec![encode_leads(first, state, 0, threads)];
            parts.extend(
                helpers
                    .into_iter()
                    .map(|h| h.join().expect("snapshot encoder thread panicked")),
            );
            parts
        })
    };
    let encoded: usize = parts.iter().map(|(_, n)| n).sum();
    let chunks = if encoded == lead_count {
        parts.into_iter().flat_map(|(c, _)| c).collect()
    } else {
        // Cannot happen: the task thread (the only writer) is in here, so the
        // map does not change and every walk sees the same entries in the
        // same order. Should it ever, a single walk is right by definition.
        debug_assert_eq!(encoded, lead_count, "parallel walks disagree");
        drop(parts);
        let mut first = Chunks::default();
        first.extend(&head);
        encode_seen(&mut first, state);
        encode_leads(first, state, 0, 1).0
    };
    let body: usize = chunks.iter().map(Vec::len).sum();
    {
        let mut pool = pool();
        pool.largest_body = pool.largest_body.max(body);
    }
    Captured {
        partition,
        offsets: offsets.to_vec(),
        model_version: model_version.to_string(),
        taken_at_ms,
        lead_count,
        seen_count,
        chunks,
        capture_duration: started.elapsed(),
    }
}

/// Writes the small fields that precede the lead records.
fn encode_meta(
    buf: &mut Vec<u8>,
    partition: i32,
    state: &TaskState,
    offsets: &[(String, i64)],
    model_version: &str,
    taken_at_ms: i64,
    lead_count: usize,
) {
    use wire::snapshot as f;
    // int32/int64 are sign-extended two's complement varints in protobuf.
    put_varint_field(buf, f::PARTITION, i64::from(partition) as u64);
    put_bytes(buf, f::MODEL_VERSION, model_version.as_bytes());
    for (topic, next) in offsets {
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
    put_varint_field(buf, f::WATERMARK_MS, state.watermark_ms as u64);
    put_varint_field(buf, f::LAST_SWEEP_MS, state.last_sweep_ms as u64);
    put_varint_field(buf, f::TAKEN_AT_MS, taken_at_ms as u64);
    put_varint_field(buf, f::LEAD_COUNT, lead_count as u64);
}

/// Writes the dedupe window as two packed arrays (ids, then ages relative
/// to the watermark, which keeps the varints short).
fn encode_seen(out: &mut Chunks, state: &TaskState) {
    use wire::snapshot as f;
    if state.seen.is_empty() {
        return;
    }
    let wm = state.watermark_ms;
    let n = state.seen.len();
    let mut head = Vec::with_capacity(12);
    head.push(key(f::SEEN_ID_HASHES, LEN));
    put_varint(&mut head, (n * 8) as u64);
    out.extend(&head);
    let mut ages_len = 0usize;
    let mut piece = Vec::with_capacity(8 << 10);
    for (id, t) in state.seen.iter() {
        piece.extend_from_slice(&id.to_le_bytes());
        ages_len += wire::varint_len(zigzag(wm.wrapping_sub(t)));
        if piece.len() >= 8 << 10 {
            out.extend(&piece);
            piece.clear();
        }
    }
    out.extend(&piece);
    piece.clear();
    piece.push(key(f::SEEN_AGE_MS, LEN));
    put_varint(&mut piece, ages_len as u64);
    // The same map, unchanged, iterates in the same order.
    for (_, t) in state.seen.iter() {
        put_varint(&mut piece, zigzag(wm.wrapping_sub(t)));
        if piece.len() >= 8 << 10 {
            out.extend(&piece);
            piece.clear();
        }
    }
    out.extend(&piece);
}

/// Prefetch distance, in map entries, of each of the two prefetch stages.
const PREFETCH_AHEAD: usize = 16;

/// Appends the leads of every `of`-th block of [`BLOCK`] map entries,
/// starting with block `k`, to `out`; returns its chunks and how many
/// leads they hold.
///
/// Memory access, not encoding, is the cost here: the map iterates in hash
/// order, so an entry's slot in the table, then its id and its slots on the
/// heap, are cache misses one after the other. The walk therefore runs two
/// stages ahead of the encoder: 2 x [`PREFETCH_AHEAD`] entries ahead it
/// prefetches the table slot, [`PREFETCH_AHEAD`] ahead (by when that slot
/// has arrived) it reads the heap addresses from it and prefetches those.
/// Many misses are then in flight at once instead of one.
fn encode_leads(mut out: Chunks, state: &TaskState, k: usize, of: usize) -> (Vec<Vec<u8>>, usize) {
    let mut n = 0usize;
    let mut window = VecDeque::with_capacity(2 * PREFETCH_AHEAD + 1);
    for (i, entry) in state.leads.iter().enumerate() {
        if (i / BLOCK) % of != k {
            continue;
        }
        // Stage 1: the table slot (taking the addresses reads nothing).
        let (key, value) = entry.pair();
        prefetch((key as *const Box<str>).cast());
        prefetch((value as *const LeadState).cast());
        window.push_back(entry);
        // Stage 2: the heap data of the entry PREFETCH_AHEAD behind.
        if window.len() > PREFETCH_AHEAD {
            let mid = &window[window.len() - 1 - PREFETCH_AHEAD];
            prefetch(mid.key().as_ptr());
            let slots = thin_vec_heap(&mid.value().slots);
            prefetch(slots);
            prefetch(slots.wrapping_add(64));
            prefetch(slots.wrapping_add(128));
        }
        if window.len() > 2 * PREFETCH_AHEAD {
            let e = window.pop_front().expect("non-empty window");
            encode_lead(&mut out, e.key(), e.value());
            n += 1;
        }
    }
    for e in window {
        encode_lead(&mut out, e.key(), e.value());
        n += 1;
    }
    (out.finish(), n)
}

/// Address of a `ThinVec`'s heap block (its header, followed by the
/// elements), read without dereferencing it, for [`prefetch`].
#[inline(always)]
fn thin_vec_heap(v: &ThinVec<Slot>) -> *const u8 {
    // A ThinVec is exactly one pointer to its heap block (that is its point);
    // if a future version changed that, the build fails here.
    const _: () = assert!(std::mem::size_of::<ThinVec<Slot>>() == std::mem::size_of::<usize>());
    // SAFETY: ThinVec<Slot> is pointer-sized (asserted above) and consists of
    // its non-null heap pointer, so its bytes are an initialized address.
    // The address is only used as a prefetch hint, which never dereferences
    // memory architecturally and cannot fault.
    unsafe { std::mem::transmute_copy::<ThinVec<Slot>, *const u8>(v) }
}

/// Asks the CPU to start loading the cache line at `p`; a hint only, never
/// faults, no effect on other architectures.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch has no architectural effect and cannot fault, whatever
    // the address (the intrinsic is only `unsafe` on older compilers).
    #[allow(unused_unsafe)]
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The column values of one slot: kind, id, time, and the `slot_bits` and
/// `slot_count` entries it has (if any).
#[inline(always)]
fn slot_parts(s: &Slot) -> (pb::SlotKind, u16, i64, Option<u64>, Option<u32>) {
    match *s {
        Slot::Rule {
            rule,
            count,
            value,
            as_of_ms,
        } => (
            pb::SlotKind::Rule,
            rule,
            as_of_ms,
            Some(value.to_bits()),
            Some(count),
        ),
        Slot::Once { rule, key, at_ms } => (pb::SlotKind::Once, rule, at_ms, Some(key), None),
        Slot::CapHit { rule, at_ms } => (pb::SlotKind::CapHit, rule, at_ms, None, None),
        Slot::Signal { signal, at_ms } => (pb::SlotKind::Signal, signal, at_ms, None, None),
        Slot::Fit {
            rule,
            points,
            as_of_ms,
        } => (
            pb::SlotKind::Fit,
            rule,
            as_of_ms,
            Some(points.to_bits()),
            None,
        ),
    }
}

/// `slot_kind_id` of a slot.
#[inline(always)]
fn kind_id(kind: pb::SlotKind, id: u16) -> u64 {
    (u64::from(id) << 3) | kind as u64
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

/// `floor(last_event_ms / 60000) - rate_minute`: 0 for a lead whose last
/// event was in the rate-limit minute, so usually not written at all.
#[inline(always)]
fn rate_minute_lag(lead: &LeadState) -> i64 {
    lead.last_event_ms
        .div_euclid(60_000)
        .wrapping_sub(i64::from(lead.rate_minute))
}

/// Appends one `LeadRecord` (key, length, body) for lead `id`: sizes it,
/// takes room for it, then writes through a slice cursor.
#[inline]
fn encode_lead(out: &mut Chunks, id: &str, lead: &LeadState) {
    use wire::lead as f;
    let last = lead.last_event_ms;
    let (mut kinds_len, mut ages_len, mut bits_n, mut counts_len) = (0, 0, 0, 0);
    for s in &lead.slots {
        let (kind, sid, t, bits, count) = slot_parts(s);
        kinds_len += wire::varint_len(kind_id(kind, sid));
        ages_len += wire::varint_len(zigzag(last.wrapping_sub(t)));
        bits_n += usize::from(bits.is_some());
        if let Some(c) = count {
            counts_len += wire::varint_len(u64::from(c));
        }
    }
    let uuid = wire::uuid_bytes(id);
    let id_len = match uuid {
        Some(_) => 18,
        None => 1 + wire::varint_len(id.len() as u64) + id.len(),
    };
    let lag = zigzag(rate_minute_lag(lead));
    let len = id_len
        + wire::varint_field_len(lead.stage as u64)
        + wire::varint_field_len(u64::from(lead.rate_count))
        + wire::varint_field_len(lag)
        + wire::varint_field_len(lead.hold_until_ms as u64)
        + wire::varint_field_len(last as u64)
        + packed_len(kinds_len)
        + packed_len(ages_len)
        + packed_len(bits_n * 8)
        + packed_len(counts_len);
    let total = 1 + wire::varint_len(len as u64) + len;
    let buf = out.room(total);
    let start = buf.len();
    buf.resize(start + total, 0);
    let mut o = Out::new(&mut buf[start..]);
    o.byte(key(wire::snapshot::LEADS, LEN));
    o.varint(len as u64);
    match &uuid {
        Some(b) => {
            o.byte(key(f::LEAD_UUID, LEN));
            o.byte(16);
            o.bytes(b);
        }
        None => {
            o.byte(key(f::LEAD_ID, LEN));
            o.varint(id.len() as u64);
            o.bytes(id.as_bytes());
        }
    }
    o.varint_field(f::STAGE, lead.stage as u64);
    o.varint_field(f::RATE_COUNT, u64::from(lead.rate_count));
    o.varint_field(f::RATE_MINUTE_LAG, lag);
    o.varint_field(f::HOLD_UNTIL_MS, lead.hold_until_ms as u64);
    o.varint_field(f::LAST_EVENT_MS, last as u64);
    if !lead.slots.is_empty() {
        o.byte(key(f::SLOT_KIND_ID, LEN));
        o.varint(kinds_len as u64);
        for s in &lead.slots {
            let (kind, sid, ..) = slot_parts(s);
            o.varint(kind_id(kind, sid));
        }
        o.byte(key(f::SLOT_AGE_MS, LEN));
        o.varint(ages_len as u64);
        for s in &lead.slots {
            let (_, _, t, ..) = slot_parts(s);
            o.varint(zigzag(last.wrapping_sub(t)));
        }
    }
    if bits_n > 0 {
        o.byte(key(f::SLOT_BITS, LEN));
        o.varint((bits_n * 8) as u64);
        for s in &lead.slots {
            if let (.., Some(bits), _) = slot_parts(s) {
                o.bytes(&bits.to_le_bytes());
            }
        }
    }
    if counts_len > 0 {
        o.byte(key(f::SLOT_COUNT, LEN));
        o.varint(counts_len as u64);
        for s in &lead.slots {
            if let (.., Some(count)) = slot_parts(s) {
                o.varint(u64::from(count));
            }
        }
    }
    debug_assert_eq!(o.pos(), total, "lead record length prediction");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{LeadMap, SeenEvents, Stage};
    use prost::Message;
    use thin_vec::thin_vec;

    fn sample_state() -> TaskState {
        let mut st = TaskState {
            watermark_ms: 1_700_000_000_000,
            last_sweep_ms: 1_699_999_200_000,
            ..TaskState::default()
        };
        st.leads = std::sync::Arc::new(LeadMap::default());
        st.leads.insert(
            "lead-a".into(),
            LeadState {
                stage: Stage::Mql,
                rate_count: 3,
                rate_minute: 28_333_333,
                hold_until_ms: 1_700_000_100_000,
                last_event_ms: 1_699_999_990_000,
                slots: thin_vec![
                    Slot::Once {
                        rule: 2,
                        key: u64::MAX,
                        at_ms: 1_699_999_990_000
                    },
                    Slot::Rule {
                        rule: 2,
                        count: 7,
                        value: -0.0,
                        as_of_ms: 1_699_999_000_000
                    },
                    Slot::Signal {
                        signal: 0,
                        at_ms: 1_700_000_500_000
                    },
                    Slot::CapHit {
                        rule: 1,
                        at_ms: i64::MIN
                    },
                    Slot::Fit {
                        rule: 65535,
                        points: 12.5,
                        as_of_ms: 0
                    },
                ],
            },
        );
        st.leads.insert("lead-b".into(), LeadState::default());
        st.leads.insert(
            "0a1b2c3d-4e5f-6789-abcd-ef0123456789".into(),
            LeadState::default(),
        );
        st.promoted.insert("lead-a".into());
        st.seen = SeenEvents::from_entries(vec![(1, 1_699_999_990_000), (u64::MAX, i64::MIN)]);
        st
    }

    /// The hand-written encoder produces what prost's generated decoder
    /// reads as the schema says (so the body is plain protobuf).
    #[test]
    fn body_decodes_with_prost_as_the_schema_says() {
        let st = sample_state();
        let offsets = vec![("page_views".to_string(), 42), ("forms".to_string(), -1)];
        let c = capture(7, &st, &offsets, "default-1234abcd", 1_700_000_999_000);
        let msg = pb::Snapshot::decode(&c.to_body()[..]).expect("valid protobuf");
        assert_eq!(msg.partition, 7);
        assert_eq!(msg.model_version, "default-1234abcd");
        assert_eq!(msg.offsets.len(), 2);
        assert_eq!(msg.offsets[0].topic, "page_views");
        assert_eq!(msg.offsets[0].next_offset, 42);
        assert_eq!(msg.offsets[1].next_offset, -1);
        assert_eq!(msg.watermark_ms, st.watermark_ms);
        assert_eq!(msg.last_sweep_ms, st.last_sweep_ms);
        assert_eq!(msg.taken_at_ms, 1_700_000_999_000);
        assert_eq!(msg.lead_count, 3);
        assert_eq!(msg.seen_id_hashes.len(), 2);
        assert_eq!(msg.seen_age_ms.len(), 2);
        for (id, age) in msg.seen_id_hashes.iter().zip(&msg.seen_age_ms) {
            let t = msg.watermark_ms.wrapping_sub(*age);
            assert!(st.seen.iter().any(|e| e == (*id, t)));
        }
        assert_eq!(msg.leads.len(), 3);
        let lead = |id: &str| {
            msg.leads
                .iter()
                .find(|l| l.id == Some(pb::lead_record::Id::LeadId(id.to_string())))
                .unwrap()
        };
        let a = lead("lead-a");
        assert_eq!(a.stage, pb::LeadStage::Mql as i32);
        assert_eq!(a.rate_count, 3);
        assert_eq!(
            a.last_event_ms.div_euclid(60_000) - a.rate_minute_lag,
            28_333_333
        );
        assert_eq!(a.hold_until_ms, 1_700_000_100_000);
        assert_eq!(a.last_event_ms, 1_699_999_990_000);
        let kinds: Vec<u32> = a.slot_kind_id.iter().map(|k| k & 7).collect();
        assert_eq!(
            kinds,
            [
                pb::SlotKind::Once as u32,
                pb::SlotKind::Rule as u32,
                pb::SlotKind::Signal as u32,
                pb::SlotKind::CapHit as u32,
                pb::SlotKind::Fit as u32
            ]
        );
        let ids: Vec<u32> = a.slot_kind_id.iter().map(|k| k >> 3).collect();
        assert_eq!(ids, [2, 2, 0, 1, 65535]);
        assert_eq!(a.slot_age_ms[0], 0);
        assert_eq!(a.slot_age_ms[1], 990_000);
        assert_eq!(a.slot_age_ms[2], -510_000);
        assert_eq!(
            a.last_event_ms.wrapping_sub(a.slot_age_ms[3]),
            i64::MIN,
            "wrapping ages still restore extreme times"
        );
        // Once key, Rule value (-0.0 kept), Fit points.
        assert_eq!(
            a.slot_bits,
            [u64::MAX, (-0.0f64).to_bits(), 12.5f64.to_bits()]
        );
        assert_eq!(a.slot_count, [7]);
        assert_eq!(
            lead("lead-b"),
            &pb::LeadRecord {
                id: Some(pb::lead_record::Id::LeadId("lead-b".into())),
                ..Default::default()
            }
        );
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
    }

    #[test]
    fn offset_sum_ignores_markers_and_saturates() {
        let o =
            |v: &[i64]| -> Vec<(String, i64)> { v.iter().map(|x| ("t".to_string(), *x)).collect() };
        assert_eq!(offset_sum(&o(&[1, 2, -2])), 3);
        assert_eq!(offset_sum(&o(&[i64::MAX, i64::MAX, i64::MAX])), u64::MAX);
    }
}
