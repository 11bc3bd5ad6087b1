//! The state of one lead: compact, fixed-size slots in one allocation, from
//! which the score, the active SQL signals and the explanation are derived.
//!
//! Every slot is kept so that the final state is a function of the *set* of
//! events, not of their arrival order: repeat windows and daily caps credit
//! the earliest events, and a late earlier event moves the credit to itself.

use thin_vec::ThinVec;

use super::stage::Stage;
use crate::model::{decay_factor, Model, DAY_MS};

/// One fact about a lead. 24 bytes each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot {
    /// Points of one rule: `value` as of `as_of_ms`, decaying with the
    /// rule's category; `count` credited events.
    Rule {
        rule: u16,
        count: u32,
        value: f64,
        as_of_ms: i64,
    },
    /// The earliest event of one repeat window (`key` is the xxh3 of the
    /// repeat key's value); the window is derived from `at_ms`.
    Once { rule: u16, key: u64, at_ms: i64 },
    /// One event credited under the rule's daily cap.
    CapHit { rule: u16, at_ms: i64 },
    /// One credited event feeding an SQL signal.
    Signal { signal: u16, at_ms: i64 },
    /// One fit rule's points, from the newest profile event carrying its attribute.
    Fit {
        rule: u16,
        points: f64,
        as_of_ms: i64,
    },
}

/// Score split at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Score {
    pub total: f64,
    pub behavior: f64,
    pub fit: f64,
}

/// Everything the engine keeps about one lead.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadState {
    pub stage: Stage,
    /// Events of this minute (event time) for the rate limit.
    pub rate_count: u16,
    /// Event-time minute (`t / 60_000`) that `rate_count` counts.
    pub rate_minute: u32,
    /// A stage reached by an instant rule is not recycled before this time.
    pub hold_until_ms: i64,
    /// Newest event time applied to this lead.
    pub last_event_ms: i64,
    pub slots: ThinVec<Slot>,
}

impl LeadState {
    /// Behaviour and fit points at event time `at_ms`.
    pub fn score_at(&self, model: &Model, at_ms: i64) -> Score {
        let mut behavior = 0.0;
        let mut fit = 0.0;
        for s in &self.slots {
            match *s {
                Slot::Rule {
                    rule,
                    value,
                    as_of_ms,
                    ..
                } => behavior += value * decay_factor(at_ms - as_of_ms, model.half_life_of(rule)),
                Slot::Fit { points, .. } => fit += points,
                _ => {}
            }
        }
        Score {
            total: behavior + fit,
            behavior,
            fit,
        }
    }

    /// Ids of the SQL signals active at `at_ms`.
    pub fn active_signals(&self, model: &Model, at_ms: i64) -> Vec<u16> {
        let mask = self.signal_mask(model, at_ms);
        (0..model.signals.len() as u16)
            .filter(|i| mask & (1 << i) != 0)
            .collect()
    }

