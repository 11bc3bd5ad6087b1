//! The state of one task (one partition of the inbound topics) and the two
//! things that change it: applying an event and the decay sweep.
//!
//! Deterministic: the same model, state and event always give the same
//! result. No clock, no randomness, no IO.

use std::collections::BTreeSet;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use dashmap::DashMap;
use xxhash_rust::xxh3::{xxh3_64, Xxh3Default};

use super::change::{change_id, explain, StageChange, Trigger};
use super::dedupe::SeenEvents;
use super::lead::LeadState;
use super::outcome::Outcome;
use super::stage::{Reason, Stage};
use crate::event::{Event, EventBody};
use crate::model::Model;

/// The sharded lead map of a task: the task writes, HTTP lookups read.
pub type LeadMap = DashMap<Box<str>, LeadState, BuildHasherDefault<Xxh3Default>>;

/// The result of applying one event.
#[derive(Debug, Default)]
pub struct Applied {
    pub outcome: Option<Outcome>,
    /// Changes from the decay sweep this event's time triggered (first), then
    /// from the event itself.
    pub changes: Vec<StageChange>,
}

/// All state of one task. Everything that decides a future outcome is here,
/// and all of it goes into the snapshot.
#[derive(Debug)]
pub struct TaskState {
    pub leads: Arc<LeadMap>,
    /// Leads not in stage `lead`, in id order: the only ones a sweep can recycle.
    pub promoted: BTreeSet<Box<str>>,
    pub seen: SeenEvents,
    /// Max event time seen (`i64::MIN` before the first event).
    pub watermark_ms: i64,
    /// Sweep boundary (a multiple of the sweep interval) last swept.
    pub last_sweep_ms: i64,
}

impl Default for TaskState {
    fn default() -> Self {
        TaskState {
            leads: Arc::new(LeadMap::default()),
            promoted: BTreeSet::new(),
            seen: SeenEvents::default(),
            watermark_ms: i64::MIN,
            last_sweep_ms: i64::MIN,
        }
    }
}

impl TaskState {
    /// Applies one valid event: dedupe, lateness, bot and rate filters, the
    /// sweep its time triggers, scoring, then the stage machine.
    pub fn apply(&mut self, model: &Model, event: &Event<'_>) -> Applied {
        let mut out = Applied::default();
        let t = event.occurred_at_ms;
        let f = &model.filters;
        if self.watermark_ms != i64::MIN && t < self.watermark_ms.saturating_sub(f.max_lateness_ms)
        {
            out.outcome = Some(Outcome::Late);
            return out;
        }
        if !self.seen.insert(SeenEvents::hash_id(&event.event_id), t) {
            out.outcome = Some(Outcome::Duplicate);
            return out;
        }
        if let Some(ua) = event.web().and_then(|w| w.user_agent.as_deref()) {
            if model.is_bot(ua) {
                out.outcome = Some(Outcome::Bot);
                return out;
            }
        }
        if t > self.watermark_ms {
            self.advance_watermark(model, t, &mut out.changes);
        }

        let lead_id: &str = &event.lead_id;
        let mut entry = match self.leads.get_mut(lead_id) {
            Some(e) => e,
            None => {
                self.leads.insert(Box::from(lead_id), LeadState::default());
                self.leads.get_mut(lead_id).expect("just inserted")
            }
        };
        let lead = entry.value_mut();
        if !lead.admit_rate(f.max_events_per_lead_per_minute, t) {
            out.outcome = Some(Outcome::RateLimited);
            return out;
        }
        out.outcome = Some(Outcome::Scored);
        lead.last_event_ms = lead.last_event_ms.max(t);
        // A promoted lead's total before this event: an event recycles a
        // lead only when it lowers the score (negative points, a lower fit).
        let before =
            (lead.stage != Stage::Lead).then(|| lead.score_at(model, lead.last_event_ms).total);

        let mut matched = None;
        if let EventBody::Profile(p) = &event.body {
            for (i, fr) in model.fit.iter().enumerate() {
                if let Some(points) = fr.points_for(p) {
                    lead.set_fit(i as u16, points, t);
                }
            }
        } else if let Some(rule) = model.match_rule(event) {
            let r = &model.rules[rule as usize];
            let key = r
                .repeat
                .and_then(|rep| rep.key.value(&event.body))
                .map(|v| xxh3_64(v.as_bytes()));
            lead.apply_rule(model, rule, key, t);
            matched = Some(rule);
        }
        lead.prune(model, self.watermark_ms.saturating_sub(f.max_lateness_ms));

        let at = lead.last_event_ms;
        let score = lead.score_at(model, at);
        let signals = lead.signal_mask(model, at);
        let st = &model.stages;
        let from = lead.stage;
        let rule = matched.map(|r| &model.rules[r as usize]);
        let sql_ok = score.total >= st.sql_at && score.fit >= st.sql_min_fit && signals != 0;
        let transition = if from != Stage::Sql && sql_ok {
            let completes_signal =
                rule.is_some_and(|r| r.signals.iter().any(|s| signals & (1 << s) != 0));
            Some((
                Stage::Sql,
                if completes_signal {
                    Reason::SqlSignal
                } else {
                    Reason::ScoreThreshold
                },
            ))
        } else if from == Stage::Lead && rule.and_then(|r| r.instant_stage) == Some(Stage::Mql) {
            lead.hold_until_ms = at.saturating_add(st.hold_ms);
            Some((
                Stage::Mql,
                Reason::InstantRule(rule.map(|r| r.name.clone()).unwrap_or_default()),
            ))
        } else if from == Stage::Lead && score.total >= st.mql_at {
            Some((Stage::Mql, Reason::ScoreThreshold))
        } else if at >= lead.hold_until_ms
            && before.is_some_and(|b| score.total < b)
            && recycles(model, from, score.total)
        {
            // This event lowered the score below the line; decay alone is
            // left to the sweep (reason recycled_decay, no trigger event).
            Some((Stage::Lead, Reason::ScoreThreshold))
        } else {
            None
        };
        if let Some((to, reason)) = transition {
            lead.stage = to;
            let change = StageChange {
                change_id: change_id(
                    lead_id,
                    from,
                    to,
                    &Trigger::Event(event.event_id.to_string()),
                    &model.version,
                ),
                lead_id: lead_id.to_string(),
                from,
                to,
                reason,
                occurred_at_ms: at,
                score,
                model_version: model.version.clone(),
                explanation: explain(
                    model,
                    lead,
                    from,
                    to,
                    score,
                    &lead.active_signals(model, at),
                    at,
                ),
                trigger_event_id: Some(event.event_id.to_string()),
            };
            drop(entry);
            if to == Stage::Lead {
                self.promoted.remove(lead_id);
            } else if from == Stage::Lead {
                self.promoted.insert(Box::from(lead_id));
            }
            out.changes.push(change);
        }
        out
    }

