//! One lead's state in one exact-size heap block of [`Slot`]s, owned
//! through a single pointer: header, id, tagged slots. Exists because a
//! task holds millions of leads and each byte of a lead counts about 1.7
//! times once the hash table's spare capacity is included: a thin pointer
//! in the table (8 bytes) and no length, capacity or second allocation is
//! what gets a lead with a typical history under 160 bytes.
//!
//! The header (slot 0): `a` = last event time (bits 0..48) | stage (48..50)
//! | snapshot parity (50) | id is a UUID (51) | slot count (52..62) | spare
//! slots allocated after them (62..64); `b` = the behaviour total of decay
//! group 0 as of the last event (f64 bits).
//!
//! A lead of up to 8 slots (most leads) is allocated exactly; a bigger one
//! grows 3 slots at a time and keeps up to 3 spare slots when it shrinks,
//! because an active lead adds a window candidate with most events and
//! drops expired ones often, and a reallocation each time cost more than
//! the rest of `apply` together.
//! The id: one slot of UUID bytes, or a text id as its length (u16) and
//! bytes, padded to whole slots.
//!
//! The only `unsafe` code of the engine is here: allocation, reallocation
//! and release of the block, whose size is always exactly the slot count
//! plus the spare count in the header, times 16 bytes (and a prefetch
//! hint, which reads nothing).

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use super::lead_key::{uuid_text, LeadId, LeadKey};
use super::slot::{Slot, TIME_MASK};

/// Most slots a lead can hold (the header's 10-bit count). A lead that
/// would need more is abusive: see `candidates::FULL_AT`.
pub const MAX_SLOTS: usize = 1023;

/// Longest lead id the engine keeps (longer ids are refused by the engine
/// as rate-limited abuse; real CRM ids are far shorter).
pub const MAX_ID_BYTES: usize = 1024;

const LEN_SHIFT: u32 = 52;
/// Mask of the slot count (10 bits at `LEN_SHIFT`).
const LEN_MASK: u64 = 0x3ff << LEN_SHIFT;
const SPARE_SHIFT: u32 = 62;
/// Mask of the spare count (2 bits at `SPARE_SHIFT`).
const SPARE_MASK: u64 = 3 << SPARE_SHIFT;
/// Both counts, which only this module's allocation code may change.
const SIZE_MASK: u64 = LEN_MASK | SPARE_MASK;
/// Leads of more slots than this grow with spare room.
const EXACT_UP_TO: usize = 8;
const STAGE_SHIFT: u32 = 48;
const PARITY_BIT: u64 = 1 << 50;
const UUID_BIT: u64 = 1 << 51;

/// A lead's slots, behind one thin pointer. See the module docs.
pub struct LeadBlock {
    /// Points at slot 0 (the header) of an allocation of exactly `len()` slots.
    ptr: NonNull<Slot>,
}

// SAFETY: a LeadBlock owns its allocation exclusively (like a Box<[Slot]>),
// and Slot is plain data, so moving it to or sharing it with another thread
// is as safe as for a Box.
unsafe impl Send for LeadBlock {}
// SAFETY: see above; `&LeadBlock` only reads.
unsafe impl Sync for LeadBlock {}

/// Slots taken by an id.
fn id_slots(id: &LeadId<'_>) -> usize {
    match id {
        LeadId::Uuid(_) => 1,
        LeadId::Text(s) => (2 + s.len().min(MAX_ID_BYTES)).div_ceil(16),
    }
}

/// The layout of a block of `n` slots.
fn layout(n: usize) -> Layout {
    Layout::array::<Slot>(n).expect("at most MAX_SLOTS slots")
}

impl LeadBlock {
    /// A block for a new lead with no tagged slots. Ids longer than
    /// [`MAX_ID_BYTES`] are cut (the engine refuses them before this).
    pub(crate) fn new(id: &LeadId<'_>, last_event_ms: i64, parity: bool) -> LeadBlock {
        let mut slots = Vec::with_capacity(1 + id_slots(id));
        slots.push(Slot {
            a: (last_event_ms as u64 & TIME_MASK)
                | if parity { PARITY_BIT } else { 0 }
                | if id.is_uuid() { UUID_BIT } else { 0 },
            b: 0,
        });
        push_id(&mut slots, id);
        LeadBlock::from_slots(&mut slots)
    }

