//! Snapshot body -> task state. Restore time is time a partition is not
//! being processed after an assignment, so the body is streamed from the
//! file through a reused window ([`BodySource`], which also computes the
//! checksum on the way), lead records are batched to several decoder
//! threads that insert straight into a pre-sized lead map, and the dedupe
//! window is rebuilt on its own thread meanwhile. Any valid protobuf
//! encoding of `Snapshot` is accepted (fields in any order, unknown fields
//! skipped); malformed input is an error, never a panic.
//!
//! The state is decoded before the checksum verdict is known (that is what
//! makes a single pass possible); the caller discards it if the checksum
//! does not match.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Mutex, PoisonError};

use super::encode::timed_kind;
use super::source::{BodySource, SourceError};
use super::wire::{self, unzigzag, Reader, WireError, FIXED32, FIXED64, LEN, VARINT};
use crate::engine::{
    LeadBlock, LeadId, LeadKey, LeadState, LeadTable, RecycleSchedule, SeenEvents, Slot, Stage,
    TaskState, SEEN_CHUNK,
};

/// Everything a snapshot body holds, decoded.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub partition: i32,
    pub model_version: String,
    pub offsets: Vec<(String, i64)>,
    pub taken_at_ms: i64,
    pub changelog_next: i64,
    pub state: TaskState,
}

/// Counts and metadata of a body, for `snapshot inspect`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    pub partition: i32,
    pub model_version: String,
    pub offsets: Vec<(String, i64)>,
    pub watermark_ms: i64,
    pub last_sweep_ms: i64,
    pub taken_at_ms: i64,
    pub leads: u64,
    pub by_stage: [u64; 3],
    pub slots: u64,
    pub seen: u64,
}

/// The top-level fields other than the lead records.
#[derive(Debug, Default)]
struct Meta {
    partition: i32,
    model_version: String,
    offsets: Vec<(String, i64)>,
    watermark_ms: i64,
    /// How many times `watermark_ms` was read (a later occurrence wins).
    watermark_reads: u32,
    last_sweep_ms: i64,
    taken_at_ms: i64,
    lead_count_hint: Option<u64>,
    seen_cutoff_ms: i64,
    /// How many times `seen_cutoff_ms` was read.
    cutoff_reads: u32,
    changelog_next: i64,
    /// The packed content of `seen_id_hashes` (8 bytes per id), as read.
    seen_ids: Vec<u8>,
    /// The packed content of `seen_time_deltas` (varints), as read.
    seen_deltas: Vec<u8>,
}

/// Lead records are handed to decoder threads in batches of about this size.
const BATCH: usize = 1 << 20;

/// Packed arrays are read in pieces of this size.
const PIECE: usize = 1 << 20;

/// Below this many (expected) leads one thread decodes.
const PARALLEL_FROM_LEADS: u64 = 100_000;

/// Decodes a whole in-memory body (tests and tools).
#[cfg(test)]
pub(crate) fn decode_body(body: &[u8], threads: usize) -> Result<Decoded, SourceError> {
    decode_from(body, body.len() as u64, threads).0
}

/// Decodes a body of `body_len` bytes read from `src` with up to `threads`
/// decoder threads. Returns the result and the CRC-32 of the body (`None`
/// only if reading failed), computed over every byte even when decoding
/// fails, so the caller can tell damage from a decoder complaint.
pub(crate) fn decode_from<R: Read>(
    src: R,
    body_len: u64,
    threads: usize,
) -> (Result<Decoded, SourceError>, Option<u32>) {
    decode_from_with(src, body_len, threads, PARALLEL_FROM_LEADS)
}

/// [`decode_from`] with an explicit threshold for using several threads.
fn decode_from_with<R: Read>(
    src: R,
    body_len: u64,
    threads: usize,
    parallel_from: u64,
) -> (Result<Decoded, SourceError>, Option<u32>) {
    let mut src = BodySource::new(src, body_len);
    let result = decode_stream(&mut src, body_len, threads, parallel_from);
    let crc = match &result {
        Err(SourceError::Io(_)) => None,
        _ => src.finish().ok(),
    };
    (result, crc)
}

