//! The 16-byte slot every piece of lead state is stored in, and the bit
//! layout of each kind. A lead is one allocation of slots (`lead_block.rs`):
//! slot 0 is the header, then the id, then tagged slots in insertion order.
//!
//! One fixed size for everything keeps a lead in a single exact-size heap
//! block (memory per lead is the goal, BENCHMARKS.md "Lead map memory"),
//! makes a snapshot a copy of words, and keeps the layout simple enough to
//! document in `proto/leadscore/v1/snapshot.proto`.
//!
//! Times are event times, which the codec keeps within
//! 1970..=9999-12-31, so 48 bits hold them.

/// One 16-byte fact about a lead: two words whose meaning depends on the
/// kind in the low 3 bits of `a` (tagged slots) or on the position (header
/// and id slots).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
#[repr(C)]
pub struct Slot {
    pub a: u64,
    pub b: u64,
}

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slot({:#018x}, {:#018x})", self.a, self.b)
    }
}

/// Mask of a 48-bit time field.
pub(crate) const TIME_MASK: u64 = (1 << 48) - 1;

/// Largest rule id a slot can hold (11 bits); the model refuses more rules.
pub const MAX_RULES: usize = 2047;

/// Largest number of fit rules (ids 0..=254; 255 marks an empty pair).
pub const MAX_FIT_RULES: usize = 255;

/// Most values one fit rule can tell apart (band or list match + none).
pub const MAX_FIT_OUTCOMES: usize = 255;

/// Kinds of tagged slots (`a & 7`).
pub(crate) mod kind {
    /// An event that is, or was, the earliest of its repeat window.
    pub const CANDIDATE: u64 = 1;
    /// Up to four fit values that share one `as_of`.
    pub const FIT: u64 = 2;
    /// Points of a rule's expired candidates, folded into one value.
    pub const FOLDED: u64 = 3;
    /// The behaviour total of one decay group other than group 0.
    pub const TOTAL: u64 = 4;
    /// How often the lead entered each stage, and its hold.
    pub const ORDINALS: u64 = 5;
    /// One stage change in the lead's recent history.
    pub const TRANSITION: u64 = 6;
    /// A promoted lead's next decay check (`recycle_schedule.rs`).
    pub const PROMOTED: u64 = 7;
}

/// The kind of a tagged slot.
#[inline(always)]
pub(crate) fn kind_of(s: &Slot) -> u64 {
    s.a & 7
}

/// Candidate flag: among the first N candidates of its lead-minute (the rate limit).
pub(crate) const ADMITTED: u64 = 1 << 3;
/// Candidate flag: admitted and within its rule's daily cap, so its points count.
pub(crate) const CREDITED: u64 = 1 << 4;

/// A candidate: `a` = kind | admitted | credited | rule (bits 5..16) |
/// time (bits 16..64); `b` = the key that names its repeat window (xxh3 of
/// the repeat key's value, or of the event id for rules without repeat).
#[inline(always)]
pub(crate) fn candidate(rule: u16, at_ms: i64, key: u64) -> Slot {
    Slot {
        a: kind::CANDIDATE | (u64::from(rule) << 5) | ((at_ms as u64 & TIME_MASK) << 16),
        b: key,
    }
}

/// Rule id of a candidate or folded slot.
#[inline(always)]
pub(crate) fn cand_rule(s: &Slot) -> u16 {
    ((s.a >> 5) & 0x7ff) as u16
}

/// Time of a candidate, fit or promoted slot.
#[inline(always)]
pub(crate) fn slot_time(s: &Slot) -> i64 {
    (s.a >> 16) as i64
}

/// The order in which candidates compete for a lead-minute's places:
/// time, then rule, then key. Unique per lead, so the first N are well
/// defined whatever the arrival order.
#[inline(always)]
pub(crate) fn rate_order(s: &Slot) -> (u64, u64) {
    // Time in the high bits, rule below it: `a` without the flag bits.
    ((s.a >> 16) << 16 | (s.a & (0x7ff << 5)), s.b)
}

/// A fit slot: `a` = kind | `as_of` (bits 16..64); `b` = four
/// `(rule: u8, outcome: u8)` pairs, 0xffff marking an empty pair.
#[inline(always)]
pub(crate) fn fit_slot(as_of_ms: i64) -> Slot {
    Slot {
        a: kind::FIT | ((as_of_ms as u64 & TIME_MASK) << 16),
        b: u64::MAX,
    }
}

/// The `(rule, outcome)` pairs of a fit slot.
#[inline(always)]
pub(crate) fn fit_pairs(s: &Slot) -> impl Iterator<Item = (usize, u8, u8)> {
    let b = s.b;
    (0..4).filter_map(move |i| {
        let p = (b >> (16 * i)) & 0xffff;
        (p != 0xffff).then_some((i, (p & 0xff) as u8, (p >> 8) as u8))
    })
}

