//! What a lead's slots mean: its score (running totals per decay group,
//! fit values), active SQL signals, stage, entry counts, hold and recent
//! stage history. The window, cap and rate-limit bookkeeping of candidates
//! is in `candidates.rs`.
//!
//! A lead's score is a function of the *set* of its events, not of their
//! arrival order (README "Scoring model"): behaviour points are running
//! sums of exponentials kept as of the lead's newest event, and every
//! credit or withdrawal of a candidate adds its own decayed points.

use super::lead_block::LeadBlock;
use super::lead_key::LeadKey;
use super::slot::{
    self, cand_rule, fit_pairs, fit_slot, kind, kind_of, set_fit_pair, slot_time, value_of, Slot,
    ADMITTED, CREDITED, ORDINAL_MASK, ORDINAL_SHIFT,
};
use super::stage::{Reason, Stage};
use crate::model::{decay_factor, Model};

/// Score split at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    pub total: f64,
    pub behavior: f64,
    pub fit: f64,
}

/// How many stage changes a lead's history keeps (the newest).
pub const HISTORY_LEN: usize = 5;

/// One stage change in a lead's recent history (`/leads/{id}`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    pub from: Stage,
    pub to: Stage,
    pub reason: Reason,
    pub at_ms: i64,
}

impl LeadBlock {
    /// The lead's funnel stage.
    #[inline]
    pub(crate) fn stage(&self) -> Stage {
        Stage::from_u8(self.stage_bits()).unwrap_or_default()
    }

    /// Adds `delta` points (as of the last event) to decay group `g`.
    pub(crate) fn add_to_group(&mut self, g: u8, delta: f64) {
        if g == 0 {
            self.set_total0(self.total0() + delta);
            return;
        }
        match self
            .tagged_mut()
            .iter_mut()
            .find(|s| kind_of(s) == kind::TOTAL && slot::total_group(s) == g)
        {
            Some(s) => s.b = (value_of(s) + delta).to_bits(),
            None => {
                // Room is kept for this (see `candidates::FULL_AT`).
                self.push(slot::total(g, delta));
            }
        }
    }

    /// Moves the lead's reference time forward to `t` (its newest event):
    /// every running total and folded value is decayed to `t`. Earlier
    /// times change nothing.
    pub(crate) fn advance_to(&mut self, model: &Model, t: i64) {
        let last = self.last_event_ms();
        if t <= last {
            return;
        }
        let dt = t - last;
        let t0 = self.total0();
        if t0 != 0.0 {
            self.set_total0(t0 * decay_factor(dt, model.half_life_of_group(0)));
        }
        for s in self.tagged_mut() {
            let group = match kind_of(s) {
                kind::TOTAL => slot::total_group(s),
                kind::FOLDED => model.rules[usize::from(cand_rule(s))].group,
                _ => continue,
            };
            let v = value_of(s);
            if v != 0.0 {
                s.b = (v * decay_factor(dt, model.half_life_of_group(group))).to_bits();
            }
        }
        self.set_last_event_ms(t);
    }

    /// Behaviour points at event time `at`.
    #[inline]
    pub(crate) fn behavior_at(&self, model: &Model, at: i64) -> f64 {
        let dt = at - self.last_event_ms();
        let t0 = self.total0();
        let mut b = if t0 == 0.0 {
            0.0
        } else {
            t0 * decay_factor(dt, model.half_life_of_group(0))
        };
        if model.decay_groups.len() > 1 {
            for s in self.tagged() {
                if kind_of(s) == kind::TOTAL {
                    let g = slot::total_group(s);
                    b += value_of(s) * decay_factor(dt, model.half_life_of_group(g));
                }
            }
        }
        b
    }

    /// Calls `f(group, total)` for each decay group's behaviour total.
    pub(crate) fn for_each_group_total(&self, mut f: impl FnMut(u8, f64)) {
        f(0, self.total0());
        for s in self.tagged() {
            if kind_of(s) == kind::TOTAL {
                f(slot::total_group(s), value_of(s));
            }
        }
    }

    /// When the decay sweep looks at this promoted lead next, if scheduled.
    pub(crate) fn recycle_due(&self) -> Option<i64> {
        self.tagged()
            .iter()
            .find(|s| kind_of(s) == kind::PROMOTED)
            .map(slot_time)
    }