/// The decoding proper: the fields before the first lead record, then the
/// lead records (batched to decoder threads) and whatever follows them.
fn decode_stream<R: Read>(
    src: &mut BodySource<R>,
    body_len: u64,
    threads: usize,
    parallel_from: u64,
) -> Result<Decoded, SourceError> {
    let mut meta = Meta::default();
    let mut first: Option<(Vec<u8>, u64)> = None;
    while first.is_none() {
        let more = next_field(src, &mut meta, &mut |raw, at| {
            first = Some((raw.to_vec(), at));
            Ok(())
        })?;
        if !more {
            break;
        }
    }
    // Size the map from the writer's count, distrusting absurd values (the
    // checksum is only known at the end): no record of a 36-char id is
    // shorter than 32 bytes.
    let expected = meta
        .lead_count_hint
        .map_or(body_len / 160, |h| h.min(body_len / 32));
    let threads = if expected < parallel_from {
        1
    } else {
        threads.max(1)
    };
    let map = LeadTable::with_capacity(expected as usize);

    // The dedupe window seen so far is rebuilt on its own thread while the
    // leads decode (it is redone at the end if more of it follows them).
    let early_wm = meta.watermark_ms;
    let early_wm_reads = meta.watermark_reads;
    let early_cutoff = if meta.cutoff_reads == 0 {
        i64::MIN
    } else {
        meta.seen_cutoff_ms
    };
    let early_cutoff_reads = meta.cutoff_reads;
    let early_ids = std::mem::take(&mut meta.seen_ids);
    let early_deltas = std::mem::take(&mut meta.seen_deltas);

    let failed = AtomicBool::new(false);
    let (tx, rx) = sync_channel::<(Vec<u8>, u64)>(threads * 2);
    let rx = Mutex::new(rx);
    let (back_tx, back_rx) = channel::<Vec<u8>>();
    let (read, leads, early_seen) = std::thread::scope(|s| {
        let seen_job = (!early_ids.is_empty() || !early_deltas.is_empty())
            .then(|| s.spawn(|| seen_window(&early_ids, &early_deltas, early_wm, early_cutoff)));
        let workers: Vec<_> = if threads > 1 {
            (0..threads)
                .map(|_| {
                    let (rx, map, failed, back) = (&rx, &map, &failed, back_tx.clone());
                    s.spawn(move || worker(rx, map, failed, back))
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut d = Dispatch {
            tx: (threads > 1).then_some(tx),
            back: back_rx,
            batch: Vec::new(),
            batch_at: 0,
            map: &map,
            failed: &failed,
            inline: Decoders::default(),
        };
        let read = (|| -> Result<(), SourceError> {
            if let Some((raw, at)) = &first {
                d.push(raw, *at);
            }
            while !failed.load(Ordering::Relaxed) {
                // Runs of whole lead records in the window go to the
                // batches in one copy; anything else field by field.
                if lead_run(src, &mut d)? {
                    continue;
                }
                let more = next_field(src, &mut meta, &mut |raw, at| {
                    d.push(raw, at);
                    Ok(())
                })?;
                if !more {
                    break;
                }
            }
            Ok(())
        })();
        let mut leads = d.finish();
        for w in workers {
            let r = w.join().unwrap_or_else(|_| Decoders {
                error: Some(WireError {
                    at: 0,
                    what: "a decoder thread panicked".into(),
                }),
                ..Decoders::default()
            });
            leads.merge(r);
        }
        let early_seen = seen_job.map(|h| {
            h.join().unwrap_or_else(|_| {
                Err(WireError {
                    at: 0,
                    what: "the dedupe-window thread panicked".into(),
                })
            })
        });
        (read, leads, early_seen)
    });
    read?;
    if let Some(e) = leads.error {
        return Err(e.into());
    }
    if let Some(hint) = meta.lead_count_hint {
        if hint != leads.count {
            return Err(WireError {
                at: body_len as usize,
                what: format!(
                    "lead_count says {hint} leads but the body holds {} lead records",
                    leads.count
                ),
            }
            .into());
        }
    }
    let cutoff = if meta.cutoff_reads == 0 {
        i64::MIN
    } else {
        meta.seen_cutoff_ms
    };
    let seen = if meta.seen_ids.is_empty()
        && meta.seen_deltas.is_empty()
        && meta.watermark_reads == early_wm_reads
        && meta.cutoff_reads == early_cutoff_reads
    {
        match early_seen {
            Some(r) => r?,
            None => SeenEvents::default(),
        }
    } else {
        // Odd field order: rebuild from all entries with the final watermark.
        let mut ids = early_ids;
        ids.extend_from_slice(&meta.seen_ids);
        let mut deltas = early_deltas;
        deltas.extend_from_slice(&meta.seen_deltas);
        seen_window(&ids, &deltas, meta.watermark_ms, cutoff)?
    };
    let schedule = RecycleSchedule::from_entries(leads.promoted);
    Ok(Decoded {
        partition: meta.partition,
        model_version: meta.model_version,
        offsets: meta.offsets,
        taken_at_ms: meta.taken_at_ms,
        changelog_next: meta.changelog_next,
        state: TaskState::restored(
            map,
            leads.count as usize,
            schedule,
            seen,
            meta.watermark_ms,
            meta.last_sweep_ms,
        ),
    })
}

/// Lead decoding results of one thread (or of the inline decoder).
#[derive(Debug, Default)]
struct Decoders {
    /// `(next decay check, lead)` of each promoted lead.
    promoted: Vec<(i64, LeadKey)>,
    count: u64,
    scratch: Columns,
    error: Option<WireError>,
}

impl Decoders {
    /// Decodes one batch of lead fields (key, length, record, repeated)
    /// starting at body offset `at` into `map`.
    fn decode(&mut self, batch: &[u8], at: u64, map: &LeadTable) -> Result<(), WireError> {
        let mut r = Reader::new(batch, at as usize);
        while !r.is_empty() {
            // Only `leads` fields are batched.
            r.key()?;
            let (record, base) = r.len_delimited()?;
            let (id, lead) = decode_lead(record, base, &mut self.scratch)?;
            if lead.stage() != Stage::Lead {
                let Some(due) = lead.recycle_due() else {
                    return Err(WireError {
                        at: base,
                        what: "a promoted lead has no decay check scheduled".to_string(),
                    });
                };
                self.promoted.push((due, id.to_key()));
            }
            let hash = id.hash64();
            let mut shard = map.write_shard(crate::engine::shard_of(hash));
            if !LeadTable::insert_if_absent(&mut shard, &id, hash, lead) {
                return Err(WireError {
                    at: base,
                    what: "a lead id appears in two lead records".to_string(),
                });
            }
            self.count += 1;
        }
        Ok(())
    }

    fn merge(&mut self, other: Decoders) {
        self.promoted.extend(other.promoted);
        self.count += other.count;
        if self.error.is_none() {
            self.error = other.error;
        }
    }
}

/// A decoder thread: decodes batches until the channel closes.
/// (Not inlined, so profilers can name the decoder threads' work.) After a
/// failure it keeps receiving (and dropping) batches, so the reader never
/// blocks on a full channel.
#[inline(never)]
fn worker(
    rx: &Mutex<Receiver<(Vec<u8>, u64)>>,
    map: &LeadTable,
    failed: &AtomicBool,
    back: Sender<Vec<u8>>,
) -> Decoders {
    let mut d = Decoders::default();
    loop {
        let msg = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((mut batch, at)) = msg else {
            return d;
        };
        if d.error.is_none() {
            if let Err(e) = d.decode(&batch, at, map) {
                failed.store(true, Ordering::Relaxed);
                d.error = Some(e);
            }
        }
        batch.clear();
        let _ = back.send(batch);
    }
}

/// Collects lead fields into batches and hands them to the decoder threads
/// (or decodes them inline with one thread), reusing returned batch buffers.
struct Dispatch<'a> {
    tx: Option<SyncSender<(Vec<u8>, u64)>>,
    back: Receiver<Vec<u8>>,
    batch: Vec<u8>,
    batch_at: u64,
    map: &'a LeadTable,
    failed: &'a AtomicBool,
    inline: Decoders,
}

impl Dispatch<'_> {
    /// Adds one raw lead field found at body offset `at`.
    fn push(&mut self, raw: &[u8], at: u64) {
        if self.batch.is_empty() {
            self.batch_at = at;
        }
        self.batch.extend_from_slice(raw);
        if self.batch.len() >= BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let next = self
            .back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH + (64 << 10)));
        let batch = std::mem::replace(&mut self.batch, next);
        match &self.tx {
            Some(tx) => {
                // Fails only if every worker is gone, which happens only
                // after the channel closes.
                let _ = tx.send((batch, self.batch_at));
            }
            None => {
                if self.inline.error.is_none() {
                    if let Err(e) = self.inline.decode(&batch, self.batch_at, self.map) {
                        self.failed.store(true, Ordering::Relaxed);
                        self.inline.error = Some(e);
                    }
                }
            }
        }
    }

    /// Flushes the last batch and closes the channel; returns the inline results.
    fn finish(mut self) -> Decoders {
        self.flush();
        self.tx.take();
        std::mem::take(&mut self.inline)
    }
}