/// Sets pair `i` of a fit slot (`None` empties it).
#[inline(always)]
pub(crate) fn set_fit_pair(s: &mut Slot, i: usize, pair: Option<(u8, u8)>) {
    let v = pair.map_or(0xffff, |(r, o)| u64::from(r) | (u64::from(o) << 8));
    s.b = (s.b & !(0xffff << (16 * i))) | (v << (16 * i));
}

/// A folded slot: `a` = kind | rule (bits 5..16) | count (bits 16..64);
/// `b` = f64 bits of the value as of the lead's last event.
#[inline(always)]
pub(crate) fn folded(rule: u16, count: u64, value: f64) -> Slot {
    Slot {
        a: kind::FOLDED | (u64::from(rule) << 5) | (count << 16),
        b: value.to_bits(),
    }
}

/// Count of a folded slot.
#[inline(always)]
pub(crate) fn folded_count(s: &Slot) -> u64 {
    s.a >> 16
}

/// A total slot: `a` = kind | group (bits 3..11); `b` = f64 bits of the
/// group's behaviour points as of the lead's last event.
#[inline(always)]
pub(crate) fn total(group: u8, value: f64) -> Slot {
    Slot {
        a: kind::TOTAL | (u64::from(group) << 3),
        b: value.to_bits(),
    }
}

/// Group of a total slot.
#[inline(always)]
pub(crate) fn total_group(s: &Slot) -> u8 {
    ((s.a >> 3) & 0xff) as u8
}

/// The value (f64) in `b` of a folded or total slot.
#[inline(always)]
pub(crate) fn value_of(s: &Slot) -> f64 {
    f64::from_bits(s.b)
}

/// Bit offsets of the three entry counters of an ordinals slot (mql, sql,
/// lead), 20 bits each (21 for lead): `b` is the hold's end (0: none).
pub(crate) const ORDINAL_SHIFT: [u32; 3] = [3, 23, 43];
/// Width mask of each ordinal counter.
pub(crate) const ORDINAL_MASK: [u64; 3] = [(1 << 20) - 1, (1 << 20) - 1, (1 << 21) - 1];

/// A transition slot: `a` = kind | from (bits 3..5) | to (5..7) | reason
/// (7..9: score threshold, instant rule, sql signal, recycled decay) |
/// instant rule id (9..20); `b` = its event time.
#[inline(always)]
pub(crate) fn transition(from: u8, to: u8, reason: u8, rule: u16, at_ms: i64) -> Slot {
    Slot {
        a: kind::TRANSITION
            | (u64::from(from) << 3)
            | (u64::from(to) << 5)
            | (u64::from(reason) << 7)
            | (u64::from(rule) << 9),
        b: at_ms as u64,
    }
}

/// A promoted slot: `a` = kind | the time of the lead's next decay check
/// (bits 16..64); `b` unused (0).
#[inline(always)]
pub(crate) fn promoted(due_ms: i64) -> Slot {
    Slot {
        a: kind::PROMOTED | ((due_ms as u64 & TIME_MASK) << 16),
        b: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_roundtrip_through_their_bits() {
        let c = candidate(2047, 253_402_300_799_999, u64::MAX);
        assert_eq!(kind_of(&c), kind::CANDIDATE);
        assert_eq!(cand_rule(&c), 2047);
        assert_eq!(slot_time(&c), 253_402_300_799_999);
        assert_eq!(c.a & (ADMITTED | CREDITED), 0);
        let mut f = fit_slot(5);
        assert_eq!(fit_pairs(&f).count(), 0);
        set_fit_pair(&mut f, 2, Some((254, 7)));
        assert_eq!(fit_pairs(&f).collect::<Vec<_>>(), vec![(2, 254, 7)]);
        set_fit_pair(&mut f, 2, None);
        assert_eq!(f.b, u64::MAX);
        let d = folded(9, (1 << 48) - 1, -0.0);
        assert_eq!((cand_rule(&d), folded_count(&d)), (9, (1 << 48) - 1));
        assert_eq!(value_of(&d).to_bits(), (-0.0f64).to_bits());
        assert_eq!(total_group(&total(200, 1.5)), 200);
        assert_eq!(std::mem::size_of::<Slot>(), 16);
    }

    #[test]
    fn rate_order_is_time_then_rule_then_key() {
        let mut a = candidate(5, 1000, 9);
        a.a |= ADMITTED | CREDITED;
        let b = candidate(4, 1001, 0);
        let c = candidate(6, 1000, 0);
        assert!(rate_order(&a) < rate_order(&b));
        assert!(rate_order(&a) < rate_order(&c));
        assert!(rate_order(&candidate(5, 1000, 8)) < rate_order(&a));
    }
}