    /// A lead as a snapshot stores it: id, stage, last event, group-0 total
    /// and tagged slots; `None` if it would not fit a block (more than
    /// [`MAX_SLOTS`] slots, or an id over [`MAX_ID_BYTES`]). `scratch` is
    /// reused between calls, so each lead costs one allocation.
    pub(crate) fn from_parts(
        id: &LeadId<'_>,
        stage: u8,
        last_event_ms: i64,
        total0_bits: u64,
        tagged: &[Slot],
        scratch: &mut Vec<Slot>,
    ) -> Option<LeadBlock> {
        if let LeadId::Text(t) = id {
            if t.len() > MAX_ID_BYTES {
                return None;
            }
        }
        if 1 + id_slots(id) + tagged.len() > MAX_SLOTS {
            return None;
        }
        scratch.clear();
        scratch.push(Slot {
            a: (last_event_ms as u64 & TIME_MASK)
                | (u64::from(stage & 3) << STAGE_SHIFT)
                | if id.is_uuid() { UUID_BIT } else { 0 },
            b: total0_bits,
        });
        push_id(scratch, id);
        scratch.extend_from_slice(tagged);
        Some(LeadBlock::from_slots(scratch))
    }

    /// Calls `f` with whether the id is a UUID and its bytes (the 16 UUID
    /// bytes, or the text), without allocating for ids of up to 62 bytes.
    pub(crate) fn with_id_bytes<R>(&self, f: impl FnOnce(bool, &[u8]) -> R) -> R {
        let s = self.all();
        if self.head() & UUID_BIT != 0 {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&s[1].a.to_le_bytes());
            b[8..].copy_from_slice(&s[1].b.to_le_bytes());
            return f(true, &b);
        }
        let k = self.id_len();
        let len = (s[1].a & 0xffff) as usize;
        let mut small = [0u8; 64];
        let mut large = Vec::new();
        let buf: &mut [u8] = if k * 16 <= small.len() {
            &mut small[..k * 16]
        } else {
            large.resize(k * 16, 0);
            &mut large
        };
        for (i, slot) in s[1..1 + k].iter().enumerate() {
            buf[16 * i..16 * i + 8].copy_from_slice(&slot.a.to_le_bytes());
            buf[16 * i + 8..16 * i + 16].copy_from_slice(&slot.b.to_le_bytes());
        }
        f(false, &buf[2..2 + len])
    }

    /// The stable hash of the lead's id (what the table is keyed by).
    pub(crate) fn id_hash(&self) -> u64 {
        self.with_id_bytes(|uuid, bytes| {
            if uuid {
                LeadId::Uuid(bytes.try_into().expect("16 bytes")).hash64()
            } else {
                // Text ids are copied from a `&str`.
                LeadId::Text(std::str::from_utf8(bytes).unwrap_or("")).hash64()
            }
        })
    }

    /// The block's address (a prefetch hint for walks over many leads).
    #[inline(always)]
    pub(crate) fn address(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// A block holding exactly `slots` (slot 0 a header whose count bits
    /// are overwritten). Used by `new` and by the snapshot decoder.
    pub(crate) fn from_slots(slots: &mut [Slot]) -> LeadBlock {
        let n = slots.len();
        assert!((2..=MAX_SLOTS).contains(&n), "a lead has 2..=1023 slots");
        slots[0].a = (slots[0].a & !SIZE_MASK) | ((n as u64) << LEN_SHIFT);
        let layout = layout(n);
        // SAFETY: the layout has a non-zero size (n >= 2 slots of 16 bytes).
        let raw = unsafe { alloc::alloc(layout) } as *mut Slot;
        let Some(ptr) = NonNull::new(raw) else {
            alloc::handle_alloc_error(layout)
        };
        // SAFETY: `ptr` is a fresh allocation of n slots and `slots` holds n
        // initialized slots; the regions do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(slots.as_ptr(), ptr.as_ptr(), n) };
        LeadBlock { ptr }
    }

    /// Asks the CPU to start fetching the block's first cache line (the
    /// header and the id), reading nothing: a hint that cannot fail, so a
    /// lookup can start the next lead's fetch before this one's is done.
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch reads no memory and cannot fault, whatever
        // the address.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.ptr.as_ptr() as *const i8);
        }
    }

    /// Every slot, header and id included (snapshots, equality).
    #[inline(always)]
    pub(crate) fn all(&self) -> &[Slot] {
        // SAFETY: the allocation holds the header's live count of
        // initialized slots (then up to 3 spare ones), and the header at its
        // start is always initialized.
        unsafe {
            let n = ((self.ptr.as_ref().a & LEN_MASK) >> LEN_SHIFT) as usize;
            std::slice::from_raw_parts(self.ptr.as_ptr(), n)
        }
    }

    /// Mutable access to every slot after the header, so callers cannot
    /// change the slot count the allocation depends on.
    #[inline(always)]
    fn after_header_mut(&mut self) -> &mut [Slot] {
        let n = self.all().len();
        // SAFETY: as in `all`, plus `&mut self` gives exclusive access; the
        // header (slot 0) is excluded so its count cannot be changed here.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(1), n - 1) }
    }

    /// The header word `a`.
    #[inline(always)]
    fn head(&self) -> u64 {
        // SAFETY: slot 0 always exists and is initialized.
        unsafe { self.ptr.as_ref().a }
    }

    /// Replaces the header word `a`, keeping its slot count.
    #[inline(always)]
    fn set_head(&mut self, v: u64) {
        // SAFETY: slot 0 always exists; we hold `&mut self`.
        unsafe {
            let h = &mut self.ptr.as_mut().a;
            *h = (v & !SIZE_MASK) | (*h & SIZE_MASK);
        }
    }

    /// Number of id slots.
    #[inline(always)]
    fn id_len(&self) -> usize {
        if self.head() & UUID_BIT != 0 {
            1
        } else {
            let first = self.all()[1].a;
            (2 + (first & 0xffff) as usize).div_ceil(16)
        }
    }

    /// The tagged slots (after the header and the id), in insertion order.
    #[inline(always)]
    pub(crate) fn tagged(&self) -> &[Slot] {
        &self.all()[1 + self.id_len()..]
    }

    /// The tagged slots, mutable.
    #[inline(always)]
    pub(crate) fn tagged_mut(&mut self) -> &mut [Slot] {
        let k = self.id_len();
        &mut self.after_header_mut()[k..]
    }

    /// Newest event time applied to the lead.
    #[inline(always)]
    pub(crate) fn last_event_ms(&self) -> i64 {
        (self.head() & TIME_MASK) as i64
    }

    /// Sets the newest event time.
    #[inline(always)]
    pub(crate) fn set_last_event_ms(&mut self, t: i64) {
        self.set_head((self.head() & !TIME_MASK) | (t as u64 & TIME_MASK));
    }

    /// The stage as its number (0 lead, 1 mql, 2 sql).
    #[inline(always)]
    pub(crate) fn stage_bits(&self) -> u8 {
        ((self.head() >> STAGE_SHIFT) & 3) as u8
    }

    /// Sets the stage number.
    #[inline(always)]
    pub(crate) fn set_stage_bits(&mut self, s: u8) {
        self.set_head((self.head() & !(3 << STAGE_SHIFT)) | (u64::from(s & 3) << STAGE_SHIFT));
    }

    /// Which snapshot generation last accounted for this lead (see
    /// `capture.rs`).
    #[inline(always)]
    pub(crate) fn parity(&self) -> bool {
        self.head() & PARITY_BIT != 0
    }

    /// Marks the lead as accounted for by the snapshot generation `p`.
    #[inline(always)]
    pub(crate) fn set_parity(&mut self, p: bool) {
        let h = self.head();
        self.set_head(if p { h | PARITY_BIT } else { h & !PARITY_BIT });
    }

    /// Behaviour total of decay group 0 as of the last event.
    #[inline(always)]
    pub(crate) fn total0(&self) -> f64 {
        // SAFETY: slot 0 always exists and is initialized.
        f64::from_bits(unsafe { self.ptr.as_ref().b })
    }

    /// Sets the behaviour total of decay group 0.
    #[inline(always)]
    pub(crate) fn set_total0(&mut self, v: f64) {
        // SAFETY: slot 0 always exists; we hold `&mut self`.
        unsafe { self.ptr.as_mut().b = v.to_bits() }
    }

    /// Whether this lead's id is `id`.
    #[inline(always)]
    pub(crate) fn has_id(&self, id: &LeadId<'_>) -> bool {
        let s = self.all();
        match id {
            LeadId::Uuid(b) => {
                self.head() & UUID_BIT != 0
                    && s[1].a.to_le_bytes() == b[..8]
                    && s[1].b.to_le_bytes() == b[8..]
            }
            LeadId::Text(t) => {
                self.head() & UUID_BIT == 0
                    && (s[1].a & 0xffff) as usize == t.len().min(MAX_ID_BYTES)
                    && text_slots(t).zip(&s[1..]).all(|(x, y)| x == *y)
            }
        }
    }

    /// The lead's id.
    pub(crate) fn key(&self) -> LeadKey {
        let s = self.all();
        if self.head() & UUID_BIT != 0 {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&s[1].a.to_le_bytes());
            b[8..].copy_from_slice(&s[1].b.to_le_bytes());
            LeadKey::Uuid(b)
        } else {
            let len = (s[1].a & 0xffff) as usize;
            let bytes = id_bytes(&s[1..1 + self.id_len()], len);
            // Text ids are copied from a `&str`, so they are UTF-8.
            LeadKey::Text(Box::from(String::from_utf8_lossy(&bytes).as_ref()))
        }
    }

    /// The id's text (a UUID rendered canonically).
    pub(crate) fn id_text(&self) -> String {
        match self.key() {
            LeadKey::Uuid(b) => String::from_utf8_lossy(&uuid_text(&b)).into_owned(),
            LeadKey::Text(s) => s.into(),
        }
    }

    /// Spare slots allocated after the live ones.
    #[inline(always)]
    fn spare(&self) -> usize {
        ((self.head() & SPARE_MASK) >> SPARE_SHIFT) as usize
    }

    /// Slots allocated: live plus spare (what the allocation's layout is).
    #[inline(always)]
    fn capacity(&self) -> usize {
        self.all().len() + self.spare()
    }

    /// Sets the live and spare counts (which must describe the allocation).
    #[inline(always)]
    fn set_size(&mut self, len: usize, spare: usize) {
        debug_assert!(len <= MAX_SLOTS && spare <= 3);
        // SAFETY: slot 0 always exists; we hold `&mut self`.
        unsafe {
            let h = &mut self.ptr.as_mut().a;
            *h = (*h & !SIZE_MASK) | ((len as u64) << LEN_SHIFT) | ((spare as u64) << SPARE_SHIFT);
        }
    }

    /// Appends a tagged slot; false (and nothing changes) when the lead
    /// already holds [`MAX_SLOTS`].
    pub(crate) fn push(&mut self, s: Slot) -> bool {
        let n = self.all().len();
        if n >= MAX_SLOTS {
            return false;
        }
        let spare = self.spare();
        if spare > 0 {
            self.set_size(n + 1, spare - 1);
        } else {
            let extra = if n + 1 > EXACT_UP_TO {
                3.min(MAX_SLOTS - (n + 1))
            } else {
                0
            };
            self.reallocate(n + 1 + extra);
            self.set_size(n + 1, extra);
        }
        // SAFETY: the block now holds n + 1 live slots within its
        // allocation; the last one is written here before anything reads it.
        unsafe { self.ptr.as_ptr().add(n).write(s) };
        true
    }

    /// Removes tagged slot `i`, keeping the order of the others.
    pub(crate) fn remove_tagged(&mut self, i: usize) {
        let start = 1 + self.id_len();
        let n = self.all().len();
        let at = start + i;
        assert!(at < n, "tagged slot {i} exists");
        // SAFETY: `at < n`; shifting slots at+1..n one down stays within the
        // allocation.
        unsafe {
            let p = self.ptr.as_ptr();
            std::ptr::copy(p.add(at + 1), p.add(at), n - at - 1);
        }
        self.shrink_to(n - 1);
    }

    /// Keeps only the tagged slots for which `keep` is true, in order.
    pub(crate) fn retain_tagged(&mut self, mut keep: impl FnMut(&Slot) -> bool) {
        let start = 1 + self.id_len();
        let n = self.all().len();
        let mut w = start;
        {
            let all = self.after_header_mut();
            for r in start..n {
                if keep(&all[r - 1]) {
                    all[w - 1] = all[r - 1];
                    w += 1;
                }
            }
        }
        if w != n {
            self.shrink_to(w);
        }
    }

    /// Makes `len` the live count after slots were removed from the end:
    /// the freed slots become spare, up to 3; beyond that the block is
    /// reallocated (with 3 spare for a big lead, none for a small one).
    fn shrink_to(&mut self, len: usize) {
        let cap = self.capacity();
        if cap - len <= 3 {
            self.set_size(len, cap - len);
            return;
        }
        let spare = if len > EXACT_UP_TO { 3 } else { 0 };
        self.reallocate(len + spare);
        self.set_size(len, spare);
    }

    /// Reallocates the block to `cap` slots, keeping the first
    /// `min(cap, len)`; the caller then sets the counts to describe it.
    fn reallocate(&mut self, cap: usize) {
        let old = self.capacity();
        debug_assert!((2..=MAX_SLOTS).contains(&cap));
        // SAFETY: `ptr` was allocated with `layout(old)` (the header's live
        // plus spare counts always describe the allocation); the new size is
        // non-zero. realloc keeps the first min(old, cap) slots, among them
        // the header, whose counts the caller rewrites before anything else
        // reads them.
        unsafe {
            let raw = alloc::realloc(
                self.ptr.as_ptr() as *mut u8,
                layout(old),
                layout(cap).size(),
            ) as *mut Slot;
            let Some(ptr) = NonNull::new(raw) else {
                alloc::handle_alloc_error(layout(cap))
            };
            self.ptr = ptr;
        }
    }
}

