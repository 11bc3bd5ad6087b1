//! The JSON form of an outbound stage change (README "Output format").
//!
//! Written through a private borrowed struct with serde derive, so the keys
//! always come in the documented order and equal changes give equal bytes.

use std::fmt::Display;

use serde::{Serialize, Serializer};

use super::timestamp::format_rfc3339_ms;
use crate::engine::{round2, Contribution, Explanation, Reason, Score, StageChange};

/// The stage change as CRMs read it; field order is the wire order.
#[derive(Serialize)]
struct ChangeOut<'c> {
    change_id: &'c str,
    lead_id: &'c str,
    from: &'static str,
    to: &'static str,
    #[serde(serialize_with = "as_display")]
    reason: &'c Reason,
    occurred_at: String,
    emitted_at: String,
    score: ScoreOut,
    model_version: &'c str,
    explanation: ExplanationOut<'c>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_event_id: Option<&'c str>,
}

/// The score split, rounded to the 2 decimals outputs carry.
#[derive(Serialize)]
pub(super) struct ScoreOut {
    total: f64,
    behavior: f64,
    fit: f64,
}

impl From<&Score> for ScoreOut {
    fn from(s: &Score) -> Self {
        ScoreOut {
            total: round2(s.total),
            behavior: round2(s.behavior),
            fit: round2(s.fit),
        }
    }
}

/// Why the lead moved (or, in a lead view, where it stands).
#[derive(Serialize)]
pub(super) struct ExplanationOut<'c> {
    top_rules: Vec<RuleOut<'c>>,
    thresholds: &'c [String],
    sql_signals: &'c [String],
    summary: &'c str,
}

impl<'c> From<&'c Explanation> for ExplanationOut<'c> {
    fn from(e: &'c Explanation) -> Self {
        ExplanationOut {
            top_rules: e.top_rules.iter().map(RuleOut::from).collect(),
            thresholds: &e.thresholds,
            sql_signals: &e.sql_signals,
            summary: &e.summary,
        }
    }
}

/// One rule's share of the score.
#[derive(Serialize)]
struct RuleOut<'c> {
    rule: &'c str,
    count: u32,
    points: f64,
}

impl<'c> From<&'c Contribution> for RuleOut<'c> {
    fn from(c: &'c Contribution) -> Self {
        RuleOut {
            rule: &c.rule,
            count: c.count,
            points: round2(c.points),
        }
    }
}

/// Serializes a value through its `Display` (the reason strings).
pub(super) fn as_display<S: Serializer, T: Display>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// Encodes a stage change as one JSON object (no trailing newline).
pub(crate) fn encode(change: &StageChange, emitted_at_ms: i64) -> Vec<u8> {
    let out = ChangeOut {
        change_id: &change.change_id,
        lead_id: &change.lead_id,
        from: change.from.as_str(),
        to: change.to.as_str(),
        reason: &change.reason,
        occurred_at: format_rfc3339_ms(change.occurred_at_ms),
        emitted_at: format_rfc3339_ms(emitted_at_ms),
        score: ScoreOut::from(&change.score),
        model_version: &change.model_version,
        explanation: ExplanationOut::from(&change.explanation),
        trigger_event_id: change.trigger_event_id.as_deref(),
    };
    // Strings and numbers into a Vec cannot fail (non-finite numbers are
    // written as null by serde_json).
    serde_json::to_vec(&out).unwrap_or_default()
}