/// Window bytes [`lead_run`] makes available before it looks for a run.
const RUN_WINDOW: usize = 1 << 20;

/// Hands the longest run of whole `leads` fields at the start of the
/// window to the batches, as one piece. Returns false (consuming nothing)
/// when the next field is not a whole lead record in the window; the field
/// by field reader then deals with it.
fn lead_run<R: Read>(src: &mut BodySource<R>, d: &mut Dispatch<'_>) -> Result<bool, SourceError> {
    const LEAD_KEY: u8 = wire::key(wire::snapshot::LEADS, LEN);
    src.fill(src.remaining().min(RUN_WINDOW as u64) as usize)?;
    let bytes = src.available();
    let mut end = 0usize;
    while end < bytes.len() && bytes[end] == LEAD_KEY {
        let mut rest = &bytes[end + 1..];
        let before = rest.len();
        let Ok(len) = prost::encoding::decode_varint(&mut rest) else {
            break;
        };
        let head = 1 + before - rest.len();
        if len > (bytes.len() - end - head) as u64 {
            break;
        }
        end += head + len as usize;
    }
    if end == 0 {
        return Ok(false);
    }
    d.push(&bytes[..end], src.pos());
    src.consume(end);
    Ok(true)
}

/// Receives each raw lead field (key, length, record) and its body offset.
type LeadSink<'a> = dyn FnMut(&[u8], u64) -> Result<(), SourceError> + 'a;

