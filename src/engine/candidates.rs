//! Repeat windows, daily caps and the per-lead rate limit, kept in one
//! kind of slot: the *candidate*, the earliest event of one repeat window
//! (every event of a rule without `repeat` is its own window). Exists so
//! that which events score is a function of the set of events, not of the
//! order they arrive in (README "Scoring model", "Filters"):
//!
//! - a window's candidate is its earliest event; a later-arriving earlier
//!   event takes the place over (the old one becomes a plain repeat);
//! - a lead-minute *admits* its first `max_events_per_lead_per_minute`
//!   candidates by (time, rule, key); the others are rate-limited, and an
//!   earlier candidate arriving late displaces the latest admitted one;
//! - a rule's daily cap *credits* the first admitted candidates of a UTC
//!   day by (time, key), moving credit the same way.
//!
//! Every change keeps these three invariants, so the final state is the
//! same for every arrival order. Only credited candidates carry points;
//! only admitted ones feed SQL signals. Candidates are dropped once no
//! admissible event can touch their window, minute, day or signal window
//! any more, their points folded into one value per rule.

use super::lead_block::{LeadBlock, MAX_SLOTS};
use super::slot::{
    self, cand_rule, candidate, kind, kind_of, rate_order, slot_time, value_of, Slot, ADMITTED,
    CREDITED,
};
use crate::model::{decay_factor, Model, Repeat, DAY_MS};

/// A lead stops taking new candidates at this many slots, keeping room for
/// the totals, ordinals and history a change may add. Only a flood of
/// distinct pages or assets from one lead gets here; its further new
/// windows are rate-limited (the one arrival-order-dependent verdict).
pub(crate) const FULL_AT: usize = MAX_SLOTS - 16;

/// What happened to a matched event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Candidacy {
    /// A later event of a window that already has its candidate: no effect.
    Repeat,
    /// The window's candidate, admitted by the rate limit.
    Admitted,
    /// The window's candidate, beyond the lead-minute's limit.
    RateLimited,
    /// The lead holds too many slots to take a new window.
    Full,
}

/// Verdicts of other events that this event changed (README "Filters":
/// how outcome counts are defined).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flips {
    /// Earlier events, admitted when they arrived, now rate-limited.
    pub displaced: u32,
    /// Earlier events, rate-limited when they arrived, now counted as scored.
    pub readmitted: u32,
}

/// For each rule, the time before which its candidates are forgotten, for
/// one horizon (every event from now on is at or after `horizon_ms`, the
/// watermark minus the allowed lateness): a candidate goes once no such
/// event can fall in its repeat window, its minute (rate limit) or its UTC
/// day (daily cap), and, if it is admitted and feeds an SQL signal, once it
/// is out of the signal's window. Computed once per horizon, so the check
/// per candidate is one comparison.
#[derive(Debug, Default)]
pub(crate) struct ExpiryCutoffs {
    horizon_ms: Option<i64>,
    /// `(cutoff, cutoff if admitted)` per rule id.
    by_rule: Vec<(i64, i64)>,
}

impl ExpiryCutoffs {
    /// Makes the cutoffs those of `horizon_ms` taken down to its minute (a
    /// no-op if they are): forgetting candidates up to a minute later than
    /// possible costs nothing, and recomputing once per minute of event
    /// time instead of at every event does. Still a function of the
    /// horizon alone, so a restored task prunes exactly as the original.
    pub(crate) fn update(&mut self, model: &Model, horizon_ms: i64) {
        let h = horizon_ms.div_euclid(60_000).saturating_mul(60_000);
        if self.horizon_ms == Some(h) && self.by_rule.len() == model.rules.len() {
            return;
        }
        self.horizon_ms = Some(h);
        let limit = model.filters.max_events_per_lead_per_minute;
        let floor_to = |unit: i64| h.div_euclid(unit).saturating_mul(unit);
        self.by_rule.clear();
        self.by_rule.extend(model.rules.iter().map(|r| {
            let mut cut = match r.repeat {
                None => i64::MAX,
                Some(Repeat {
                    window_ms: Some(w), ..
                }) => floor_to(w),
                Some(Repeat {
                    window_ms: None, ..
                }) => i64::MIN,
            };
            if limit > 0 {
                cut = cut.min(floor_to(60_000));
            }
            if r.daily_cap_hits.is_some() {
                cut = cut.min(floor_to(DAY_MS));
            }
            let signal = if r.signal_within_ms > 0 {
                cut.min(h.saturating_sub(r.signal_within_ms).saturating_add(1))
            } else {
                cut
            };
            (cut, signal)
        }));
    }
}