    /// Moves the watermark to `t`, sweeping when it crosses a multiple of the
    /// sweep interval, and pruning the dedupe window.
    fn advance_watermark(&mut self, model: &Model, t: i64, changes: &mut Vec<StageChange>) {
        self.watermark_ms = t;
        let interval = model.stages.sweep_interval_ms;
        let boundary = t.div_euclid(interval) * interval;
        if self.last_sweep_ms == i64::MIN {
            self.last_sweep_ms = boundary;
        } else if boundary > self.last_sweep_ms {
            self.last_sweep_ms = boundary;
            self.sweep(model, boundary, changes);
            self.seen
                .prune(t.saturating_sub(model.filters.dedupe_window_ms));
        }
    }

    /// Recycles promoted leads whose decayed score at `at_ms` fell below
    /// their stage's recycle threshold (and whose hold has ended). Changes
    /// come out in lead-id order.
    pub fn sweep(&mut self, model: &Model, at_ms: i64, changes: &mut Vec<StageChange>) {
        let mut recycled = Vec::new();
        for id in &self.promoted {
            let Some(mut lead) = self.leads.get_mut(id.as_ref()) else {
                continue;
            };
            let score = lead.score_at(model, at_ms);
            let from = lead.stage;
            if at_ms < lead.hold_until_ms || !recycles(model, from, score.total) {
                continue;
            }
            lead.stage = Stage::Lead;
            let signals = lead.active_signals(model, at_ms);
            changes.push(StageChange {
                change_id: change_id(
                    id,
                    from,
                    Stage::Lead,
                    &Trigger::Sweep(at_ms),
                    &model.version,
                ),
                lead_id: id.to_string(),
                from,
                to: Stage::Lead,
                reason: Reason::RecycledDecay,
                occurred_at_ms: at_ms,
                score,
                model_version: model.version.clone(),
                explanation: explain(model, &lead, from, Stage::Lead, score, &signals, at_ms),
                trigger_event_id: None,
            });
            recycled.push(id.clone());
        }
        for id in recycled {
            self.promoted.remove(&id);
        }
    }

    /// Number of leads held.
    pub fn lead_count(&self) -> usize {
        self.leads.len()
    }
}

/// Whether a lead at `stage` with `total` falls back to `lead`.
fn recycles(model: &Model, stage: Stage, total: f64) -> bool {
    match stage {
        Stage::Lead => false,
        Stage::Mql => total < model.stages.mql_recycle_below,
        Stage::Sql => total < model.stages.sql_recycle_below,
    }
}
