//! The stage change the engine emits, with its order-independent id, and
//! the explanation of why the lead moved. The sentence and threshold
//! wording here are also what `/leads/{id}` shows (`view.rs`), so the two
//! cannot drift apart.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::decimal::{d1, d2, signed_d1};
use super::lead::{LeadState, Score};
use super::lead_block::LeadBlock;
use super::stage::{Reason, Stage};
use crate::model::Model;

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

/// The change id: a hash of the lead, the stage entered, the ordinal of
/// this entry into it for the lead (1 for its first MQL, 2 for its second
/// MQL after a recycle, ...) and the model version. None of these depend
/// on which event triggered the change or on arrival order, so the same
/// transition derived again (after a crash, in a replay, or with events in
/// another order) gets the same id. 32 hex digits.
pub fn change_id(lead_id: &str, to: Stage, ordinal: u32, model_version: &str) -> String {
    let mut h = Sha256::new();
    h.update(lead_id.as_bytes());
    h.update([0, to as u8, 0]);
    h.update(ordinal.to_be_bytes());
    h.update([0]);
    h.update(model_version.as_bytes());
    let d = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in &d[..16] {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
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
    block_contributions(model, &lead.block, at_ms)
}

/// [`contributions`] of a lead in the table.
pub(crate) fn block_contributions(
    model: &Model,
    lead: &LeadBlock,
    at_ms: i64,
) -> Vec<Contribution> {
    let mut v: Vec<Contribution> = lead
        .rule_points(model, at_ms)
        .into_iter()
        .map(|(rule, count, points)| Contribution {
            rule: model.rules[usize::from(rule)].name.clone(),
            count,
            points: round2(points),
        })
        .chain(
            lead.fit_values(model)
                .into_iter()
                .filter(|(_, p)| *p != 0.0)
                .map(|(rule, points)| Contribution {
                    rule: model.fit[usize::from(rule)].name.clone(),
                    count: 1,
                    points: round2(points),
                }),
        )
        .collect();
    v.sort_by(|a, b| {
        b.points
            .abs()
            .total_cmp(&a.points.abs())
            .then_with(|| a.rule.cmp(&b.rule))
    });
    v
}

/// The thresholds a transition `from -> to` crossed, in words.
pub(crate) fn crossed(model: &Model, from: Stage, to: Stage, score: Score) -> Vec<String> {
    let st = &model.stages;
    match to {
        Stage::Sql => vec![
            format!("total {} >= sql_at {}", d2(score.total), st.sql_at),
            format!("fit {} >= sql_min_fit {}", d2(score.fit), st.sql_min_fit),
        ],
        Stage::Mql if score.total >= st.mql_at => {
            vec![format!("total {} >= mql_at {}", d2(score.total), st.mql_at)]
        }
        Stage::Mql => Vec::new(),
        Stage::Lead => vec![recycle_line(model, from, score)],
    }
}

/// `total 25.00 < mql_recycle_below 30`: how a lead at `stage` stands
/// against its recycle threshold.
pub(crate) fn recycle_line(model: &Model, stage: Stage, score: Score) -> String {
    let st = &model.stages;
    let (name, at) = if stage == Stage::Sql {
        ("sql_recycle_below", st.sql_recycle_below)
    } else {
        ("mql_recycle_below", st.mql_recycle_below)
    };
    let op = if score.total < at { "<" } else { ">=" };
    format!("total {} {op} {name} {at}", d2(score.total))
}

/// The names of the signals in a signal bit set.
pub(crate) fn signal_names(model: &Model, mask: u64) -> Vec<String> {
    model
        .signals
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, s)| s.name.clone())
        .collect()
}

/// The one-sentence summary: `<verb> <STAGE> with score 52.0 (behavior
/// 32.0, fit 20.0); top: a x2 (+16.0), ...; signals: ...`.
pub(crate) fn summary(
    verb: &str,
    stage: Stage,
    score: Score,
    top: &[Contribution],
    signals: &[String],
) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(160);
    let _ = write!(
        s,
        "{verb} {} with score {} (behavior {}, fit {})",
        stage.as_str().to_uppercase(),
        d1(score.total),
        d1(score.behavior),
        d1(score.fit)
    );
    for (i, c) in top.iter().take(3).enumerate() {
        s.push_str(if i == 0 { "; top: " } else { ", " });
        let _ = write!(s, "{} x{} ({})", c.rule, c.count, signed_d1(c.points));
    }
    if !signals.is_empty() && stage == Stage::Sql {
        s.push_str("; signals: ");
        s.push_str(&signals.join(", "));
    }
    s
}

/// Builds the explanation of a transition `from -> to` at `at_ms`, with
/// the SQL signals `signals` (a bit set) active. Runs only when a change is
/// emitted.
pub(crate) fn explain(
    model: &Model,
    lead: &LeadBlock,
    from: Stage,
    to: Stage,
    score: Score,
    signals: u64,
    at_ms: i64,
) -> Explanation {
    let mut top = block_contributions(model, lead, at_ms);
    top.truncate(TOP_RULES);
    let sql_signals = signal_names(model, signals);
    let verb = if to > from { "reached" } else { "recycled to" };
    Explanation {
        summary: summary(verb, to, score, &top, &sql_signals),
        thresholds: crossed(model, from, to, score),
        top_rules: top,
        sql_signals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_id_is_stable_and_sensitive_to_each_part() {
        let a = change_id("l1", Stage::Mql, 1, "m-1");
        assert_eq!(a.len(), 32);
        assert_eq!(a, change_id("l1", Stage::Mql, 1, "m-1"));
        assert_ne!(a, change_id("l2", Stage::Mql, 1, "m-1"));
        assert_ne!(a, change_id("l1", Stage::Sql, 1, "m-1"));
        assert_ne!(a, change_id("l1", Stage::Mql, 2, "m-1"));
        assert_ne!(a, change_id("l1", Stage::Mql, 1, "m-2"));
    }
}