/// Whether `s` is a candidate.
#[inline(always)]
fn is_cand(s: &Slot) -> bool {
    kind_of(s) == kind::CANDIDATE
}

/// The order of candidates under a daily cap: time, then key.
#[inline(always)]
fn cap_order(s: &Slot) -> (i64, u64) {
    (slot_time(s), s.b)
}

/// The event-time span `[start, end)` of the unit of length `unit` that `t`
/// falls in (a minute, a day, a repeat window), so membership tests are
/// comparisons rather than divisions.
#[inline(always)]
fn span(t: i64, unit: i64) -> (i64, i64) {
    let start = t.div_euclid(unit) * unit;
    (start, start.saturating_add(unit))
}

/// Whether `at` lies in `span`.
#[inline(always)]
fn within(at: i64, (start, end): (i64, i64)) -> bool {
    at >= start && at < end
}

/// The span of event times that share `t`'s repeat window (`None` for a
/// rule without `repeat`: only `t` itself; all time for a once-ever rule).
#[inline(always)]
fn window_span(repeat: Option<Repeat>, t: i64) -> (i64, i64) {
    match repeat {
        None => (t, t + 1),
        Some(Repeat {
            window_ms: Some(w), ..
        }) => span(t, w),
        Some(Repeat {
            window_ms: None, ..
        }) => (i64::MIN, i64::MAX),
    }
}

/// How many candidates pass a filter, and the greatest of them by an order.
type CountAndLatest<K> = (u32, Option<(usize, K)>);

impl LeadBlock {
    /// The candidates (by tagged index) for which `keep` holds: how many,
    /// and the greatest by `order`.
    fn count_and_latest<K: Ord + Copy>(
        &self,
        keep: impl Fn(usize, &Slot) -> bool,
        order: impl Fn(&Slot) -> K,
    ) -> CountAndLatest<K> {
        let mut count = 0u32;
        let mut latest: Option<(usize, K)> = None;
        for (j, s) in self.tagged().iter().enumerate() {
            if is_cand(s) && keep(j, s) {
                count += 1;
                let o = order(s);
                if latest.is_none_or(|(_, l)| o > l) {
                    latest = Some((j, o));
                }
            }
        }
        (count, latest)
    }

    /// The least candidate (by tagged index) for which `keep` holds, by `order`.
    fn first_where<K: Ord>(
        &self,
        keep: impl Fn(usize, &Slot) -> bool,
        order: impl Fn(&Slot) -> K,
    ) -> Option<usize> {
        self.tagged()
            .iter()
            .enumerate()
            .filter(|(j, s)| is_cand(s) && keep(*j, s))
            .min_by_key(|(_, s)| order(s))
            .map(|(j, _)| j)
    }

