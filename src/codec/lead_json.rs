//! The JSON answer of `/leads/{lead_id}` (README "HTTP"): one lead's
//! stage, score, explanation, thresholds and recent stage history. Its
//! score and explanation objects are written by the same serializers as the
//! outbound stage change (`change_json.rs`), so the two read alike.

use serde::Serialize;

use super::change_json::{as_display, ExplanationOut, ScoreOut};
use super::timestamp::format_rfc3339_ms;
use crate::engine::{HistoryEntry, LeadView, Reason};

/// The lead view as HTTP clients read it; field order is the wire order.
#[derive(Serialize)]
struct LeadOut<'v> {
    lead_id: &'v str,
    partition: i32,
    stage: &'static str,
    as_of: String,
    score: ScoreOut,
    model_version: &'v str,
    explanation: ExplanationOut<'v>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hold_until: Option<String>,
    history: Vec<HistoryOut<'v>>,
}

/// One recent stage change.
#[derive(Serialize)]
struct HistoryOut<'v> {
    from: &'static str,
    to: &'static str,
    #[serde(serialize_with = "as_display")]
    reason: &'v Reason,
    at: String,
}

impl<'v> From<&'v HistoryEntry> for HistoryOut<'v> {
    fn from(h: &'v HistoryEntry) -> Self {
        HistoryOut {
            from: h.from.as_str(),
            to: h.to.as_str(),
            reason: &h.reason,
            at: format_rfc3339_ms(h.at_ms),
        }
    }
}

/// Encodes the view of a lead held by task `partition` as one JSON object.
pub fn encode_lead_view(view: &LeadView, partition: i32) -> Vec<u8> {
    let out = LeadOut {
        lead_id: &view.lead_id,
        partition,
        stage: view.stage.as_str(),
        as_of: format_rfc3339_ms(view.as_of_ms),
        score: ScoreOut::from(&view.score),
        model_version: &view.model_version,
        explanation: ExplanationOut::from(&view.explanation),
        hold_until: view.hold_until_ms.map(format_rfc3339_ms),
        history: view.history.iter().map(HistoryOut::from).collect(),
    };
    // Strings and numbers into a Vec cannot fail.
    serde_json::to_vec(&out).unwrap_or_default()
}