/// Appends the id slots of `id`.
fn push_id(slots: &mut Vec<Slot>, id: &LeadId<'_>) {
    match id {
        LeadId::Uuid(b) => slots.push(Slot {
            a: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            b: u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
        }),
        LeadId::Text(s) => slots.extend(text_slots(s)),
    }
}

/// The id slots of a text id: its length (u16, little-endian) and bytes,
/// zero-padded to whole slots, read as little-endian words. Ids longer than
/// [`MAX_ID_BYTES`] are cut.
fn text_slots(t: &str) -> impl Iterator<Item = Slot> + '_ {
    let bytes = &t.as_bytes()[..t.len().min(MAX_ID_BYTES)];
    let len = (bytes.len() as u16).to_le_bytes();
    let n = (2 + bytes.len()).div_ceil(16);
    (0..n).map(move |k| {
        let mut c = [0u8; 16];
        for (j, x) in c.iter_mut().enumerate() {
            let i = k * 16 + j;
            *x = match i {
                0 | 1 => len[i],
                _ => bytes.get(i - 2).copied().unwrap_or(0),
            };
        }
        Slot {
            a: u64::from_le_bytes(c[..8].try_into().expect("8 bytes")),
            b: u64::from_le_bytes(c[8..].try_into().expect("8 bytes")),
        }
    })
}