    /// Sets (`Some`) or removes (`None`) the lead's next decay check.
    pub(crate) fn set_recycle_due(&mut self, due: Option<i64>) {
        let at = self
            .tagged()
            .iter()
            .position(|s| kind_of(s) == kind::PROMOTED);
        match (at, due) {
            (Some(i), Some(d)) => self.tagged_mut()[i] = slot::promoted(d),
            (Some(i), None) => self.remove_tagged(i),
            (None, Some(d)) => {
                // Room is kept for this (see `candidates::FULL_AT`).
                self.push(slot::promoted(d));
            }
            (None, None) => {}
        }
    }

    /// Fit points (they do not decay).
    #[inline]
    pub(crate) fn fit_points(&self, model: &Model) -> f64 {
        let mut fit = 0.0;
        for s in self.tagged() {
            if kind_of(s) == kind::FIT {
                for (_, rule, outcome) in fit_pairs(s) {
                    fit += model.fit[usize::from(rule)].points_of(outcome);
                }
            }
        }
        fit
    }

    /// Behaviour and fit points at event time `at`.
    #[inline]
    pub(crate) fn score_at(&self, model: &Model, at: i64) -> Score {
        let behavior = self.behavior_at(model, at);
        let fit = self.fit_points(model);
        Score {
            total: behavior + fit,
            behavior,
            fit,
        }
    }

    /// Records fit rule `rule`'s outcome from a profile at `t`: the newest
    /// profile carrying the attribute wins (at equal times the higher
    /// points, then the higher outcome), whatever the arrival order.
    pub(crate) fn set_fit(&mut self, model: &Model, rule: u8, outcome: u8, t: i64) {
        let rank = |o: u8| (model.fit[usize::from(rule)].points_of(o), o);
        let mut current = None;
        for (i, s) in self.tagged().iter().enumerate() {
            if kind_of(s) == kind::FIT {
                if let Some((p, _, o)) = fit_pairs(s).find(|(_, r, _)| *r == rule) {
                    current = Some((i, p, slot_time(s), o));
                    break;
                }
            }
        }
        if let Some((i, p, as_of, o)) = current {
            let newer = t > as_of || (t == as_of && rank(outcome) > rank(o));
            if !newer {
                return;
            }
            let s = &mut self.tagged_mut()[i];
            set_fit_pair(s, p, None);
            if s.b == u64::MAX {
                self.remove_tagged(i);
            }
        }
        // Join a fit slot of the same time with a free pair, or start one.
        let free = self.tagged().iter().enumerate().find_map(|(i, s)| {
            (kind_of(s) == kind::FIT && slot_time(s) == t)
                .then(|| (0..4).find(|p| (s.b >> (16 * p)) & 0xffff == 0xffff))
                .flatten()
                .map(|p| (i, p))
        });
        match free {
            Some((i, p)) => set_fit_pair(&mut self.tagged_mut()[i], p, Some((rule, outcome))),
            None => {
                let mut s = fit_slot(t);
                set_fit_pair(&mut s, 0, Some((rule, outcome)));
                self.push(s);
            }
        }
    }

    /// Ids of the SQL signals active at `at`, as a bit set (bit i = signal
    /// i; models have at most 64 signals): admitted candidates of each
    /// signal's rule within its window. Allocation-free.
    pub(crate) fn signal_mask(&self, model: &Model, at: i64) -> u64 {
        if model.signals.is_empty() {
            return 0;
        }
        let mut counts = [0u32; 64];
        for s in self.tagged() {
            if kind_of(s) != kind::CANDIDATE || s.a & ADMITTED == 0 {
                continue;
            }
            let t = slot_time(s);
            for &sig in &model.rules[usize::from(cand_rule(s))].signals {
                let within = model.signals[usize::from(sig)].within_ms;
                if t <= at && t > at - within {
                    counts[usize::from(sig)] += 1;
                }
            }
        }
        model
            .signals
            .iter()
            .enumerate()
            .filter(|(i, sig)| counts[*i] >= sig.min_count)
            .fold(0u64, |m, (i, _)| m | (1 << i))
    }

    /// The ordinals slot (entry counts and hold), if the lead ever changed stage.
    fn ordinals(&self) -> Option<&Slot> {
        self.tagged().iter().find(|s| kind_of(s) == kind::ORDINALS)
    }

    /// Whether the lead ever changed stage (such leads are never evicted:
    /// their entry counts keep their change ids unique).
    #[inline]
    pub(crate) fn ever_changed_stage(&self) -> bool {
        self.ordinals().is_some()
    }