/// Reads one top-level field: lead fields go to `lead` as raw bytes (key,
/// length, record) with their body offset, everything else into `meta`.
/// Returns false at the end of the body.
fn next_field<R: Read>(
    src: &mut BodySource<R>,
    meta: &mut Meta,
    lead: &mut LeadSink<'_>,
) -> Result<bool, SourceError> {
    use wire::snapshot as f;
    if src.at_end() {
        return Ok(false);
    }
    // A key and a length (or a fixed64) fit in 20 bytes.
    src.fill(src.remaining().min(20) as usize)?;
    let at = src.pos();
    let mut r = Reader::new(src.available(), at as usize);
    let (field, wt) = r.key()?;
    match field {
        f::LEADS | f::MODEL_VERSION | f::OFFSETS => r.expect(field, wt, LEN)?,
        f::PARTITION
        | f::WATERMARK_MS
        | f::LAST_SWEEP_MS
        | f::TAKEN_AT_MS
        | f::LEAD_COUNT
        | f::SEEN_CUTOFF_MS
        | f::CHANGELOG_NEXT_OFFSET => r.expect(field, wt, VARINT)?,
        f::SEEN_ID_HASHES if wt != LEN => r.expect(field, wt, FIXED64)?,
        f::SEEN_TIME_DELTAS if wt != LEN => r.expect(field, wt, VARINT)?,
        _ => {}
    }
    match wt {
        VARINT => {
            let v = r.varint()?;
            let used = r.consumed();
            match field {
                f::PARTITION => {
                    meta.partition = i32::try_from(v as i64)
                        .map_err(|_| r.error(format!("partition {} is out of range", v as i64)))?;
                }
                f::WATERMARK_MS => {
                    meta.watermark_ms = v as i64;
                    meta.watermark_reads += 1;
                }
                f::LAST_SWEEP_MS => meta.last_sweep_ms = v as i64,
                f::TAKEN_AT_MS => meta.taken_at_ms = v as i64,
                f::CHANGELOG_NEXT_OFFSET => meta.changelog_next = v as i64,
                f::LEAD_COUNT => meta.lead_count_hint = Some(v),
                f::SEEN_CUTOFF_MS => {
                    meta.seen_cutoff_ms = v as i64;
                    meta.cutoff_reads += 1;
                }
                f::SEEN_TIME_DELTAS => wire::put_varint(&mut meta.seen_deltas, v),
                _ => {}
            }
            src.consume(used);
        }
        FIXED64 => {
            let v = r.fixed64()?;
            let used = r.consumed();
            if field == f::SEEN_ID_HASHES {
                meta.seen_ids.extend_from_slice(&v.to_le_bytes());
            }
            src.consume(used);
        }
        FIXED32 => {
            let used = r.consumed() + 4;
            src.fill(used)?;
            src.consume(used);
        }
        LEN => {
            let len = r.varint()?;
            let head = r.consumed();
            if len > src.remaining() - head as u64 {
                return Err(r
                    .error(format!(
                        "field {field} of {len} bytes runs past the end of the body"
                    ))
                    .into());
            }
            let len = len as usize;
            match field {
                f::SEEN_ID_HASHES => {
                    src.consume(head);
                    if len % 8 != 0 {
                        return Err(WireError {
                            at: src.pos() as usize,
                            what: format!(
                                "a packed fixed64 array of {len} bytes is not a multiple of 8"
                            ),
                        }
                        .into());
                    }
                    raw_bytes(src, len, &mut meta.seen_ids)?;
                }
                f::SEEN_TIME_DELTAS => {
                    src.consume(head);
                    raw_bytes(src, len, &mut meta.seen_deltas)?;
                }
                _ => {
                    let total = head + len;
                    src.fill(total)?;
                    let raw = &src.available()[..total];
                    let content = &raw[head..];
                    let base = at as usize + head;
                    match field {
                        f::LEADS => lead(raw, at)?,
                        f::MODEL_VERSION => {
                            meta.model_version = std::str::from_utf8(content)
                                .map_err(|e| WireError {
                                    at: base + e.valid_up_to(),
                                    what: "model_version is not valid UTF-8".into(),
                                })?
                                .to_string();
                        }
                        f::OFFSETS => meta.offsets.push(topic_offset(content, base)?),
                        _ => {}
                    }
                    src.consume(total);
                }
            }
        }
        other => return Err(r.error(format!("unsupported wire type {other}")).into()),
    }
    Ok(true)
}

