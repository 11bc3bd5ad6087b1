//! What `/leads/{id}` shows about one lead: its stage, score split, the
//! contributions, where it stands against each threshold, the summary
//! sentence and its recent stage history. Built with the same functions as
//! the outbound explanation (`change.rs`), so the two read alike.

use std::sync::Arc;

use super::change::{block_contributions, recycle_line, signal_names, summary, Explanation};
use super::decimal::d2;
use super::lead::{HistoryEntry, LeadState, Score};
use super::stage::Stage;
use crate::model::Model;

/// One lead as the HTTP lookup reports it, as of its newest event.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadView {
    pub lead_id: String,
    pub stage: Stage,
    /// The lead's newest event time: the score is read there.
    pub as_of_ms: i64,
    pub score: Score,
    pub model_version: Arc<str>,
    /// All contributions, the thresholds (where the lead stands against
    /// each), the active SQL signals and the summary sentence.
    pub explanation: Explanation,
    /// A stage reached by an instant rule is held until then.
    pub hold_until_ms: Option<i64>,
    /// The most recent stage changes, oldest first.
    pub history: Vec<HistoryEntry>,
}

/// The view of `lead` under `model`.
pub fn lead_view(model: &Model, lead: &LeadState) -> LeadView {
    let b = &lead.block;
    let at = b.last_event_ms();
    let score = b.score_at(model, at);
    let stage = b.stage();
    let top = block_contributions(model, b, at);
    let sql_signals = signal_names(model, b.signal_mask(model, at));
    let st = &model.stages;
    let cmp = |x: f64, at: f64| if x >= at { ">=" } else { "<" };
    let mut thresholds = vec![
        format!(
            "total {} {} mql_at {}",
            d2(score.total),
            cmp(score.total, st.mql_at),
            st.mql_at
        ),
        format!(
            "total {} {} sql_at {}",
            d2(score.total),
            cmp(score.total, st.sql_at),
            st.sql_at
        ),
        format!(
            "fit {} {} sql_min_fit {}",
            d2(score.fit),
            cmp(score.fit, st.sql_min_fit),
            st.sql_min_fit
        ),
    ];
    if stage != Stage::Lead {
        thresholds.push(recycle_line(model, stage, score));
    }
    let hold = b.hold_until_ms();
    LeadView {
        lead_id: b.id_text(),
        stage,
        as_of_ms: at,
        score,
        model_version: model.version.clone(),
        explanation: Explanation {
            summary: summary("at", stage, score, &top, &sql_signals),
            top_rules: top,
            thresholds,
            sql_signals,
        },
        hold_until_ms: (hold > 0 && stage != Stage::Lead).then_some(hold),
        history: b.history(model),
    }
}