    /// How often the lead entered `to`.
    pub(crate) fn entries_into(&self, to: Stage) -> u32 {
        let i = ordinal_index(to);
        self.ordinals()
            .map_or(0, |s| ((s.a >> ORDINAL_SHIFT[i]) & ORDINAL_MASK[i]) as u32)
    }

    /// A stage reached by an instant rule is not recycled before this (0: no hold).
    pub(crate) fn hold_until_ms(&self) -> i64 {
        self.ordinals().map_or(0, |s| s.b as i64)
    }

    /// Records a stage change: the new stage, one more entry into `to`
    /// (returned: the ordinal of this entry), the hold (if given), and the
    /// change in the bounded history.
    pub(crate) fn record_transition(
        &mut self,
        from: Stage,
        to: Stage,
        reason: &Reason,
        instant_rule: u16,
        at_ms: i64,
        hold_until_ms: Option<i64>,
    ) -> u32 {
        self.set_stage_bits(to as u8);
        if self.ordinals().is_none() {
            self.push(Slot {
                a: kind::ORDINALS,
                b: 0,
            });
        }
        let i = ordinal_index(to);
        let slots = self.tagged_mut();
        let o = slots
            .iter_mut()
            .find(|s| kind_of(s) == kind::ORDINALS)
            .expect("just ensured");
        let n = (((o.a >> ORDINAL_SHIFT[i]) & ORDINAL_MASK[i]) + 1).min(ORDINAL_MASK[i]);
        o.a = (o.a & !(ORDINAL_MASK[i] << ORDINAL_SHIFT[i])) | (n << ORDINAL_SHIFT[i]);
        if let Some(h) = hold_until_ms {
            o.b = h as u64;
        }
        let history = self
            .tagged()
            .iter()
            .filter(|s| kind_of(s) == kind::TRANSITION)
            .count();
        if history >= HISTORY_LEN {
            let oldest = self
                .tagged()
                .iter()
                .position(|s| kind_of(s) == kind::TRANSITION)
                .expect("history is not empty");
            self.remove_tagged(oldest);
        }
        let (code, rule) = match reason {
            Reason::ScoreThreshold => (0, 0),
            Reason::InstantRule(_) => (1, instant_rule),
            Reason::SqlSignal => (2, 0),
            Reason::RecycledDecay => (3, 0),
        };
        self.push(slot::transition(from as u8, to as u8, code, rule, at_ms));
        n as u32
    }

    /// The recent stage changes, oldest first.
    pub(crate) fn history(&self, model: &Model) -> Vec<HistoryEntry> {
        self.tagged()
            .iter()
            .filter(|s| kind_of(s) == kind::TRANSITION)
            .map(|s| {
                let from = Stage::from_u8(((s.a >> 3) & 3) as u8).unwrap_or_default();
                let to = Stage::from_u8(((s.a >> 5) & 3) as u8).unwrap_or_default();
                let reason = match (s.a >> 7) & 3 {
                    0 => Reason::ScoreThreshold,
                    1 => Reason::InstantRule(
                        model
                            .rules
                            .get(((s.a >> 9) & 0x7ff) as usize)
                            .map_or_else(String::new, |r| r.name.clone()),
                    ),
                    2 => Reason::SqlSignal,
                    _ => Reason::RecycledDecay,
                };
                HistoryEntry {
                    from,
                    to,
                    reason,
                    at_ms: s.b as i64,
                }
            })
            .collect()
    }

    /// Whether the lead may be forgotten at sweep time `at` (README
    /// "Eviction"): in stage `lead`, never changed stage, no event for
    /// `evict_after_days`, behaviour points decayed below the threshold.
    pub(crate) fn evictable(&self, model: &Model, at: i64) -> bool {
        let Some(after) = model.eviction.after_ms else {
            return false;
        };
        self.stage() == Stage::Lead
            && self.last_event_ms().saturating_add(after) <= at
            && !self.ever_changed_stage()
            && self.behavior_at(model, at).abs() < model.eviction.below_points
    }