/// Copies `len` bytes of the body into `out`, in pieces (the dedupe
/// window's packed arrays: parsed on their own thread).
fn raw_bytes<R: Read>(
    src: &mut BodySource<R>,
    len: usize,
    out: &mut Vec<u8>,
) -> Result<(), SourceError> {
    out.reserve(len);
    let mut left = len;
    while left > 0 {
        let n = left.min(PIECE);
        src.fill(n)?;
        out.extend_from_slice(&src.available()[..n]);
        src.consume(n);
        left -= n;
    }
    Ok(())
}

/// Decodes the metadata and counts leads per stage without building state.
pub(crate) fn summarize(body: &[u8]) -> Result<Summary, SourceError> {
    let mut src = BodySource::new(body, body.len() as u64);
    let mut meta = Meta::default();
    let mut s = Summary::default();
    let mut scratch = Columns::default();
    let mut count = |raw: &[u8], at: u64| -> Result<(), SourceError> {
        let mut r = Reader::new(raw, at as usize);
        r.key()?;
        let (record, base) = r.len_delimited()?;
        let (_, lead) = decode_lead(record, base, &mut scratch)?;
        s.leads += 1;
        s.by_stage[lead.stage() as usize] += 1;
        s.slots += lead.tagged().len() as u64;
        Ok(())
    };
    while next_field(&mut src, &mut meta, &mut count)? {}
    let seen = seen_entries(&meta.seen_ids, &meta.seen_deltas, meta.watermark_ms)?;
    s.partition = meta.partition;
    s.model_version = meta.model_version;
    s.offsets = meta.offsets;
    s.watermark_ms = meta.watermark_ms;
    s.last_sweep_ms = meta.last_sweep_ms;
    s.taken_at_ms = meta.taken_at_ms;
    s.seen = seen.iter().map(Vec::len).sum::<usize>() as u64;
    Ok(s)
}

fn seen_mismatch(ids: usize, deltas: usize) -> WireError {
    WireError {
        at: 0,
        what: format!("{ids} seen_id_hashes but {deltas} seen_time_deltas"),
    }
}

/// The dedupe entries `(id hash, time)` of the two packed arrays, in
/// arrival order, cut into queue chunks: times are deltas from the
/// previous entry's (the first from the watermark).
fn seen_entries(
    ids: &[u8],
    deltas: &[u8],
    watermark_ms: i64,
) -> Result<Vec<Vec<(u64, i64)>>, WireError> {
    let n = ids.len() / 8;
    let mut chunks: Vec<Vec<(u64, i64)>> = Vec::with_capacity(n.div_ceil(SEEN_CHUNK));
    let mut r = Reader::new(deltas, 0);
    let mut t = watermark_ms;
    for (k, id) in ids.chunks_exact(8).enumerate() {
        if r.is_empty() {
            return Err(seen_mismatch(n, k));
        }
        t = t.wrapping_add(unzigzag(r.varint()?));
        if k % SEEN_CHUNK == 0 {
            chunks.push(Vec::with_capacity(SEEN_CHUNK.min(n - k)));
        }
        let chunk = chunks.last_mut().expect("a chunk");
        chunk.push((u64::from_le_bytes(id.try_into().expect("8 bytes")), t));
    }
    if !r.is_empty() {
        let mut extra = 0;
        while !r.is_empty() {
            r.varint()?;
            extra += 1;
        }
        return Err(seen_mismatch(n, n + extra));
    }
    Ok(chunks)
}

/// Rebuilds the dedupe window from the two packed arrays and its cutoff.
fn seen_window(
    ids: &[u8],
    deltas: &[u8],
    watermark_ms: i64,
    cutoff_ms: i64,
) -> Result<SeenEvents, WireError> {
    let chunks = seen_entries(ids, deltas, watermark_ms)?;
    if let Some(&(_, t)) = chunks.iter().flatten().find(|(_, t)| *t < cutoff_ms) {
        return Err(WireError {
            at: 0,
            what: format!("a dedupe entry at {t} lies before the window's cutoff {cutoff_ms}"),
        });
    }
    let n: usize = chunks.iter().map(Vec::len).sum();
    let seen = SeenEvents::from_chunks(chunks, cutoff_ms);
    if seen.len() != n {
        return Err(WireError {
            at: 0,
            what: format!(
                "the dedupe window lists {} event ids more than once",
                n - seen.len()
            ),
        });
    }
    Ok(seen)
}