    /// Applies a matched event of `rule` at `t` whose window is named by
    /// `key`, keeping the invariants of the module docs.
    pub(crate) fn apply_candidate(
        &mut self,
        model: &Model,
        rule: u16,
        key: u64,
        t: i64,
        flips: &mut Flips,
    ) -> Candidacy {
        let r = &model.rules[usize::from(rule)];
        let (repeat, cap) = (r.repeat, r.daily_cap_hits);
        let limit = model.filters.max_events_per_lead_per_minute;
        let (window, in_m, in_d) = (window_span(repeat, t), span(t, 60_000), span(t, DAY_MS));
        // One pass: the window's candidate if it has one, and what the
        // common case (a new window) needs to admit and credit the event.
        let mut existing = None;
        let (mut in_minute, mut minute_latest) = (0u32, None::<(usize, (u64, u64))>);
        let (mut in_day, mut day_latest) = (0u32, None::<(usize, (i64, u64))>);
        for (j, s) in self.tagged().iter().enumerate() {
            if !is_cand(s) {
                continue;
            }
            let at = slot_time(s);
            let same_rule = cand_rule(s) == rule;
            if same_rule && s.b == key && within(at, window) {
                existing = Some(j);
                break;
            }
            if s.a & ADMITTED != 0 && within(at, in_m) {
                in_minute += 1;
                let o = rate_order(s);
                if minute_latest.is_none_or(|(_, l)| o > l) {
                    minute_latest = Some((j, o));
                }
            }
            if cap.is_some() && same_rule && s.a & CREDITED != 0 && within(at, in_d) {
                in_day += 1;
                let o = cap_order(s);
                if day_latest.is_none_or(|(_, l)| o > l) {
                    day_latest = Some((j, o));
                }
            }
        }
        match existing {
            Some(i) if slot_time(&self.tagged()[i]) <= t => return Candidacy::Repeat,
            Some(i) => {
                // An earlier event takes the window over: the general path.
                self.withdraw(model, i, flips);
                self.push(candidate(rule, t, key));
                let me = self.tagged().len() - 1;
                return if self.admit_new(model, me, flips) {
                    Candidacy::Admitted
                } else {
                    Candidacy::RateLimited
                };
            }
            None if self.all().len() >= FULL_AT => return Candidacy::Full,
            None => {}
        }
        let c = candidate(rule, t, key);
        self.push(c);
        let me = self.tagged().len() - 1;
        if limit > 0 && in_minute >= limit {
            return match minute_latest {
                Some((j, l)) if rate_order(&c) < l => {
                    self.un_admit(model, j);
                    flips.displaced += 1;
                    // The displaced one may have moved its day's credit.
                    self.admit(model, me);
                    Candidacy::Admitted
                }
                _ => Candidacy::RateLimited,
            };
        }
        self.tagged_mut()[me].a |= ADMITTED;
        match cap {
            None => self.credit(model, me),
            Some(cap) if in_day < cap => self.credit(model, me),
            Some(_) => {
                if let Some((j, l)) = day_latest {
                    if cap_order(&c) < l {
                        self.uncredit(model, j);
                        self.credit(model, me);
                    }
                }
            }
        }
        Candidacy::Admitted
    }

    /// Removes candidate `i` (an earlier event took its window): its
    /// minute's place goes to the best waiting candidate, and the event
    /// itself becomes a plain repeat.
    fn withdraw(&mut self, model: &Model, i: usize, flips: &mut Flips) {
        let s = self.tagged()[i];
        if s.a & ADMITTED != 0 {
            self.un_admit(model, i);
            let m = span(slot_time(&s), 60_000);
            let waiting = self.first_where(
                |j, c| j != i && c.a & ADMITTED == 0 && within(slot_time(c), m),
                rate_order,
            );
            if let Some(j) = waiting {
                self.admit(model, j);
                flips.readmitted += 1;
            }
        } else {
            // Rate-limited when it arrived; a repeat is never rate-limited.
            flips.readmitted += 1;
        }
        self.remove_tagged(i);
    }

    /// Admits the new candidate `me` if its lead-minute has room, or if it
    /// comes before the minute's latest admitted candidate (which is then
    /// displaced). Returns whether `me` was admitted.
    fn admit_new(&mut self, model: &Model, me: usize, flips: &mut Flips) -> bool {
        let limit = model.filters.max_events_per_lead_per_minute;
        if limit > 0 {
            let c = self.tagged()[me];
            let m = span(slot_time(&c), 60_000);
            let (count, latest) = self.count_and_latest(
                |j, s| j != me && s.a & ADMITTED != 0 && within(slot_time(s), m),
                rate_order,
            );
            if count >= limit {
                match latest {
                    Some((j, l)) if rate_order(&c) < l => {
                        self.un_admit(model, j);
                        flips.displaced += 1;
                    }
                    _ => return false,
                }
            }
        }
        self.admit(model, me);
        true
    }