    /// The SQL signals active at `at_ms` as a bit set (bit i = signal i;
    /// models have at most 64 signals). Allocation-free, for the hot path.
    pub fn signal_mask(&self, model: &Model, at_ms: i64) -> u64 {
        let mut counts = [0u32; 64];
        for s in &self.slots {
            if let Slot::Signal { signal, at_ms: t } = *s {
                let within = model.signals[signal as usize].within_ms;
                if t <= at_ms && t > at_ms - within {
                    counts[signal as usize] += 1;
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

    /// Adds `points` of `rule` earned at `t`, decayed into the rule's accumulator.
    pub(crate) fn credit(
        &mut self,
        model: &Model,
        rule: u16,
        points: f64,
        t: i64,
        count_delta: i32,
    ) {
        let h = model.half_life_of(rule);
        for s in self.slots.iter_mut() {
            if let Slot::Rule {
                rule: r,
                count,
                value,
                as_of_ms,
            } = s
            {
                if *r == rule {
                    if t >= *as_of_ms {
                        *value = *value * decay_factor(t - *as_of_ms, h) + points;
                        *as_of_ms = t;
                    } else {
                        *value += points * decay_factor(*as_of_ms - t, h);
                    }
                    *count = count.saturating_add_signed(count_delta);
                    return;
                }
            }
        }
        self.slots.push(Slot::Rule {
            rule,
            count: count_delta.max(0) as u32,
            value: points,
            as_of_ms: t,
        });
    }

    /// Applies one matched event of `rule` at `t` under the rule's repeat
    /// policy, daily cap and signals. Returns true if it was credited.
    pub(crate) fn apply_rule(
        &mut self,
        model: &Model,
        rule: u16,
        repeat_key: Option<u64>,
        t: i64,
    ) -> bool {
        let r = &model.rules[rule as usize];
        // Repeat window: only the earliest event of a window is a candidate.
        let mut replaced: Option<i64> = None;
        if let (Some(rep), Some(key)) = (r.repeat, repeat_key) {
            let bucket = rep.bucket(t);
            let existing = self.slots.iter_mut().find_map(|s| match s {
                Slot::Once {
                    rule: sr,
                    key: sk,
                    at_ms,
                } if *sr == rule && *sk == key && rep.bucket(*at_ms) == bucket => Some(at_ms),
                _ => None,
            });
            match existing {
                Some(at) if *at <= t => return false,
                Some(at) => {
                    replaced = Some(*at);
                    *at = t;
                }
                None => self.slots.push(Slot::Once {
                    rule,
                    key,
                    at_ms: t,
                }),
            }
        }
        // Signals follow candidates.
        for &sig in &r.signals {
            match replaced {
                Some(old) => {
                    if let Some(Slot::Signal { at_ms, .. }) = self
                        .slots
                        .iter_mut()
                        .find(|s| matches!(s, Slot::Signal { signal, at_ms } if *signal == sig && *at_ms == old))
                    {
                        *at_ms = t;
                    }
                }
                None => self.slots.push(Slot::Signal { signal: sig, at_ms: t }),
            }
        }
        let points = r.points;
        let Some(cap) = r.daily_cap_hits else {
            if let Some(old) = replaced {
                self.credit(model, rule, -points, old, 0);
            }
            self.credit(
                model,
                rule,
                points,
                t,
                if replaced.is_some() { 0 } else { 1 },
            );
            return true;
        };
        // Daily cap: the earliest `cap` candidates of a UTC day are credited.
        if let Some(old) = replaced {
            if let Some(Slot::CapHit { at_ms, .. }) = self.slots.iter_mut().find(
                |s| matches!(s, Slot::CapHit { rule: sr, at_ms } if *sr == rule && *at_ms == old),
            ) {
                *at_ms = t;
                self.credit(model, rule, -points, old, 0);
                self.credit(model, rule, points, t, 0);
                return true;
            }
        }
        let day = t.div_euclid(DAY_MS);
        let mut hits = 0u32;
        let mut latest: Option<(usize, i64)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            if let Slot::CapHit { rule: sr, at_ms } = *s {
                if sr == rule && at_ms.div_euclid(DAY_MS) == day {
                    hits += 1;
                    if latest.is_none_or(|(_, l)| at_ms > l) {
                        latest = Some((i, at_ms));
                    }
                }
            }
        }
        if hits < cap {
            self.slots.push(Slot::CapHit { rule, at_ms: t });
            self.credit(model, rule, points, t, 1);
            return true;
        }
        match latest {
            Some((i, l)) if t < l => {
                self.slots[i] = Slot::CapHit { rule, at_ms: t };
                self.credit(model, rule, -points, l, 0);
                self.credit(model, rule, points, t, 0);
                true
            }
            _ => false,
        }
    }

    /// Records a fit rule's points from a profile at `t`; the newest wins.
    pub(crate) fn set_fit(&mut self, rule: u16, points: f64, t: i64) {
        for s in self.slots.iter_mut() {
            if let Slot::Fit {
                rule: r,
                points: p,
                as_of_ms,
            } = s
            {
                if *r == rule {
                    if t > *as_of_ms || (t == *as_of_ms && points > *p) {
                        *p = points;
                        *as_of_ms = t;
                    }
                    return;
                }
            }
        }
        self.slots.push(Slot::Fit {
            rule,
            points,
            as_of_ms: t,
        });
    }

    /// Drops window slots that can no longer matter for events at or after
    /// `horizon_ms` (the watermark minus the allowed lateness).
    pub(crate) fn prune(&mut self, model: &Model, horizon_ms: i64) {
        let max_signal = model.signals.iter().map(|s| s.within_ms).max().unwrap_or(0);
        self.slots.retain(|s| match *s {
            Slot::Once { rule, at_ms, .. } => {
                match model.rules[rule as usize].repeat.and_then(|r| r.window_ms) {
                    Some(w) => at_ms.div_euclid(w) >= horizon_ms.div_euclid(w),
                    None => true,
                }
            }
            Slot::CapHit { at_ms, .. } => at_ms.div_euclid(DAY_MS) >= horizon_ms.div_euclid(DAY_MS),
            Slot::Signal { at_ms, .. } => at_ms > horizon_ms - max_signal,
            _ => true,
        });
    }

    /// Whether a new event at `t` fits within the per-minute rate; counts it.
    pub(crate) fn admit_rate(&mut self, limit: u32, t: i64) -> bool {
        if limit == 0 {
            return true;
        }
        let minute = t.div_euclid(60_000).clamp(0, u32::MAX as i64) as u32;
        match minute.cmp(&self.rate_minute) {
            std::cmp::Ordering::Greater => {
                self.rate_minute = minute;
                self.rate_count = 1;
                true
            }
            std::cmp::Ordering::Equal => {
                self.rate_count = self.rate_count.saturating_add(1);
                u32::from(self.rate_count) <= limit
            }
            // Late events do not count against the current minute.
            std::cmp::Ordering::Less => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 24);
        assert!(std::mem::size_of::<LeadState>() <= 32);
    }
}