/// The id bytes held by id slots (after the 2-byte length).
fn id_bytes(slots: &[Slot], len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(slots.len() * 16);
    for s in slots {
        v.extend_from_slice(&s.a.to_le_bytes());
        v.extend_from_slice(&s.b.to_le_bytes());
    }
    v.drain(..2);
    v.truncate(len);
    v
}

impl Drop for LeadBlock {
    fn drop(&mut self) {
        let cap = self.capacity();
        // SAFETY: the block was allocated with `layout(cap)` (the header's
        // counts describe the allocation) and is not used after this.
        unsafe { alloc::dealloc(self.ptr.as_ptr() as *mut u8, layout(cap)) }
    }
}

impl Clone for LeadBlock {
    /// A copy of the live slots, allocated exactly.
    fn clone(&self) -> LeadBlock {
        LeadBlock::from_slots(&mut self.all().to_vec())
    }
}

impl PartialEq for LeadBlock {
    /// Equal state: every word, except which snapshot generation last saw
    /// it and how much spare room its allocation has.
    fn eq(&self, other: &LeadBlock) -> bool {
        let (a, b) = (self.all(), other.all());
        let ignored = PARITY_BIT | SPARE_MASK;
        a.len() == b.len()
            && (a[0].a & !ignored) == (b[0].a & !ignored)
            && a[0].b == b[0].b
            && a[1..] == b[1..]
    }
}

