//! The protobuf form of an outbound stage change: `leadscore.v1.StageChange`.

use prost::Message;

use super::proto;
use crate::engine::{round2, StageChange};

/// Builds the `leadscore.v1.StageChange` message, with the same rounding
/// and reason strings as the JSON form.
pub(crate) fn to_message(change: &StageChange, emitted_at_ms: i64) -> proto::StageChange {
    let e = &change.explanation;
    proto::StageChange {
        change_id: change.change_id.clone(),
        lead_id: change.lead_id.clone(),
        from: change.from.as_str().to_owned(),
        to: change.to.as_str().to_owned(),
        reason: change.reason.to_string(),
        occurred_at_ms: change.occurred_at_ms,
        emitted_at_ms,
        score: Some(proto::Score {
            total: round2(change.score.total),
            behavior: round2(change.score.behavior),
            fit: round2(change.score.fit),
        }),
        model_version: change.model_version.to_string(),
        explanation: Some(proto::Explanation {
            top_rules: e
                .top_rules
                .iter()
                .map(|c| proto::Contribution {
                    rule: c.rule.clone(),
                    count: c.count,
                    points: round2(c.points),
                })
                .collect(),
            thresholds: e.thresholds.clone(),
            sql_signals: e.sql_signals.clone(),
            summary: e.summary.clone(),
        }),
        trigger_event_id: change.trigger_event_id.clone(),
    }
}

/// Encodes a stage change as a `leadscore.v1.StageChange` record.
pub(crate) fn encode(change: &StageChange, emitted_at_ms: i64) -> Vec<u8> {
    to_message(change, emitted_at_ms).encode_to_vec()
}
