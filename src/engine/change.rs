//! The stage change the engine emits, with its deterministic id and the
//! explanation of why the lead moved.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::lead::{LeadState, Score, Slot};
use super::stage::{Reason, Stage};
use crate::model::{decay_factor, Model};

/// How many contributing rules an explanation lists.
pub const TOP_RULES: usize = 5;

/// One rule's share of a lead's score.
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub rule: String,
    pub count: u32,
    /// Decayed points at the change's `occurred_at`, rounded to 2 decimals.
    pub points: f64,
}

/// Why a lead moved, for people reading the CRM.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Explanation {
    pub top_rules: Vec<Contribution>,
    /// E.g. `total 52.00 >= mql_at 50`.
    pub thresholds: Vec<String>,
    /// SQL signals active at the change.
    pub sql_signals: Vec<String>,
    /// One sentence.
    pub summary: String,
}

/// What set a change off: an event, or a decay sweep at a watermark.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Event(String),
    Sweep(i64),
}

/// One funnel transition of one lead (DESIGN.md "Outbound stage changes"),
/// minus `emitted_at`, which is wall time and added at the edge.
#[derive(Debug, Clone, PartialEq)]
pub struct StageChange {
    pub change_id: String,
    pub lead_id: String,
    pub from: Stage,
    pub to: Stage,
    pub reason: Reason,
    pub occurred_at_ms: i64,
    pub score: Score,
    pub model_version: Arc<str>,
    pub explanation: Explanation,
    pub trigger_event_id: Option<String>,
}

/// The deterministic change id: the same transition derived again (after a
/// crash, or in a replay) gets the same id. 32 hex digits.
pub fn change_id(
    lead_id: &str,
    from: Stage,
    to: Stage,
    trigger: &Trigger,
    model_version: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(lead_id.as_bytes());
    h.update([0, from as u8, to as u8, 0]);
    match trigger {
        Trigger::Event(id) => {
            h.update(b"event:");
            h.update(id.as_bytes());
        }
        Trigger::Sweep(t) => {
            h.update(b"sweep:");
            h.update(t.to_be_bytes());
        }
    }
    h.update([0]);
    h.update(model_version.as_bytes());
    let d = h.finalize();
    d[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Rounds to 2 decimals, the precision of scores in outputs.
pub fn round2(x: f64) -> f64 {
    let r = (x * 100.0).round() / 100.0;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// Every rule's decayed contribution at `at_ms`, largest magnitude first.
pub fn contributions(model: &Model, lead: &LeadState, at_ms: i64) -> Vec<Contribution> {
    let mut v: Vec<Contribution> = lead
        .slots
        .iter()
        .filter_map(|s| match *s {
            Slot::Rule {
                rule,
                count,
                value,
                as_of_ms,
            } => Some(Contribution {
                rule: model.rules[rule as usize].name.clone(),
                count,
                points: round2(value * decay_factor(at_ms - as_of_ms, model.half_life_of(rule))),
            }),
            Slot::Fit { rule, points, .. } if points != 0.0 => Some(Contribution {
                rule: model.fit[rule as usize].name.clone(),
                count: 1,
                points: round2(points),
            }),
            _ => None,
        })
        .collect();
    v.sort_by(|a, b| {
        b.points
            .abs()
            .total_cmp(&a.points.abs())
            .then_with(|| a.rule.cmp(&b.rule))
    });
    v
}

/// Builds the explanation of a transition `from -> to` at `at_ms`.
pub fn explain(
    model: &Model,
    lead: &LeadState,
    from: Stage,
    to: Stage,
    score: Score,
    signals: &[u16],
    at_ms: i64,
) -> Explanation {
    let st = &model.stages;
    let mut top = contributions(model, lead, at_ms);
    top.truncate(TOP_RULES);
    let mut thresholds = Vec::new();
    match to {
        Stage::Sql => {
            thresholds.push(format!("total {:.2} >= sql_at {}", score.total, st.sql_at));
            thresholds.push(format!(
                "fit {:.2} >= sql_min_fit {}",
                score.fit, st.sql_min_fit
            ));
        }
        Stage::Mql if score.total >= st.mql_at => {
            thresholds.push(format!("total {:.2} >= mql_at {}", score.total, st.mql_at))
        }
        Stage::Mql => {}
        Stage::Lead => {
            let below = if from == Stage::Sql {
                ("sql_recycle_below", st.sql_recycle_below)
            } else {
                ("mql_recycle_below", st.mql_recycle_below)
            };
            thresholds.push(format!(
                "total {:.2} < {} {}",
                score.total, below.0, below.1
            ));
        }
    }
    let sql_signals: Vec<String> = signals
        .iter()
        .map(|&s| model.signals[s as usize].name.clone())
        .collect();
    let tops: Vec<String> = top
        .iter()
        .take(3)
        .map(|c| format!("{} x{} ({:+.1})", c.rule, c.count, c.points))
        .collect();
    let verb = if to > from { "reached" } else { "recycled to" };
    let mut summary = format!(
        "{verb} {} with score {:.1} (behavior {:.1}, fit {:.1})",
        to.as_str().to_uppercase(),
        score.total,
        score.behavior,
        score.fit
    );
    if !tops.is_empty() {
        summary.push_str("; top: ");
        summary.push_str(&tops.join(", "));
    }
    if !sql_signals.is_empty() && to == Stage::Sql {
        summary.push_str("; signals: ");
        summary.push_str(&sql_signals.join(", "));
    }
    Explanation {
        top_rules: top,
        thresholds,
        sql_signals,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_id_is_stable_and_sensitive_to_each_part() {
        let a = change_id(
            "l1",
            Stage::Lead,
            Stage::Mql,
            &Trigger::Event("e1".into()),
            "m-1",
        );
        assert_eq!(a.len(), 32);
        assert_eq!(
            a,
            change_id(
                "l1",
                Stage::Lead,
                Stage::Mql,
                &Trigger::Event("e1".into()),
                "m-1"
            )
        );
        assert_ne!(
            a,
            change_id(
                "l2",
                Stage::Lead,
                Stage::Mql,
                &Trigger::Event("e1".into()),
                "m-1"
            )
        );
        assert_ne!(
            a,
            change_id(
                "l1",
                Stage::Lead,
                Stage::Sql,
                &Trigger::Event("e1".into()),
                "m-1"
            )
        );
        assert_ne!(
            a,
            change_id(
                "l1",
                Stage::Lead,
                Stage::Mql,
                &Trigger::Event("e2".into()),
                "m-1"
            )
        );
        assert_ne!(
            a,
            change_id("l1", Stage::Lead, Stage::Mql, &Trigger::Sweep(5), "m-1")
        );
        assert_ne!(
            a,
            change_id(
                "l1",
                Stage::Lead,
                Stage::Mql,
                &Trigger::Event("e1".into()),
                "m-2"
            )
        );
    }
}