    /// Credited events and decayed points of each rule at `at`, as
    /// `(rule, count, points)`, from folded values and live credited
    /// candidates (the explanation's bookkeeping, computed only when an
    /// explanation is wanted).
    pub(crate) fn rule_points(&self, model: &Model, at: i64) -> Vec<(u16, u32, f64)> {
        let last = self.last_event_ms();
        let mut out: Vec<(u16, u32, f64)> = Vec::new();
        let mut add =
            |rule: u16, count: u32, points: f64| match out.iter_mut().find(|(r, ..)| *r == rule) {
                Some(e) => {
                    e.1 = e.1.saturating_add(count);
                    e.2 += points;
                }
                None => out.push((rule, count, points)),
            };
        for s in self.tagged() {
            match kind_of(s) {
                kind::FOLDED => {
                    let rule = cand_rule(s);
                    let h = model.half_life_of_group(model.rules[usize::from(rule)].group);
                    let count = u32::try_from(slot::folded_count(s)).unwrap_or(u32::MAX);
                    add(rule, count, value_of(s) * decay_factor(at - last, h));
                }
                kind::CANDIDATE if s.a & CREDITED != 0 => {
                    let rule = cand_rule(s);
                    let r = &model.rules[usize::from(rule)];
                    let h = model.half_life_of_group(r.group);
                    add(rule, 1, r.points * decay_factor(at - slot_time(s), h));
                }
                _ => {}
            }
        }
        out
    }

    /// Each fit rule's points, as `(fit rule, points)`.
    pub(crate) fn fit_values(&self, model: &Model) -> Vec<(u8, f64)> {
        let mut v = Vec::new();
        for s in self.tagged() {
            if kind_of(s) == kind::FIT {
                for (_, rule, outcome) in fit_pairs(s) {
                    v.push((rule, model.fit[usize::from(rule)].points_of(outcome)));
                }
            }
        }
        v.sort_by_key(|(r, _)| *r);
        v
    }
}

/// Index of a stage's counter in the ordinals slot.
fn ordinal_index(to: Stage) -> usize {
    match to {
        Stage::Mql => 0,
        Stage::Sql => 1,
        Stage::Lead => 2,
    }
}

/// A copy of one lead's state, for reading: tests, `/leads/{id}`, tools.
/// Taken under the table's lock, so it is consistent, and detached from
/// the task (later events do not change it).
#[derive(Clone, PartialEq)]
pub struct LeadState {
    pub(crate) block: LeadBlock,
}

impl std::fmt::Debug for LeadState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.block.fmt(f)
    }
}

impl LeadState {
    /// The lead id.
    pub fn lead_id(&self) -> String {
        self.block.id_text()
    }

    /// Whether this is the lead `key`, without building the id's text.
    pub fn has_key(&self, key: &LeadKey) -> bool {
        self.block.has_id(&key.as_id())
    }

    /// The funnel stage.
    pub fn stage(&self) -> Stage {
        self.block.stage()
    }

    /// Newest event time applied to the lead.
    pub fn last_event_ms(&self) -> i64 {
        self.block.last_event_ms()
    }

    /// Behaviour and fit points at event time `at_ms`.
    pub fn score_at(&self, model: &Model, at_ms: i64) -> Score {
        self.block.score_at(model, at_ms)
    }

    /// Ids of the SQL signals active at `at_ms`.
    pub fn active_signals(&self, model: &Model, at_ms: i64) -> Vec<u16> {
        let mask = self.block.signal_mask(model, at_ms);
        (0..model.signals.len() as u16)
            .filter(|i| mask & (1 << i) != 0)
            .collect()
    }

    /// Credited events per rule id (live and folded), for checks that the
    /// credits, not only the sums, agree.
    pub fn credited_counts(&self, model: &Model) -> std::collections::BTreeMap<u16, u32> {
        self.block
            .rule_points(model, self.last_event_ms())
            .into_iter()
            .filter(|(_, c, _)| *c > 0)
            .map(|(r, c, _)| (r, c))
            .collect()
    }

    /// A stage reached by an instant rule is not recycled before this (0: no hold).
    pub fn hold_until_ms(&self) -> i64 {
        self.block.hold_until_ms()
    }

    /// How often the lead entered `stage` (the ordinal in its change ids).
    pub fn entries_into(&self, stage: Stage) -> u32 {
        self.block.entries_into(stage)
    }

    /// The lead's recent stage changes, oldest first (at most [`HISTORY_LEN`]).
    pub fn history(&self, model: &Model) -> Vec<HistoryEntry> {
        self.block.history(model)
    }

    /// Slots the lead holds, header and id included (16 bytes each).
    pub fn slot_count(&self) -> usize {
        self.block.all().len()
    }
}
