//! When the decay sweep needs to look at a promoted lead again. Exists so
//! a sweep costs time for the leads that may recycle at its boundary, not
//! for every promoted lead: at 1M leads with 150k promoted, checking them
//! all took over 100 ms of the task thread every hour of event time.
//!
//! For each promoted lead the task keeps the earliest event time at which
//! its score could fall below its stage's recycle threshold (a safe lower
//! bound, see [`earliest_recycle`]), in the lead (`PROMOTED` slot) and in
//! this ordered set. A sweep takes the entries due at its boundary, checks
//! those leads exactly as a full sweep would, and schedules the ones that
//! stay for later. Entries are never searched for: an event that brings a
//! lead's time earlier adds an entry, and an entry whose time is no longer
//! the lead's is skipped when it comes due.

use std::collections::BTreeSet;

use super::lead_block::LeadBlock;
use super::lead_key::LeadKey;
use super::slot::TIME_MASK;
use super::stage::Stage;
use crate::model::Model;

/// "Never": later than any event time (the largest 48-bit time).
pub(crate) const NEVER: i64 = TIME_MASK as i64;

/// Due times of promoted leads, in time then id order.
#[derive(Debug, Default)]
pub(crate) struct RecycleSchedule {
    due: BTreeSet<(i64, LeadKey)>,
}

impl RecycleSchedule {
    /// Schedules `key` for a check at the first sweep at or after `due`.
    pub(crate) fn insert(&mut self, due: i64, key: LeadKey) {
        if due < NEVER {
            self.due.insert((due, key));
        }
    }

    /// Removes and returns the entries due at or before `at_ms`.
    pub(crate) fn take_due(&mut self, at_ms: i64) -> Vec<(i64, LeadKey)> {
        let mut taken = Vec::new();
        while let Some(first) = self.due.first() {
            if first.0 > at_ms {
                break;
            }
            taken.extend(self.due.pop_first());
        }
        taken
    }

    /// Builds a schedule from `(due, lead)` entries (a snapshot restore).
    pub(crate) fn from_entries(entries: Vec<(i64, LeadKey)>) -> RecycleSchedule {
        RecycleSchedule {
            due: entries.into_iter().filter(|(d, _)| *d < NEVER).collect(),
        }
    }
}

/// The earliest event time at which `lead` could be recycled by decay: never
/// before its hold ends, and never while a lower bound of its score stays at
/// or above its stage's threshold. The bound takes positive behaviour points
/// as decaying at the fastest half-life among them and negative ones as not
/// decaying at all, so it is never above the score; for the one-half-life
/// default model it is the score itself. [`NEVER`] for a lead in stage
/// `lead`, or whose bound never falls below the line.
pub(crate) fn earliest_recycle(model: &Model, lead: &LeadBlock) -> i64 {
    let st = &model.stages;
    let threshold = match lead.stage() {
        Stage::Lead => return NEVER,
        Stage::Mql => st.mql_recycle_below,
        Stage::Sql => st.sql_recycle_below,
    };
    let last = lead.last_event_ms();
    let fit = lead.fit_points(model);
    let (mut positive, mut negative) = (0.0f64, 0.0f64);
    let mut fastest: Option<f64> = None;
    let mut constant = false;
    lead.for_each_group_total(|group, total| {
        if total > 0.0 {
            positive += total;
            match model.half_life_of_group(group) {
                Some(h) => fastest = Some(fastest.map_or(h, |f: f64| f.min(h))),
                None => constant = true,
            }
        } else {
            negative += total;
        }
    });
    let floor = fit + negative;
    let due = if floor + positive < threshold {
        last
    } else if floor >= threshold || positive <= 0.0 {
        NEVER
    } else {
        match fastest {
            // Some positive points never decay: the bound stays put.
            _ if constant => NEVER,
            None => NEVER,
            Some(h) => {
                let dt = h * (positive / (threshold - floor)).log2();
                // A little early is a wasted check; a little late would be a
                // missed recycle.
                let dt = (dt * (1.0 - 1e-9)).floor() - 1.0;
                if dt >= (NEVER - last) as f64 {
                    NEVER
                } else {
                    last + dt.max(0.0) as i64
                }
            }
        }
    };
    due.max(lead.hold_until_ms()).min(NEVER)
}