/// Reads a length-delimited UTF-8 string.
fn utf8<'a>(r: &mut Reader<'a>, what: &str) -> Result<&'a str, WireError> {
    let (bytes, base) = r.len_delimited()?;
    std::str::from_utf8(bytes).map_err(|e| WireError {
        at: base + e.valid_up_to(),
        what: format!("{what} is not valid UTF-8"),
    })
}

/// Decodes one `TopicOffset`.
fn topic_offset(bytes: &[u8], base: usize) -> Result<(String, i64), WireError> {
    use wire::topic_offset as f;
    let mut r = Reader::new(bytes, base);
    let (mut topic, mut next) = (String::new(), 0i64);
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            f::TOPIC => {
                r.expect(field, wt, LEN)?;
                topic = utf8(&mut r, "topic")?.to_string();
            }
            f::NEXT_OFFSET => {
                r.expect(field, wt, VARINT)?;
                next = r.varint()? as i64;
            }
            _ => r.skip(field, wt)?,
        }
    }
    Ok((topic, next))
}

/// The slot columns of one record as read (reused between records).
#[derive(Debug, Default)]
struct Columns {
    heads: Vec<u64>,
    ages: Vec<i64>,
    bs: Vec<u64>,
    slots: Vec<Slot>,
    /// The block being built.
    block: Vec<Slot>,
}

/// Appends the values of a repeated varint field (packed or not), mapped by `f`.
#[inline]
fn varints<T>(
    r: &mut Reader<'_>,
    wt: u32,
    out: &mut Vec<T>,
    f: impl Fn(u64) -> T,
) -> Result<(), WireError> {
    match wt {
        LEN => {
            let (bytes, base) = r.len_delimited()?;
            let mut p = Reader::new(bytes, base);
            while !p.is_empty() {
                out.push(f(p.varint()?));
            }
            Ok(())
        }
        VARINT => {
            out.push(f(r.varint()?));
            Ok(())
        }
        other => Err(r.error(format!("a repeated varint field has wire type {other}"))),
    }
}

/// One lead from a `leadscore.v1.LeadRecord` message (the `lead` field
/// of a changelog record, see `append_lead_field`).
/// The error says what is wrong and at which byte.
pub fn lead_from_record(bytes: &[u8]) -> Result<LeadState, String> {
    let mut cols = Columns::default();
    let (_, block) =
        decode_lead(bytes, 0, &mut cols).map_err(|e| format!("{} (at byte {})", e.what, e.at))?;
    Ok(LeadState { block })
}

/// Decodes one `LeadRecord` into its id and a lead block; `cols` is
/// scratch space reused between calls.
fn decode_lead<'a>(
    bytes: &'a [u8],
    base: usize,
    cols: &mut Columns,
) -> Result<(LeadId<'a>, LeadBlock), WireError> {
    use wire::lead as f;
    let mut r = Reader::new(bytes, base);
    let mut uuid: Option<[u8; 16]> = None;
    let mut text: Option<&str> = None;
    let mut stage = 0u8;
    let mut last = 0i64;
    let mut behavior = 0u64;
    cols.heads.clear();
    cols.ages.clear();
    cols.bs.clear();
    while !r.is_empty() {
        let (field, wt) = r.key()?;
        match field {
            f::LEAD_ID => {
                r.expect(field, wt, LEN)?;
                text = Some(utf8(&mut r, "lead_id")?);
                uuid = None;
            }
            f::LEAD_UUID => {
                r.expect(field, wt, LEN)?;
                let (b, at) = r.len_delimited()?;
                let b: [u8; 16] = b.try_into().map_err(|_| WireError {
                    at,
                    what: format!("lead_uuid has {} bytes, not 16", b.len()),
                })?;
                uuid = Some(b);
                text = None;
            }
            f::STAGE => {
                r.expect(field, wt, VARINT)?;
                let v = r.varint()?;
                stage = u8::try_from(v)
                    .ok()
                    .filter(|s| Stage::from_u8(*s).is_some())
                    .ok_or_else(|| r.error(format!("unknown lead stage {v}")))?;
            }
            f::LAST_EVENT_MS => {
                r.expect(field, wt, VARINT)?;
                last = r.varint()? as i64;
            }
            f::BEHAVIOR_BITS => {
                r.expect(field, wt, FIXED64)?;
                behavior = r.fixed64()?;
            }
            f::SLOT_HEAD => varints(&mut r, wt, &mut cols.heads, |v| v)?,
            f::SLOT_AGE => varints(&mut r, wt, &mut cols.ages, unzigzag)?,
            f::SLOT_B => match wt {
                LEN => {
                    let (b, at) = r.len_delimited()?;
                    if b.len() % 8 != 0 {
                        return Err(WireError {
                            at,
                            what: format!("packed slot_b of {} bytes", b.len()),
                        });
                    }
                    cols.bs.extend(
                        b.chunks_exact(8)
                            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes"))),
                    );
                }
                FIXED64 => cols.bs.push(r.fixed64()?),
                other => {
                    return Err(r.error(format!("slot_b has wire type {other}")));
                }
            },
            _ => r.skip(field, wt)?,
        }
    }
    if !(0..1 << 48).contains(&last) {
        return Err(WireError {
            at: base,
            what: format!("last_event_ms {last} is out of range"),
        });
    }
    let id = match (uuid, text) {
        (Some(b), _) => LeadId::Uuid(b),
        (None, Some(t)) if !t.is_empty() => LeadId::Text(t),
        _ => {
            return Err(WireError {
                at: base,
                what: "a lead record has no lead id".into(),
            })
        }
    };
    slots(cols, last).map_err(|what| WireError { at: base, what })?;
    let block = LeadBlock::from_parts(&id, stage, last, behavior, &cols.slots, &mut cols.block)
        .ok_or_else(|| WireError {
            at: base,
            what: "a lead record holds more slots or a longer id than a lead can".into(),
        })?;
    Ok((id, block))
}

