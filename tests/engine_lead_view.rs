//! What `/leads/{id}` shows (README "HTTP"): the lead's score and stage,
//! an explanation written by the same code as the outbound record's, where
//! it stands against each threshold, and its recent stage history.

mod common;

use common::*;
use leadscore::codec::encode_lead_view;
use leadscore::engine::{lead_view, Reason, Stage, HISTORY_LEN, TOP_RULES};
use leadscore::event::{AssetKind, FormKind};
use serde_json::Value;

#[test]
fn the_view_explains_like_the_outbound_record_and_lists_the_history() {
    let mut run = Run::new();
    let t = at(0, 10, 0);
    run.apply_all(&[
        profile("ben", t, Some("software"), Some(1200), None, Some("US")),
        form("ben", t + MIN, FormKind::ContactUs),
        download("ben", t + 2 * MIN, "cs-1", AssetKind::CaseStudy),
        download("ben", t + 3 * MIN, "cs-2", AssetKind::CaseStudy),
        form("ben", t + 4 * MIN, FormKind::DemoRequest),
    ]);
    let changes = run.changes_for("ben");
    let last = changes.last().expect("ben moved");
    assert_eq!(last.to, Stage::Sql);

    let view = lead_view(&run.model, &run.lead("ben"));
    assert_eq!(view.stage, Stage::Sql);
    assert_eq!(view.as_of_ms, last.occurred_at_ms);
    assert_eq!(view.score, last.score);
    // Same contributions and sentence as the change it was last moved by,
    // but for the verb: the view says where the lead is. The change keeps
    // its top rules; the view lists every contribution.
    assert_eq!(view.explanation.top_rules.len(), 6);
    assert_eq!(
        view.explanation.top_rules[..TOP_RULES],
        last.explanation.top_rules[..]
    );
    assert_eq!(
        view.explanation.summary,
        last.explanation
            .summary
            .replacen("reached SQL", "at SQL", 1)
    );
    assert!(view.explanation.summary.starts_with("at SQL with score "));
    assert_eq!(view.explanation.sql_signals, last.explanation.sql_signals);
    let th = &view.explanation.thresholds;
    assert!(
        th[0].starts_with("total ") && th[0].ends_with(">= mql_at 50"),
        "{th:?}"
    );
    assert!(th[1].ends_with(">= sql_at 80"), "{th:?}");
    assert!(th[2].starts_with("fit 30.00 >= sql_min_fit 20"), "{th:?}");
    assert!(th[3].ends_with(">= sql_recycle_below 40"), "{th:?}");
    // The contact form's hold.
    assert_eq!(view.hold_until_ms, Some(t + MIN + 30 * DAY));
    // Every change so far, oldest first.
    let history: Vec<(Stage, Stage, Reason, i64)> = view
        .history
        .iter()
        .map(|h| (h.from, h.to, h.reason.clone(), h.at_ms))
        .collect();
    let emitted: Vec<(Stage, Stage, Reason, i64)> = changes
        .iter()
        .map(|c| (c.from, c.to, c.reason.clone(), c.occurred_at_ms))
        .collect();
    assert_eq!(history, emitted);
    assert_eq!(history[0].2, Reason::InstantRule("contact_us".into()));

    let json: Value = serde_json::from_slice(&encode_lead_view(&view, 3)).unwrap();
    assert_eq!(json["lead_id"], "ben");
    assert_eq!(json["partition"], 3);
    assert_eq!(json["stage"], "sql");
    assert_eq!(
        json["explanation"]["summary"],
        view.explanation.summary.as_str()
    );
    assert_eq!(json["history"][0]["reason"], "instant_rule:contact_us");
    assert_eq!(json["history"][0]["from"], "lead");
    assert_eq!(json["history"][0]["at"], "2024-03-04T10:01:00.000Z");
    assert!(json["hold_until"].is_string());
}

#[test]
fn only_leads_that_changed_stage_carry_a_bounded_history() {
    let mut run = Run::new();
    run.apply(&page_view("quiet", at(0, 9, 0), "/"));
    let view = lead_view(&run.model, &run.lead("quiet"));
    assert!(view.history.is_empty());
    assert_eq!(view.hold_until_ms, None);
    assert_eq!(view.stage, Stage::Lead);
    assert!(view.explanation.thresholds[0].ends_with("< mql_at 50"));

    // A contact form every 40 days: MQL, recycled by decay, MQL again...
    for k in 0..6 {
        run.apply(&form("loop", at(40 * k, 10, 0), FormKind::ContactUs));
        run.apply(&page_view("clock", at(40 * k + 35, 10, 0), "/"));
    }
    let changes = run.changes_for("loop");
    assert!(changes.len() > HISTORY_LEN, "{}", changes.len());
    let lead = run.lead("loop");
    let view = lead_view(&run.model, &lead);
    assert_eq!(view.history.len(), HISTORY_LEN);
    let newest: Vec<i64> = changes[changes.len() - HISTORY_LEN..]
        .iter()
        .map(|c| c.occurred_at_ms)
        .collect();
    assert_eq!(
        view.history.iter().map(|h| h.at_ms).collect::<Vec<_>>(),
        newest,
        "the newest five"
    );
    assert_eq!(lead.entries_into(Stage::Mql), 6);
}