impl std::fmt::Debug for LeadBlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeadBlock")
            .field("id", &self.id_text())
            .field("stage", &self.stage_bits())
            .field("last_event_ms", &self.last_event_ms())
            .field(
                "total0_bits",
                &format_args!("{:#018x}", self.total0().to_bits()),
            )
            .field("tagged", &self.tagged())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::slot::candidate;

    #[test]
    fn ids_roundtrip_and_compare() {
        for id in [
            "0a1b2c3d-4e5f-6789-abcd-ef0123456789",
            "l",
            "fourteen-bytes",
            "fifteen-bytes!!",
            "a much longer lead id, with spaces and ünïcödé",
        ] {
            let parsed = LeadId::parse(id);
            let b = LeadBlock::new(&parsed, 12_345, true);
            assert_eq!(b.id_text(), id);
            assert!(b.has_id(&parsed));
            assert!(!b.has_id(&LeadId::Text("other")));
            assert_eq!(b.last_event_ms(), 12_345);
            assert!(b.parity());
            assert!(b.tagged().is_empty());
            assert_eq!(b.key().as_id(), parsed);
        }
    }

    #[test]
    fn push_remove_retain_keep_order_and_header() {
        let mut b = LeadBlock::new(&LeadId::Text("seventeen-bytes!!"), 7, false);
        b.set_stage_bits(2);
        b.set_total0(1.5);
        for i in 0..100u16 {
            assert!(b.push(candidate(i, i64::from(i), u64::from(i))));
        }
        b.remove_tagged(0);
        b.retain_tagged(|s| s.b % 2 == 1);
        let keys: Vec<u64> = b.tagged().iter().map(|s| s.b).collect();
        assert_eq!(keys, (1..100).step_by(2).collect::<Vec<u64>>());
        assert_eq!(b.stage_bits(), 2);
        assert_eq!(b.total0(), 1.5);
        assert_eq!(b.last_event_ms(), 7);
        assert_eq!(b.id_text(), "seventeen-bytes!!");
        let c = b.clone();
        assert_eq!(c, b);
        b.set_parity(true);
        assert_eq!(c, b, "parity is not state");
        b.tagged_mut()[0].b = 0;
        assert_ne!(c, b);
    }

    #[test]
    fn big_leads_grow_and_shrink_with_spare_room() {
        let mut b = LeadBlock::new(&LeadId::Text("x"), 0, false);
        for i in 0..40u16 {
            assert!(b.push(candidate(i, 1, u64::from(i))));
            assert!(b.spare() <= 3);
            if b.all().len() <= EXACT_UP_TO {
                assert_eq!(b.spare(), 0, "small leads are exact");
            }
        }
        for _ in 0..20 {
            b.remove_tagged(0);
            assert!(b.spare() <= 3);
        }
        b.retain_tagged(|s| s.b % 5 == 0);
        assert!(b.spare() <= 3);
        let keys: Vec<u64> = b.tagged().iter().map(|s| s.b).collect();
        assert_eq!(keys, vec![20, 25, 30, 35]);
        assert_eq!(b.clone(), b);
        assert_eq!(b.clone().spare(), 0);
    }

    #[test]
    fn a_full_lead_refuses_more_slots() {
        let mut b = LeadBlock::new(&LeadId::Text("x"), 0, false);
        while b.all().len() < MAX_SLOTS {
            assert!(b.push(candidate(1, 1, 1)));
        }
        assert!(!b.push(candidate(1, 1, 1)));
        assert_eq!(b.all().len(), MAX_SLOTS);
    }
}