/// Rebuilds a lead's tagged slots from its columns into `cols.slots`.
#[inline]
fn slots(cols: &mut Columns, last_event_ms: i64) -> Result<(), String> {
    let n = cols.heads.len();
    if cols.bs.len() != n {
        return Err(format!(
            "{n} slot heads but {} slot_b values",
            cols.bs.len()
        ));
    }
    cols.slots.clear();
    let mut ages = cols.ages.iter().copied();
    for (&head, &b) in cols.heads.iter().zip(&cols.bs) {
        if head & 7 == 0 {
            return Err(format!("unknown slot kind {}", head & 7));
        }
        let a = if timed_kind(head) {
            if head > 0xffff {
                return Err(format!(
                    "slot head {head:#x} of a timed slot is over 16 bits"
                ));
            }
            let age = ages.next().ok_or("fewer slot ages than timed slots")?;
            let t = last_event_ms.wrapping_sub(age);
            if !(0..1 << 48).contains(&t) {
                return Err(format!("slot time {t} is out of range"));
            }
            ((t as u64) << 16) | head
        } else {
            head
        };
        cols.slots.push(Slot { a, b });
    }
    if ages.next().is_some() {
        return Err("more slot ages than timed slots".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::proto as pb;
    use crate::engine::uuid_text;
    use crate::event::{Event, EventBody, FormKind, WebContext};
    use crate::model::Model;
    use prost::Message;
    use std::borrow::Cow;

    /// A body written by prost (fields in its own order) decodes the same.
    #[test]
    fn accepts_a_prost_written_body() {
        // A candidate of rule 1 at 95 (admitted, credited), a fit slot at 80.
        let cand_head = 1 | (1 << 3) | (1 << 4) | (1 << 5);
        let msg = pb::Snapshot {
            partition: 3,
            model_version: "m-1".into(),
            offsets: vec![pb::TopicOffset {
                topic: "t".into(),
                next_offset: 9,
            }],
            watermark_ms: 100,
            last_sweep_ms: 60,
            taken_at_ms: 5,
            lead_count: 1,
            seen_id_hashes: vec![7, 8],
            // 100, then 40 earlier.
            seen_time_deltas: vec![0, -40],
            seen_cutoff_ms: 50,
            changelog_next_offset: 0,
            leads: vec![pb::LeadRecord {
                id: Some(pb::lead_record::Id::LeadId("x".into())),
                stage: pb::LeadStage::Sql as i32,
                last_event_ms: 100,
                behavior_bits: 1.5f64.to_bits(),
                slot_head: vec![cand_head, 2, 7],
                slot_age: vec![5, 20, -1_000],
                slot_b: vec![42, u64::MAX, 0],
            }],
        };
        let d = decode_body(&msg.encode_to_vec(), 1).unwrap();
        assert_eq!(d.partition, 3);
        assert_eq!(d.offsets, vec![("t".to_string(), 9)]);
        assert_eq!(d.state.seen().entries(), vec![(7, 100), (8, 60)]);
        assert_eq!(d.state.seen().cutoff_ms(), 50);
        assert_eq!(d.state.promoted(), vec!["x".to_string()]);
        let lead = d.state.lead("x").unwrap();
        assert_eq!(lead.stage(), Stage::Sql);
        assert_eq!(lead.last_event_ms(), 100);
        assert_eq!(
            lead.block.tagged(),
            &[
                Slot {
                    a: (95 << 16) | cand_head,
                    b: 42
                },
                Slot {
                    a: (80 << 16) | 2,
                    b: u64::MAX
                },
                Slot {
                    a: (1_100 << 16) | 7,
                    b: 0
                }
            ]
        );
        assert_eq!(lead.block.total0(), 1.5);
    }

    /// Many leads, several encoder and decoder threads, a body larger than
    /// the read window and many batches: the same state comes back.
    #[test]
    fn parallel_encode_and_decode_roundtrip_a_large_state() {
        use crate::snapshot::encode::capture_with;
        let model = Model::builtin();
        let mut st = TaskState::default();
        let t0 = 1_767_225_600_000;
        for i in 0..150_000u64 {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
            b[8..].copy_from_slice(&i.to_le_bytes());
            let lead = if i % 5 == 0 {
                format!("lead-{i}")
            } else {
                String::from_utf8(uuid_text(&b).to_vec()).unwrap()
            };
            let t = t0 + i as i64 * 7;
            let body = match i % 4 {
                0 => EventBody::PageView {
                    path: Cow::Owned(format!("/p{}", i % 13)),
                    referrer: None,
                    web: WebContext::default(),
                },
                1 => EventBody::Form {
                    form: FormKind::ContactUs,
                },
                2 => EventBody::Download {
                    asset_id: Cow::Borrowed("wp"),
                    asset_kind: crate::event::AssetKind::CaseStudy,
                },
                _ => EventBody::Profile(crate::event::Profile {
                    industry: Some(Cow::Borrowed("software")),
                    ..Default::default()
                }),
            };
            st.apply(
                &model,
                &Event {
                    event_id: Cow::Owned(format!("e{i}")),
                    lead_id: Cow::Owned(lead),
                    occurred_at_ms: t,
                    body,
                },
            );
        }
        let c = capture_with(3, &st, &[("t".into(), 5)], "m", 1, 3).unwrap();
        assert_eq!(c.lead_count(), 150_000);
        let body = c.to_body();
        assert!(
            body.len() > 9 << 20,
            "larger than the window: {}",
            body.len()
        );
        let (d, crc) = decode_from_with(&body[..], body.len() as u64, 3, 0);
        assert_eq!(crc, Some(crc32fast::hash(&body)));
        let d = d.unwrap();
        assert_eq!(d.state.lead_count(), st.lead_count());
        assert_eq!(d.state.lead_states(), st.lead_states());
        assert_eq!(d.state.promoted(), st.promoted());
        assert_eq!(d.state.seen().entries(), st.seen().entries());
        // One thread reads it the same.
        let single = decode_body(&body, 1).unwrap();
        assert_eq!(single.state.promoted(), st.promoted());
        assert_eq!(single.state.lead_count(), 150_000);
        // And a damaged copy fails in every thread layout without hanging.
        let mut bad = body.clone();
        let n = bad.len();
        bad[n / 2] = 0xff;
        bad[n / 2 + 1] = 0xff;
        let (r, crc) = decode_from_with(&bad[..], n as u64, 3, 0);
        assert_ne!(crc, Some(crc32fast::hash(&body)));
        let _ = r;
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..400usize {
            let body: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = decode_body(&body, 2);
            let _ = summarize(&body);
        }
    }

    #[test]
    fn duplicate_leads_and_count_mismatch_are_errors() {
        let lead = pb::LeadRecord {
            id: Some(pb::lead_record::Id::LeadId("x".into())),
            ..Default::default()
        };
        let msg = pb::Snapshot {
            leads: vec![lead.clone(), lead],
            ..Default::default()
        };
        let e = decode_body(&msg.encode_to_vec(), 1).unwrap_err();
        assert!(e.to_string().contains("two lead records"), "{e}");
        let msg = pb::Snapshot {
            lead_count: 5,
            ..Default::default()
        };
        let e = decode_body(&msg.encode_to_vec(), 1).unwrap_err();
        assert!(e.to_string().contains("lead_count"), "{e}");
        let bad_kind = pb::Snapshot {
            lead_count: 1,
            leads: vec![pb::LeadRecord {
                id: Some(pb::lead_record::Id::LeadId("x".into())),
                slot_head: vec![8],
                slot_b: vec![0],
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = decode_body(&bad_kind.encode_to_vec(), 1).unwrap_err();
        assert!(e.to_string().contains("slot kind"), "{e}");
    }
}