    /// Marks candidate `i` admitted and credits it if its rule's daily cap
    /// has room or it comes before the day's latest credited candidate.
    fn admit(&mut self, model: &Model, i: usize) {
        self.tagged_mut()[i].a |= ADMITTED;
        let c = self.tagged()[i];
        let rule = cand_rule(&c);
        let Some(cap) = model.rules[usize::from(rule)].daily_cap_hits else {
            self.credit(model, i);
            return;
        };
        let d = span(slot_time(&c), DAY_MS);
        let (count, latest) = self.count_and_latest(
            |j, s| j != i && s.a & CREDITED != 0 && cand_rule(s) == rule && within(slot_time(s), d),
            cap_order,
        );
        if count < cap {
            self.credit(model, i);
        } else if let Some((j, l)) = latest {
            if cap_order(&c) < l {
                self.uncredit(model, j);
                self.credit(model, i);
            }
        }
    }

    /// Takes candidate `i`'s admission away; if it was credited, its day's
    /// credit goes to the best admitted candidate waiting under the cap.
    fn un_admit(&mut self, model: &Model, i: usize) {
        self.tagged_mut()[i].a &= !ADMITTED;
        let c = self.tagged()[i];
        if c.a & CREDITED == 0 {
            return;
        }
        self.uncredit(model, i);
        let rule = cand_rule(&c);
        if model.rules[usize::from(rule)].daily_cap_hits.is_none() {
            return;
        }
        let d = span(slot_time(&c), DAY_MS);
        let waiting = self.first_where(
            |_, s| {
                s.a & (ADMITTED | CREDITED) == ADMITTED
                    && cand_rule(s) == rule
                    && within(slot_time(s), d)
            },
            cap_order,
        );
        if let Some(j) = waiting {
            self.credit(model, j);
        }
    }

    /// Adds candidate `i`'s points to its decay group's total.
    fn credit(&mut self, model: &Model, i: usize) {
        self.tagged_mut()[i].a |= CREDITED;
        self.add_points_of(model, i, 1.0);
    }

    /// Withdraws candidate `i`'s points from its decay group's total.
    fn uncredit(&mut self, model: &Model, i: usize) {
        self.tagged_mut()[i].a &= !CREDITED;
        self.add_points_of(model, i, -1.0);
    }

    /// Adds `sign` times candidate `i`'s points, decayed from its time to
    /// the lead's last event.
    fn add_points_of(&mut self, model: &Model, i: usize, sign: f64) {
        let c = self.tagged()[i];
        let r = &model.rules[usize::from(cand_rule(&c))];
        let h = model.half_life_of_group(r.group);
        let points = r.points * decay_factor(self.last_event_ms() - slot_time(&c), h);
        self.add_to_group(r.group, sign * points);
    }

    /// Drops candidates no admissible event can touch any more (see
    /// [`ExpiryCutoffs`]), folding credited points into one value per rule.
    pub(crate) fn prune(&mut self, model: &Model, cutoffs: &ExpiryCutoffs) {
        let cut = &cutoffs.by_rule;
        let expired = |s: &Slot| -> bool {
            is_cand(s) && {
                let (base, signal) = cut[usize::from(cand_rule(s))];
                slot_time(s) < if s.a & ADMITTED != 0 { signal } else { base }
            }
        };
        if !self.tagged().iter().any(expired) {
            return;
        }
        let last = self.last_event_ms();
        let mut folds: Vec<(u16, f64)> = Vec::new();
        for s in self.tagged() {
            if expired(s) && s.a & CREDITED != 0 {
                let rule = cand_rule(s);
                let r = &model.rules[usize::from(rule)];
                let h = model.half_life_of_group(r.group);
                folds.push((rule, r.points * decay_factor(last - slot_time(s), h)));
            }
        }
        self.retain_tagged(|s| !expired(s));
        for (rule, points) in folds {
            let found = self
                .tagged_mut()
                .iter_mut()
                .find(|s| kind_of(s) == kind::FOLDED && cand_rule(s) == rule);
            match found {
                Some(s) => {
                    let count = slot::folded_count(s) + 1;
                    *s = slot::folded(rule, count, value_of(s) + points);
                }
                None => {
                    self.push(slot::folded(rule, 1, points));
                }
            }
        }
    }
}
