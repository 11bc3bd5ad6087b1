//! Scenario tests of the engine against the built-in default model: one test
//! per documented rule and per stage transition (DESIGN.md "The scoring
//! model" and "Outbound stage changes").
//!
//! Expected scores are computed from the documented points and the 30-day
//! half-life (`common::decayed`), never read back from the engine.

mod common;

use common::*;
use leadscore::engine::{change_id, Outcome, Reason, Stage, StageChange};
use leadscore::event::{AssetKind, Event, FormKind, WebinarAction};
use leadscore::model::{Model, DEFAULT_MODEL_TOML};

use AssetKind::{CaseStudy, Ebook, Whitepaper};
use WebinarAction::{Attended, OnDemand, Registered};

/// Seven content/webinar events one minute apart from 10:00 on `day`:
/// 5 + 5 + 8 + 5 + 10 + 8 + 10 = 51 points; the running total first reaches
/// 50 on the last one. Returns the events and their `(points, time)`.
fn content_to_51(lead: &str, day: i64) -> (Vec<Event<'static>>, Vec<(f64, i64)>) {
    let t = |m| at(day, 10, m);
    let events = vec![
        download(lead, t(0), "wp-roi", Whitepaper),
        download(lead, t(1), "ebook-guide", Ebook),
        download(lead, t(2), "cs-acme", CaseStudy),
        webinar(lead, t(3), "w-intro", Registered),
        webinar(lead, t(4), "w-intro", Attended),
        webinar(lead, t(5), "w-deep", OnDemand),
        webinar(lead, t(6), "w-qna", Attended),
    ];
    let points = [5.0, 5.0, 8.0, 5.0, 10.0, 8.0, 10.0];
    let credits = points
        .iter()
        .zip(&events)
        .map(|(&p, e)| (p, e.occurred_at_ms))
        .collect();
    (events, credits)
}

/// Software, 1200 employees, $250M revenue, Germany: 10 + 15 + 15 + 5 = 45.
fn full_fit_profile(lead: &str, t: i64) -> Event<'static> {
    profile(
        lead,
        t,
        Some("Software"),
        Some(1200),
        Some(250_000_000),
        Some("DE"),
    )
}

fn only(changes: &[StageChange]) -> &StageChange {
    assert_eq!(
        changes.len(),
        1,
        "expected exactly one change: {changes:#?}"
    );
    &changes[0]
}

fn has_threshold(c: &StageChange, needle: &str) -> bool {
    c.explanation.thresholds.iter().any(|t| t.contains(needle))
}

// --- MQL ---------------------------------------------------------------

#[test]
fn contact_us_form_alone_is_an_instant_mql() {
    let mut run = Run::new();
    let t = at(0, 10, 0);
    let e = form("ann", t, FormKind::ContactUs);
    let applied = run.apply(&e);
    assert_eq!(applied.outcome, Some(Outcome::Scored));
    let c = only(&applied.changes);
    assert_eq!((c.from, c.to), (Stage::Lead, Stage::Mql));
    assert_eq!(c.reason, Reason::InstantRule("contact_us".into()));
    assert_eq!(c.reason.to_string(), "instant_rule:contact_us");
    assert_eq!(c.trigger_event_id.as_deref(), Some(&*e.event_id));
    assert_eq!(c.occurred_at_ms, t);
    // 20 points, far below mql_at: the form alone decides.
    assert_close(c.score.total, 20.0, "total");
    assert_close(c.score.behavior, 20.0, "behavior");
    assert_close(c.score.fit, 0.0, "fit");
    assert!(
        !has_threshold(c, "mql_at"),
        "no score threshold was crossed: {:?}",
        c.explanation.thresholds
    );
    assert_eq!(run.stage("ann"), Stage::Mql);
}

#[test]
fn contact_us_mql_is_held_for_30_days_then_recycled_by_the_sweep() {
    let mut run = Run::new();
    let t = at(0, 10, 0);
    run.apply(&form("ann", t, FormKind::ContactUs));

    // Another lead moves event time on. At 29 days ann's score (about 10.3)
    // is far below mql_recycle_below 30, but the hold protects the MQL.
    let a = run.apply(&page_view("other", at(29, 10, 30), "/"));
    assert!(run.score("ann", at(29, 10, 0)).total < 30.0);
    assert!(a.changes.is_empty(), "{:#?}", a.changes);
    // Just before the hold ends (the sweep at 30d 09:00 is still inside it).
    let a = run.apply(&page_view("other", at(30, 9, 59), "/"));
    assert!(a.changes.is_empty(), "{:#?}", a.changes);
    assert_eq!(run.stage("ann"), Stage::Mql);

    // The sweep at the first boundary at or after the hold's end recycles it.
    let a = run.apply(&page_view("other", at(30, 10, 5), "/"));
    let c = only(&a.changes);
    let boundary = at(30, 10, 0);
    assert_eq!(c.lead_id, "ann");
    assert_eq!((c.from, c.to), (Stage::Mql, Stage::Lead));
    assert_eq!(c.reason, Reason::RecycledDecay);
    assert_eq!(c.reason.to_string(), "recycled_decay");
    assert_eq!(c.trigger_event_id, None);
    assert_eq!(c.occurred_at_ms, boundary);
    assert_close(c.score.total, decayed(20.0, boundary - t), "total");
    assert_close(c.score.total, 10.0, "half of 20 after 30 days");
    assert_eq!(run.stage("ann"), Stage::Lead);
    assert!(!run.state.promoted().contains(&"ann".to_string()));
}

#[test]
fn downloads_and_webinars_cross_the_mql_threshold_with_an_explanation() {
    let mut run = Run::new();
    let (events, credits) = content_to_51("bo", 0);
    for e in &events[..6] {
        assert!(run.apply(e).changes.is_empty(), "41 points is not an MQL");
    }
    let last = &events[6];
    let c = only(&run.apply(last).changes).clone();
    let t = last.occurred_at_ms;
    assert_eq!((c.from, c.to), (Stage::Lead, Stage::Mql));
    assert_eq!(c.reason, Reason::ScoreThreshold);
    assert_eq!(c.reason.to_string(), "score_threshold");
    assert_eq!(c.trigger_event_id.as_deref(), Some(&*last.event_id));
    let expected = decayed_sum(&credits, t);
    assert!(expected >= 50.0);
    assert_close(c.score.total, expected, "total");
    assert!(
        has_threshold(&c, "mql_at 50"),
        "{:?}",
        c.explanation.thresholds
    );

    // The explanation names the contributing rules with their counts.
    let top = &c.explanation.top_rules;
    let find = |name: &str| {
        top.iter()
            .find(|r| r.rule == name)
            .unwrap_or_else(|| panic!("{name} missing from {top:?}"))
    };
    assert_eq!(top[0].rule, "webinar_attended", "largest first: {top:?}");
    assert_eq!(find("webinar_attended").count, 2);
    assert_eq!(find("download").count, 2);
    assert_eq!(find("case_study_download").count, 1);
    assert_eq!(find("webinar_registered").count, 1);
    assert_eq!(find("webinar_on_demand").count, 1);
    let attended = decayed(10.0, t - at(0, 10, 4)) + 10.0;
    assert!((find("webinar_attended").points - attended).abs() <= 0.005);
    assert!(
        c.explanation.summary.contains("MQL"),
        "{}",
        c.explanation.summary
    );
}

// --- SQL ---------------------------------------------------------------

#[test]
fn pricing_views_demo_request_and_icp_fit_go_straight_from_lead_to_sql() {
    let mut run = Run::new();
    let behaviour = [
        pricing("cy", at(0, 9, 0), "/pricing"),
        pricing("cy", at(0, 9, 30), "/pricing"),
        pricing("cy", at(0, 10, 0), "/pricing"),
        form("cy", at(0, 10, 10), FormKind::DemoRequest),
    ];
    for e in &behaviour {
        assert!(run.apply(e).changes.is_empty(), "44 points stays a lead");
    }
    let t = at(0, 10, 20);
    let e = full_fit_profile("cy", t);
    let c = only(&run.apply(&e).changes).clone();
    assert_eq!(
        (c.from, c.to),
        (Stage::Lead, Stage::Sql),
        "skips MQL in one change"
    );
    assert_eq!(
        c.reason,
        Reason::ScoreThreshold,
        "the profile completes no signal"
    );
    let behavior = decayed_sum(
        &[
            (8.0, at(0, 9, 0)),
            (8.0, at(0, 9, 30)),
            (8.0, at(0, 10, 0)),
            (20.0, at(0, 10, 10)),
        ],
        t,
    );
    assert_close(c.score.behavior, behavior, "behavior");
    assert_close(c.score.fit, 45.0, "fit");
    assert!(c.score.total >= 80.0);
    let mut signals = c.explanation.sql_signals.clone();
    signals.sort();
    assert_eq!(signals, ["demo_requested", "pricing_interest"]);
    assert!(
        has_threshold(&c, "sql_at 80"),
        "{:?}",
        c.explanation.thresholds
    );
    assert!(has_threshold(&c, "sql_min_fit 20"));
    assert_eq!(run.changes_for("cy").len(), 1);
}

#[test]
fn sql_is_reached_through_mql_when_fit_comes_first() {
    let mut run = Run::new();
    assert!(
        run.apply(&full_fit_profile("di", at(0, 8, 0)))
            .changes
            .is_empty(),
        "fit alone (45) is not an MQL"
    );
    let a = run.apply(&pricing("di", at(0, 9, 0), "/pricing"));
    let mql = only(&a.changes);
    assert_eq!((mql.from, mql.to), (Stage::Lead, Stage::Mql));
    assert_eq!(mql.reason, Reason::ScoreThreshold);
    assert!(run
        .apply(&pricing("di", at(0, 9, 30), "/pricing"))
        .changes
        .is_empty());
    let a = run.apply(&pricing("di", at(0, 10, 0), "/pricing"));
    assert!(a.changes.is_empty(), "pricing signal but only ~69 points");
    assert_eq!(run.signals("di", at(0, 10, 0)), ["pricing_interest"]);

    let demo = form("di", at(0, 10, 10), FormKind::DemoRequest);
    let a = run.apply(&demo);
    let sql = only(&a.changes);
    assert_eq!((sql.from, sql.to), (Stage::Mql, Stage::Sql));
    assert_eq!(
        sql.reason,
        Reason::SqlSignal,
        "the demo request is a signal"
    );
    assert_eq!(sql.reason.to_string(), "sql_signal");
    assert!(sql
        .explanation
        .sql_signals
        .contains(&"demo_requested".to_string()));
    let stages: Vec<_> = run
        .changes_for("di")
        .iter()
        .map(|c| (c.from, c.to))
        .collect();
    assert_eq!(
        stages,
        [(Stage::Lead, Stage::Mql), (Stage::Mql, Stage::Sql)]
    );
}

#[test]
fn sql_needs_a_fit_of_at_least_20() {
    let mut run = Run::new();
    let t = |m| at(0, 10, m);
    run.apply_all(&[
        profile("ed", t(0), None, Some(1000), None, None), // 15
        pricing("ed", t(1), "/pricing"),
        pricing("ed", t(31), "/pricing"),
        pricing("ed", t(61), "/pricing"),
        form("ed", t(62), FormKind::DemoRequest),
        webinar("ed", t(63), "w1", Attended),
        webinar("ed", t(64), "w2", Attended),
        webinar("ed", t(65), "w3", Attended),
    ]);
    let s = run.score("ed", t(65));
    assert!(s.total >= 80.0 && s.fit < 20.0, "{s:?}");
    assert_eq!(run.stage("ed"), Stage::Mql, "score and signals, but fit 15");

    // An ICP industry adds 10 fit; the earlier employee count still counts.
    let a = run.apply(&profile("ed", t(70), Some("fintech"), None, None, None));
    let c = only(&a.changes);
    assert_eq!((c.from, c.to), (Stage::Mql, Stage::Sql));
    assert_close(c.score.fit, 25.0, "fit");
}

#[test]
fn sql_needs_an_active_signal_and_the_completing_event_is_the_reason() {
    let mut run = Run::new();
    let t = |m| at(0, 10, m);
    run.apply_all(&[
        full_fit_profile("fa", t(0)),
        webinar("fa", t(1), "w1", Attended),
        webinar("fa", t(2), "w2", Attended),
        webinar("fa", t(3), "w3", Attended),
        download("fa", t(4), "cs-1", CaseStudy),
        pricing("fa", t(5), "/pricing"),
        pricing("fa", t(35), "/pricing"),
    ]);
    // 45 + 30 + 8 + 16 = 99 points and fit 45, but no signal yet:
    // one case study, two pricing views.
    assert!(run.score("fa", t(35)).total >= 80.0);
    assert!(run.signals("fa", t(35)).is_empty());
    assert_eq!(run.stage("fa"), Stage::Mql);

    let third = pricing("fa", t(65), "/pricing");
    let a = run.apply(&third);
    let c = only(&a.changes);
    assert_eq!((c.from, c.to), (Stage::Mql, Stage::Sql));
    assert_eq!(c.reason, Reason::SqlSignal);
    assert_eq!(c.explanation.sql_signals, ["pricing_interest"]);
    assert_eq!(c.trigger_event_id.as_deref(), Some(&*third.event_id));
}

#[test]
fn two_distinct_case_studies_within_30_days_are_an_sql_signal() {
    let mut run = Run::new();
    let t = |m| at(0, 10, m);
    run.apply_all(&[
        full_fit_profile("gu", t(0)),
        webinar("gu", t(1), "w1", Attended),
        webinar("gu", t(2), "w2", Attended),
        webinar("gu", t(3), "w3", Attended),
        download("gu", t(4), "cs-1", CaseStudy),
        // The same case study again is neither points nor a second study.
        download("gu", t(5), "cs-1", CaseStudy),
    ]);
    assert!(run.signals("gu", t(5)).is_empty());
    assert_eq!(run.count("gu", "case_study_download"), 1);
    assert_eq!(run.stage("gu"), Stage::Mql);

    let a = run.apply(&download("gu", t(6), "cs-2", CaseStudy));
    let c = only(&a.changes);
    assert_eq!((c.from, c.to), (Stage::Mql, Stage::Sql));
    assert_eq!(c.reason, Reason::SqlSignal);
    assert_eq!(c.explanation.sql_signals, ["case_study_research"]);
    // Case studies more than 30 days apart are not a signal.
    let mut late = Run::new();
    late.apply_all(&[
        download("hu", at(0, 10, 0), "cs-1", CaseStudy),
        download("hu", at(31, 10, 0), "cs-2", CaseStudy),
    ]);
    assert!(late.signals("hu", at(31, 10, 0)).is_empty());
}

#[test]
fn pricing_interest_needs_three_credited_views_within_14_days() {
    let mut run = Run::new();
    // Three views within one 30-minute window are one credited view.
    run.apply_all(&[
        pricing("ia", at(0, 10, 0), "/pricing"),
        pricing("ia", at(0, 10, 10), "/pricing"),
        pricing("ia", at(0, 10, 20), "/pricing"),
    ]);
    assert!(run.signals("ia", at(0, 10, 20)).is_empty());
    assert_close(
        run.score("ia", at(0, 10, 20)).total,
        decayed(8.0, 20 * MIN),
        "one pricing view",
    );

    // Days 0, 7 and 15: at day 15 the day-0 view is outside 14 days.
    run.apply_all(&[
        pricing("ia", at(7, 10, 0), "/pricing"),
        pricing("ia", at(15, 10, 0), "/pricing"),
    ]);
    assert!(run.signals("ia", at(15, 10, 0)).is_empty());
    run.apply(&pricing("ia", at(16, 10, 0), "/pricing"));
    assert_eq!(run.signals("ia", at(16, 10, 0)), ["pricing_interest"]);
    // Fourteen days later the day-7 view has left the window.
    assert!(run.signals("ia", at(22, 10, 0)).is_empty());
}

#[test]
fn a_demo_request_is_an_sql_signal_for_30_days() {
    let mut run = Run::new();
    run.apply(&form("jo", at(0, 10, 0), FormKind::DemoRequest));
    assert_eq!(run.signals("jo", at(0, 10, 0)), ["demo_requested"]);
    assert_eq!(run.signals("jo", at(29, 10, 0)), ["demo_requested"]);
    assert!(run.signals("jo", at(31, 10, 0)).is_empty());
    assert_close(run.score("jo", at(0, 10, 0)).total, 20.0, "demo request");
}

// --- recycling, decay and the sweep ------------------------------------

#[test]
fn weeks_without_activity_recycle_an_mql_through_the_sweep() {
    let mut run = Run::new();
    let (events, credits) = content_to_51("ko", 0);
    run.apply_all(&events);
    assert_eq!(run.stage("ko"), Stage::Mql);

    // Nothing from ko for 25 days; another lead's event moves the watermark.
    let wm = at(25, 10, 30);
    let a = run.apply(&page_view("other", wm, "/"));
    let boundary = hour_floor(wm);
    assert_eq!(boundary, at(25, 10, 0));
    let c = only(&a.changes);
    assert_eq!(c.lead_id, "ko");
    assert_eq!((c.from, c.to), (Stage::Mql, Stage::Lead));
    assert_eq!(c.reason, Reason::RecycledDecay);
    assert_eq!(c.trigger_event_id, None);
    assert_eq!(c.occurred_at_ms, boundary);
    // ko's first return to stage lead.
    assert_eq!(
        c.change_id,
        change_id("ko", Stage::Lead, 1, &run.model.version)
    );
    let expected = decayed_sum(&credits, boundary);
    assert!(expected < 30.0);
    assert_close(c.score.total, expected, "total at the boundary");
    assert!(
        has_threshold(c, "mql_recycle_below 30"),
        "{:?}",
        c.explanation.thresholds
    );
    assert_eq!(run.stage("ko"), Stage::Lead);
    assert!(!run.state.promoted().contains(&"ko".to_string()));
}

#[test]
fn hysteresis_an_mql_decayed_to_35_stays_mql_and_recycles_below_30() {
    let mut run = Run::new();
    let (events, credits) = content_to_51("lu", 0);
    run.apply_all(&events);

    let wm = at(16, 18, 30);
    let a = run.apply(&page_view("other", wm, "/"));
    let s = decayed_sum(&credits, hour_floor(wm));
    assert!((34.0..36.0).contains(&s), "about 35: {s}");
    assert!(
        a.changes.is_empty(),
        "35 is between 30 and 50: {:#?}",
        a.changes
    );
    assert_eq!(run.stage("lu"), Stage::Mql);

    let wm = at(24, 0, 30);
    let a = run.apply(&page_view("other", wm, "/"));
    assert!(decayed_sum(&credits, hour_floor(wm)) < 30.0);
    let c = only(&a.changes);
    assert_eq!(
        (c.lead_id.as_str(), c.from, c.to),
        ("lu", Stage::Mql, Stage::Lead)
    );
}

#[test]
fn an_sql_stays_sql_above_40_and_recycles_to_lead_below_40() {
    let mut run = Run::new();
    let t = |m| at(0, 10, m);
    // fit 20 exactly: ICP industry 10 + 250 employees 10.
    run.apply_all(&[
        profile("mo", t(0), Some("saas"), Some(250), None, None),
        pricing("mo", t(1), "/pricing"),
        pricing("mo", t(31), "/pricing"),
        pricing("mo", t(61), "/pricing"),
        form("mo", t(62), FormKind::DemoRequest),
        webinar("mo", t(63), "w1", Attended),
        webinar("mo", t(64), "w2", Attended),
    ]);
    assert_eq!(run.stage("mo"), Stage::Sql);
    let credits = [
        (8.0, t(1)),
        (8.0, t(31)),
        (8.0, t(61)),
        (20.0, t(62)),
        (10.0, t(63)),
        (10.0, t(64)),
    ];

    // 45 days on: about 42.6, below mql_at and sql_at but not below 40.
    let wm = at(45, 12, 30);
    let a = run.apply(&page_view("other", wm, "/"));
    let total = 20.0 + decayed_sum(&credits, hour_floor(wm));
    assert!((40.0..50.0).contains(&total), "{total}");
    assert!(a.changes.is_empty(), "{:#?}", a.changes);
    assert_eq!(run.stage("mo"), Stage::Sql, "no demotion to MQL");

    let wm = at(52, 12, 30);
    let a = run.apply(&page_view("other", wm, "/"));
    let total = 20.0 + decayed_sum(&credits, hour_floor(wm));
    assert!(total < 40.0, "{total}");
    let c = only(&a.changes);
    assert_eq!((c.from, c.to), (Stage::Sql, Stage::Lead));
    assert_eq!(c.reason, Reason::RecycledDecay);
    assert_close(c.score.total, total, "total");
    assert_close(c.score.fit, 20.0, "fit does not decay");
    assert!(has_threshold(c, "sql_recycle_below 40"));
}

#[test]
fn the_sweep_runs_only_when_the_watermark_crosses_an_hour() {
    let mut run = Run::new();
    let (events, credits) = content_to_51("ny", 0);
    run.apply_all(&events);
    // When ny's score falls below 30, from the documented decay.
    let s = decayed_sum(&credits, at(0, 10, 6));
    let crossing = at(0, 10, 6) + (HALF_LIFE as f64 * (s / 30.0).log2()) as i64;
    let hour = hour_floor(crossing);
    assert!(decayed_sum(&credits, hour) >= 30.0);
    assert!(decayed_sum(&credits, hour + 59 * MIN) < 30.0);

    // Crossing `hour` sweeps at `hour`, where ny is still at or above 30.
    assert!(run
        .apply(&page_view("other", hour + MIN, "/a"))
        .changes
        .is_empty());
    // Within the same hour nothing sweeps, though ny is now below 30.
    let a = run.apply(&page_view("other", hour + 59 * MIN, "/b"));
    assert!(a.changes.is_empty(), "{:#?}", a.changes);
    assert_eq!(run.stage("ny"), Stage::Mql);
    // The next boundary sweeps.
    let a = run.apply(&page_view("other", hour + HOUR, "/c"));
    let c = only(&a.changes);
    assert_eq!(c.occurred_at_ms, hour + HOUR);
    assert_eq!(c.reason, Reason::RecycledDecay);
}

#[test]
fn an_expired_hold_is_recycled_by_the_next_sweep_not_by_a_positive_event() {
    let mut run = Run::new();
    let t = at(0, 10, 17);
    run.apply(&form("oz", t, FormKind::ContactUs));
    // The 10:00 sweep on day 30 falls inside the hold (until 10:17).
    assert!(run
        .apply(&page_view("other", at(30, 10, 5), "/"))
        .changes
        .is_empty());
    assert_eq!(run.stage("oz"), Stage::Mql);
    // oz's own +2 page view after the hold, before the next boundary: the
    // score (about 12) is below 30 through decay, not through this view.
    let a = run.apply(&page_view("oz", at(30, 10, 40), "/blog"));
    assert!(a.changes.is_empty(), "{:#?}", a.changes);
    assert!(run.score("oz", at(30, 10, 40)).total < 30.0);
    // Decay demotes through the sweep.
    let a = run.apply(&page_view("other", at(30, 11, 5), "/"));
    let c = only(&a.changes);
    assert_eq!(
        (c.lead_id.as_str(), c.from, c.to),
        ("oz", Stage::Mql, Stage::Lead)
    );
    assert_eq!(c.reason, Reason::RecycledDecay);
    assert_eq!(c.trigger_event_id, None);
    assert_eq!(c.occurred_at_ms, at(30, 11, 0));
    assert_close(
        c.score.total,
        decayed(20.0, at(30, 11, 0) - t) + decayed(2.0, 20 * MIN),
        "total",
    );
}

#[test]
fn behaviour_halves_every_30_days_and_fit_does_not_decay() {
    let mut run = Run::new();
    let t = at(0, 10, 0);
    run.apply_all(&[
        webinar("pa", t, "w1", Attended),
        profile("pa", t, Some("logistics"), None, None, None),
    ]);
    let now = run.score("pa", t);
    assert_close(now.behavior, 10.0, "behavior");
    assert_close(now.fit, 10.0, "fit");
    let later = run.score("pa", t + 30 * DAY);
    assert_close(later.behavior, 5.0, "behavior after 30 days");
    assert_close(later.fit, 10.0, "fit after 30 days");
    assert_close(later.total, 15.0, "total after 30 days");
    let much_later = run.score("pa", t + 60 * DAY);
    assert_close(much_later.behavior, 2.5, "behavior after 60 days");
    assert_close(run.score("pa", t + 365 * DAY).fit, 10.0, "fit after a year");
}

// --- filters -----------------------------------------------------------

#[test]
fn bot_traffic_changes_nothing() {
    let mut run = Run::new();
    let t = at(0, 10, 0);
    run.apply(&download("qi", t, "wp-1", Whitepaper));
    let before = run.lead("qi");
    let watermark = run.state.watermark_ms();
    for e in [
        page_view_ua(
            "qi",
            t + MIN,
            "/features",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ),
        pricing_ua("qi", t + 2 * MIN, "/pricing", "python-requests/2.31.0"),
        pricing_ua(
            "qi",
            t + 3 * HOUR,
            "/pricing",
            "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0",
        ),
        page_view_ua("bot-only", t + 4 * MIN, "/", "curl/8.4.0"),
    ] {
        let a = run.apply(&e);
        assert_eq!(a.outcome, Some(Outcome::Bot), "{}", e.event_id);
        assert!(a.changes.is_empty());
    }
    assert_eq!(run.lead("qi"), before, "score, windows and stage unchanged");
    assert_close(run.score("qi", t).total, 5.0, "score");
    assert!(run.state.lead("bot-only").is_none(), "no lead created");
    assert_eq!(
        run.state.watermark_ms(),
        watermark,
        "bots do not move event time"
    );
    // The same page from a browser scores.
    let a = run.apply(&page_view("qi", t + MIN, "/features"));
    assert_eq!(a.outcome, Some(Outcome::Scored));
    assert_close(
        run.score("qi", t + MIN).total,
        decayed(5.0, MIN) + 2.0,
        "browser view",
    );
}

#[test]
fn duplicate_event_ids_change_nothing() {
    let mut run = Run::new();
    let t = at(0, 10, 0);
    let e = with_id(form("ra", t, FormKind::ContactUs), "evt-1");
    assert_eq!(run.apply(&e).changes.len(), 1);
    let before = run.lead("ra");

    let a = run.apply(&e);
    assert_eq!(a.outcome, Some(Outcome::Duplicate));
    assert!(a.changes.is_empty());
    // A retry is a duplicate whatever its payload says.
    let a = run.apply(&with_id(download("ra", t, "wp", Whitepaper), "evt-1"));
    assert_eq!(a.outcome, Some(Outcome::Duplicate));
    assert_eq!(run.lead("ra"), before);

    // 167 hours later (sweeps and dedupe pruning ran meanwhile) a retry of
    // the original is still a duplicate.
    for h in (1..=167).step_by(6) {
        run.apply(&page_view("other", t + h * HOUR, "/"));
    }
    run.apply(&page_view("other", t + 167 * HOUR, "/"));
    let a = run.apply(&e);
    assert_eq!(a.outcome, Some(Outcome::Duplicate));
    assert_eq!(run.lead("ra"), before);
    assert_eq!(run.changes_for("ra").len(), 1);
}

#[test]
fn scoring_events_beyond_120_per_lead_per_minute_are_rate_limited() {
    let mut run = Run::new();
    let minute = at(0, 10, 0);
    // 120 distinct whitepapers in one minute: each can score, all are admitted.
    for i in 0..120 {
        let e = download(
            "sy",
            minute + 1_000 + i * 400,
            &format!("wp-{i}"),
            Whitepaper,
        );
        assert_eq!(run.apply(&e).outcome, Some(Outcome::Scored), "event {i}");
    }
    let full = minute + 59_000;
    let before = run.score("sy", full).total;
    assert_eq!(run.count("sy", "download"), 120);
    // The 121st scoring event of the minute is not.
    let a = run.apply(&download("sy", full, "wp-extra", Whitepaper));
    assert_eq!(a.outcome, Some(Outcome::RateLimited));
    assert_close(run.score("sy", full).total, before, "nothing credited");
    assert_eq!(run.count("sy", "download"), 120);
    // Events that cannot score are not counted against the limit: a repeat
    // of a credited asset, or a form no rule matches.
    let a = run.apply(&download("sy", full + 10, "wp-3", Whitepaper));
    assert_eq!(a.outcome, Some(Outcome::Scored));
    let a = run.apply(&form("sy", full + 20, FormKind::Other));
    assert_eq!(a.outcome, Some(Outcome::Scored));

    // An earlier scoring event arriving late takes the place of the
    // minute's latest admitted one, as the daily cap moves credit.
    let a = run.apply(&download("sy", minute + 500, "wp-early", Whitepaper));
    assert_eq!(a.outcome, Some(Outcome::Scored));
    assert_eq!((a.displaced, a.readmitted), (1, 0));
    assert_eq!(run.count("sy", "download"), 120);
    let latest = minute + 1_000 + 119 * 400;
    assert_close(
        run.score("sy", full).total,
        before - decayed(5.0, full - latest) + decayed(5.0, full - (minute + 500)),
        "the credit moved to the earlier event",
    );

    // The limit is per lead.
    let a = run.apply(&download("ta", minute + 59_500, "wp-1", Whitepaper));
    assert_eq!(a.outcome, Some(Outcome::Scored));
    // And per minute: the next minute is admitted.
    let t = minute + MIN;
    let a = run.apply(&download("sy", t, "wp-next", Whitepaper));
    assert_eq!(a.outcome, Some(Outcome::Scored));
    assert_eq!(run.count("sy", "download"), 121);
}

#[test]
fn a_window_taken_over_by_an_earlier_event_readmits_a_waiting_one() {
    let mut run = Run::new();
    let minute = at(0, 10, 0);
    // A full minute of distinct pages (page views are capped at 7 a day,
    // so use downloads), then one more that waits.
    for i in 0..120 {
        run.apply(&download(
            "w",
            minute + 1_000 + i * 400,
            &format!("a{i}"),
            Whitepaper,
        ));
    }
    let waiting = run.apply(&download("w", minute + 59_900, "late-asset", Whitepaper));
    assert_eq!(waiting.outcome, Some(Outcome::RateLimited));
    // a0 was downloaded earlier, in the previous minute: that event takes
    // over a0's window, which frees a place in the full minute.
    let a = run.apply(&download("w", minute - 10_000, "a0", Whitepaper));
    assert_eq!(a.outcome, Some(Outcome::Scored));
    assert_eq!((a.displaced, a.readmitted), (0, 1));
    assert_eq!(
        run.count("w", "download"),
        121,
        "a0 early, a1..a119, late-asset"
    );
}

#[test]
fn events_more_than_168h_behind_the_watermark_are_dropped_as_late() {
    let mut run = Run::new();
    let wm = at(10, 12, 0);
    run.apply(&page_view("wm", wm, "/"));
    let a = run.apply(&download("ub", wm - 168 * HOUR - 1, "wp", Whitepaper));
    assert_eq!(a.outcome, Some(Outcome::Late));
    assert!(a.changes.is_empty());
    assert!(run.state.lead("ub").is_none());
    let a = run.apply(&download("ub", wm - 168 * HOUR, "wp", Whitepaper));
    assert_eq!(a.outcome, Some(Outcome::Scored), "exactly 168h is in time");
    assert_eq!(
        run.state.watermark_ms(),
        wm,
        "a late event does not move it"
    );
}

#[test]
fn events_within_the_lateness_are_credited_with_their_own_decay() {
    let now = at(5, 10, 0);
    let earlier = at(2, 10, 0);
    let mut out_of_order = Run::new();
    out_of_order.apply_all(&[
        download("va", now, "wp-1", Whitepaper),
        webinar("va", earlier, "w1", Attended),
    ]);
    let s = out_of_order.score("va", now);
    assert_close(s.total, 5.0 + decayed(10.0, 3 * DAY), "total");

    let mut in_order = Run::new();
    in_order.apply_all(&[
        webinar("va", earlier, "w1", Attended),
        download("va", now, "wp-1", Whitepaper),
    ]);
    assert!((in_order.score("va", now).total - s.total).abs() < 1e-9);
}

// --- rules -------------------------------------------------------------

#[test]
fn careers_page_visits_lower_the_score_below_zero() {
    let mut run = Run::new();
    let t = at(0, 10, 0);
    run.apply_all(&[
        page_view("wu", t, "/careers/backend-engineer"),
        page_view("wu", t + MIN, "/jobs/123"),
        // The same posting again that day is the same job seeker.
        page_view("wu", t + 2 * HOUR, "/careers/backend-engineer"),
    ]);
    let s = run.score("wu", t + 2 * HOUR);
    let expected = decayed_sum(&[(-10.0, t), (-10.0, t + MIN)], t + 2 * HOUR);
    assert_close(s.total, expected, "total");
    assert!(s.total < -19.0);
    assert_eq!(run.count("wu", "careers_page"), 2);
    assert_eq!(run.count("wu", "page_view"), 0, "first match wins: not +2");
    // The next day it counts again.
    run.apply(&page_view("wu", t + DAY, "/careers/backend-engineer"));
    assert_eq!(run.count("wu", "careers_page"), 3);
    assert!(run.changes.is_empty());
    assert_eq!(run.stage("wu"), Stage::Lead);
}

#[test]
fn careers_visits_keep_an_mql_above_30_and_recycle_it_below_30() {
    let mut run = Run::new();
    let (events, mut credits) = content_to_51("xe", 0);
    run.apply_all(&events);
    assert_eq!(run.stage("xe"), Stage::Mql);

    for (m, path) in [(10, "/careers/a"), (11, "/careers/b")] {
        let a = run.apply(&page_view("xe", at(0, 10, m), path));
        credits.push((-10.0, at(0, 10, m)));
        let total = decayed_sum(&credits, at(0, 10, m));
        assert!((30.0..50.0).contains(&total), "{total}");
        assert!(a.changes.is_empty(), "hysteresis: still MQL at {total}");
    }
    let e = page_view("xe", at(0, 10, 12), "/jobs/c");
    let a = run.apply(&e);
    credits.push((-10.0, at(0, 10, 12)));
    let c = only(&a.changes);
    assert_eq!((c.from, c.to), (Stage::Mql, Stage::Lead));
    assert_eq!(
        c.reason,
        Reason::ScoreThreshold,
        "negative points, not decay"
    );
    assert_eq!(c.trigger_event_id.as_deref(), Some(&*e.event_id));
    assert_close(c.score.total, decayed_sum(&credits, at(0, 10, 12)), "total");
    assert!(has_threshold(c, "mql_recycle_below 30"));
}

#[test]
fn a_newer_profile_with_a_lower_fit_can_recycle_an_mql() {
    let mut run = Run::new();
    run.apply_all(&[
        full_fit_profile("ye", at(0, 9, 0)),
        pricing("ye", at(0, 10, 0), "/pricing"),
    ]);
    assert_eq!(run.stage("ye"), Stage::Mql, "45 + 8");
    // The company turns out to be a 10-person retailer in Brazil.
    let e = profile(
        "ye",
        at(0, 11, 0),
        Some("retail"),
        Some(10),
        Some(900_000),
        Some("BR"),
    );
    let a = run.apply(&e);
    let c = only(&a.changes);
    assert_eq!((c.from, c.to), (Stage::Mql, Stage::Lead));
    assert_eq!(
        c.reason,
        Reason::ScoreThreshold,
        "the event lowered the score"
    );
    assert_close(c.score.fit, 0.0, "fit");
    assert_close(c.score.total, decayed(8.0, HOUR), "total");
}

#[test]
fn daily_cap_credits_at_most_seven_page_views_per_utc_day() {
    let mut run = Run::new();
    let mut credits = Vec::new();
    for i in 0..7 {
        let t = at(0, 17, i);
        run.apply(&page_view("yo", t, &format!("/p{i}")));
        credits.push((2.0, t));
    }
    let t7 = at(0, 17, 7);
    assert_close(
        run.score("yo", t7).total,
        decayed_sum(&credits, t7),
        "7 views",
    );

    // The 8th distinct page that day, and one just before midnight, add nothing.
    let before = run.score("yo", at(0, 23, 59));
    run.apply(&page_view("yo", t7, "/p7"));
    run.apply(&page_view("yo", at(0, 23, 59), "/p8"));
    assert_close(run.score("yo", at(0, 23, 59)).total, before.total, "capped");
    assert_eq!(run.count("yo", "page_view"), 7);

    // The next UTC day counts again.
    let next = at(1, 0, 1);
    run.apply(&page_view("yo", next, "/p0"));
    credits.push((2.0, next));
    assert_close(
        run.score("yo", next).total,
        decayed_sum(&credits, next),
        "next day",
    );
    assert_eq!(run.count("yo", "page_view"), 8);
}

#[test]
fn the_same_path_counts_once_per_30_minute_window() {
    let mut run = Run::new();
    run.apply_all(&[
        page_view("za", at(0, 10, 0), "/features"),
        page_view("za", at(0, 10, 20), "/features"),
    ]);
    let once = decayed(2.0, 20 * MIN);
    assert_close(run.score("za", at(0, 10, 20)).total, once, "same window");
    assert_eq!(run.count("za", "page_view"), 1);

    // A different path in the same window counts.
    run.apply(&page_view("za", at(0, 10, 21), "/integrations"));
    assert_eq!(run.count("za", "page_view"), 2);
    // The same path in the next window counts again.
    let t = at(0, 10, 35);
    run.apply(&page_view("za", t, "/features"));
    assert_eq!(run.count("za", "page_view"), 3);
    let expected = decayed_sum(&[(2.0, at(0, 10, 0)), (2.0, at(0, 10, 21)), (2.0, t)], t);
    assert_close(run.score("za", t).total, expected, "three credited views");
    // Pricing pages follow the same window.
    run.apply_all(&[
        pricing("za", at(0, 11, 0), "/pricing"),
        pricing("za", at(0, 11, 29), "/pricing"),
    ]);
    assert_eq!(run.count("za", "pricing_page"), 1);
}

#[test]
fn the_same_asset_and_the_same_webinar_action_count_once() {
    let mut run = Run::new();
    let t = at(0, 10, 0);
    run.apply_all(&[
        download("ab", t, "wp-1", Whitepaper),
        download("ab", t + 3 * DAY, "wp-1", Whitepaper),
        download("ab", t + 3 * DAY, "cs-1", CaseStudy),
        download("ab", t + 4 * DAY, "cs-1", CaseStudy),
        webinar("ab", t, "w1", Registered),
        webinar("ab", t + DAY, "w1", Registered),
        webinar("ab", t + 2 * DAY, "w1", Attended),
        webinar("ab", t + 2 * DAY, "w2", Registered),
        webinar("ab", t + 5 * DAY, "w1", OnDemand),
    ]);
    let end = t + 5 * DAY;
    assert_eq!(run.count("ab", "download"), 1);
    assert_eq!(run.count("ab", "case_study_download"), 1);
    assert_eq!(run.count("ab", "webinar_registered"), 2);
    assert_eq!(run.count("ab", "webinar_attended"), 1);
    assert_eq!(run.count("ab", "webinar_on_demand"), 1);
    let expected = decayed_sum(
        &[
            (5.0, t),
            (8.0, t + 3 * DAY),
            (5.0, t),
            (10.0, t + 2 * DAY),
            (5.0, t + 2 * DAY),
            (8.0, end),
        ],
        end,
    );
    assert_close(run.score("ab", end).total, expected, "total");
}

#[test]
fn newsletter_counts_once_and_demo_requests_once_per_day() {
    let mut run = Run::new();
    let t = at(0, 10, 0);
    run.apply_all(&[
        form("bc", t, FormKind::Newsletter),
        form("bc", t + 2 * DAY, FormKind::Newsletter),
        form("bc", t, FormKind::DemoRequest),
        form("bc", t + HOUR, FormKind::DemoRequest),
        form("bc", t + DAY, FormKind::DemoRequest),
        form("bc", t + DAY, FormKind::Other),
    ]);
    let end = t + 2 * DAY;
    assert_eq!(run.count("bc", "newsletter_signup"), 1);
    assert_eq!(run.count("bc", "demo_request"), 2);
    let expected = decayed_sum(&[(3.0, t), (20.0, t), (20.0, t + DAY)], end);
    assert_close(run.score("bc", end).total, expected, "total");
}

#[test]
fn fit_rules_score_the_documented_bands_and_lists() {
    // industry, employees, annual revenue, country -> expected fit
    type Case = (
        Option<&'static str>,
        Option<u64>,
        Option<u64>,
        Option<&'static str>,
        f64,
    );
    let cases: [Case; 19] = [
        (None, Some(49), None, None, 0.0),
        (None, Some(50), None, None, 5.0),
        (None, Some(199), None, None, 5.0),
        (None, Some(200), None, None, 10.0),
        (None, Some(999), None, None, 10.0),
        (None, Some(1000), None, None, 15.0),
        (None, Some(250_000), None, None, 15.0),
        (None, None, Some(999_999), None, 0.0),
        (None, None, Some(1_000_000), None, 5.0),
        (None, None, Some(10_000_000), None, 10.0),
        (None, None, Some(99_999_999), None, 10.0),
        (None, None, Some(100_000_000), None, 15.0),
        (Some("Software"), None, None, None, 10.0),
        (Some("financial services"), None, None, None, 10.0),
        (Some("retail"), None, None, None, 0.0),
        (None, None, None, Some("US"), 5.0),
        (None, None, None, Some("gb"), 5.0),
        (None, None, None, Some("BR"), 0.0),
        (
            Some("SaaS"),
            Some(1000),
            Some(100_000_000),
            Some("CA"),
            45.0,
        ),
    ];
    let mut run = Run::new();
    let t = at(0, 10, 0);
    for (i, (industry, employees, revenue, country, fit)) in cases.into_iter().enumerate() {
        let lead = format!("fit-{i}");
        run.apply(&profile(&lead, t, industry, employees, revenue, country));
        let s = run.score(&lead, t);
        assert_close(s.fit, fit, &format!("case {i}"));
        assert_close(s.behavior, 0.0, "no behaviour");
        assert_close(s.total, fit, "total");
    }
    assert!(
        run.changes.is_empty(),
        "fit alone (at most 45) is never an MQL"
    );
}

#[test]
fn the_newest_profile_wins_and_absent_attributes_are_kept() {
    let mut run = Run::new();
    run.apply(&profile("cd", at(0, 10, 0), None, Some(5000), None, None));
    assert_close(run.score("cd", at(0, 10, 0)).fit, 15.0, "5000 employees");
    run.apply(&profile("cd", at(0, 11, 0), None, Some(120), None, None));
    assert_close(run.score("cd", at(0, 11, 0)).fit, 5.0, "newer: 120");
    // An older profile arriving late does not win.
    run.apply(&profile("cd", at(0, 9, 0), None, Some(2000), None, None));
    assert_close(run.score("cd", at(0, 11, 0)).fit, 5.0, "older ignored");
    // A profile without employees keeps the known band.
    run.apply(&profile("cd", at(0, 12, 0), None, None, None, Some("US")));
    assert_close(run.score("cd", at(0, 12, 0)).fit, 10.0, "5 + 5");
    // A newer non-ICP industry scores 0, it does not erase other attributes.
    run.apply(&profile(
        "cd",
        at(0, 13, 0),
        Some("retail"),
        None,
        None,
        None,
    ));
    assert_close(run.score("cd", at(0, 13, 0)).fit, 10.0, "retail adds 0");
    run.apply(&profile(
        "cd",
        at(0, 14, 0),
        Some("manufacturing"),
        None,
        None,
        None,
    ));
    assert_close(run.score("cd", at(0, 14, 0)).fit, 20.0, "ICP industry");
    run.apply(&profile(
        "cd",
        at(0, 15, 0),
        Some("retail"),
        None,
        None,
        None,
    ));
    assert_close(run.score("cd", at(0, 15, 0)).fit, 10.0, "newest industry");
}

// --- change ids and the shape of every change --------------------------

/// A day of traffic over several leads that exercises every transition:
/// instant MQL, MQL by score, SQL straight and via MQL, recycles by an event
/// and by the sweep (MQL and SQL), and re-qualification.
fn mixed_traffic() -> Vec<Event<'static>> {
    let mut v = Vec::new();
    v.push(form("m-contact", at(0, 9, 0), FormKind::ContactUs));
    v.extend(content_to_51("m-content", 0).0);
    v.extend([
        pricing("m-sql", at(0, 9, 0), "/pricing"),
        pricing("m-sql", at(0, 9, 30), "/pricing"),
        pricing("m-sql", at(0, 10, 0), "/pricing"),
        form("m-sql", at(0, 10, 10), FormKind::DemoRequest),
        full_fit_profile("m-sql", at(0, 10, 20)),
        full_fit_profile("m-via", at(0, 8, 0)),
        pricing("m-via", at(0, 9, 0), "/pricing"),
        pricing("m-via", at(0, 9, 30), "/pricing"),
        pricing("m-via", at(0, 10, 0), "/pricing"),
        form("m-via", at(0, 10, 10), FormKind::DemoRequest),
    ]);
    v.extend(content_to_51("m-careers", 0).0);
    v.extend([
        page_view("m-careers", at(0, 11, 0), "/careers/a"),
        page_view("m-careers", at(0, 11, 1), "/careers/b"),
        page_view("m-careers", at(0, 11, 2), "/careers/c"),
        // Decay recycles m-content, then m-contact once its hold ends; the
        // SQLs stay (fit 45 keeps them above 40); m-content comes back.
        page_view("clock", at(26, 12, 0), "/"),
        page_view("clock", at(40, 12, 0), "/"),
        form("m-content", at(40, 12, 5), FormKind::ContactUs),
    ]);
    v
}

#[test]
fn change_ids_are_deterministic_and_count_entries_into_each_stage() {
    let events = mixed_traffic();
    let mut a = Run::new();
    let mut b = Run::new();
    for e in &events {
        a.apply(e);
        b.apply(e);
    }
    assert!(a.changes.len() >= 8, "{:#?}", a.changes);
    assert_eq!(a.changes, b.changes);

    // The id names the lead, the stage entered and which entry into it
    // this is for the lead, whatever the trigger.
    let mut entries: std::collections::BTreeMap<(String, Stage), u32> = Default::default();
    for c in &a.changes {
        let n = entries.entry((c.lead_id.clone(), c.to)).or_default();
        *n += 1;
        assert_eq!(
            c.change_id,
            change_id(&c.lead_id, c.to, *n, &a.model.version)
        );
    }
    let mut ids: Vec<&str> = a.changes.iter().map(|c| c.change_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), a.changes.len(), "every change has its own id");

    // m-content entered MQL twice, through different triggers.
    let entries: Vec<_> = a
        .changes_for("m-content")
        .into_iter()
        .filter(|c| c.to == Stage::Mql)
        .collect();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert_ne!(entries[0].change_id, entries[1].change_id);
    assert_ne!(entries[0].reason, entries[1].reason);

    // Another model version gives other ids for the same transitions.
    let other = Model::from_toml(
        &DEFAULT_MODEL_TOML.replace("hold_days = 30.0", "hold_days = 31.0"),
        "other",
    )
    .unwrap();
    assert_ne!(other.version, a.model.version);
    let mut c = Run::with_model(other);
    for e in &events[..1] {
        c.apply(e);
    }
    assert_eq!(c.changes[0].lead_id, a.changes[0].lead_id);
    assert_eq!(c.changes[0].trigger_event_id, a.changes[0].trigger_event_id);
    assert_ne!(c.changes[0].change_id, a.changes[0].change_id);
    assert_eq!(&*c.changes[0].model_version, &*c.model.version);
}

#[test]
fn every_change_carries_model_version_score_split_and_the_threshold_crossed() {
    let mut run = Run::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in &mixed_traffic() {
        let a = run.apply(e);
        for c in &a.changes {
            seen.insert((c.from, c.to, c.reason.to_string()));
            assert_eq!(&*c.model_version, &*run.model.version);
            assert!(c.model_version.starts_with("default-"));
            let s = c.score;
            assert!((s.total - (s.behavior + s.fit)).abs() < 1e-9, "{s:?}");
            // The score is the lead's score at the change's occurred_at.
            let now = run.score(&c.lead_id, c.occurred_at_ms);
            assert!((now.total - s.total).abs() < 1e-9, "{now:?} vs {s:?}");
            let st = &run.model.stages;
            match (c.from, c.to) {
                (_, Stage::Sql) => {
                    assert!(has_threshold(c, "sql_at 80"));
                    assert!(has_threshold(c, "sql_min_fit 20"));
                    assert!(s.total >= st.sql_at && s.fit >= st.sql_min_fit);
                    assert!(!c.explanation.sql_signals.is_empty());
                }
                (Stage::Lead, Stage::Mql) if c.reason == Reason::ScoreThreshold => {
                    assert!(has_threshold(c, "mql_at 50"));
                    assert!(s.total >= st.mql_at);
                }
                (Stage::Lead, Stage::Mql) => {
                    assert!(matches!(c.reason, Reason::InstantRule(_)));
                }
                (Stage::Mql, Stage::Lead) => {
                    assert!(has_threshold(c, "mql_recycle_below 30"));
                    assert!(s.total < st.mql_recycle_below);
                }
                (Stage::Sql, Stage::Lead) => {
                    assert!(has_threshold(c, "sql_recycle_below 40"));
                    assert!(s.total < st.sql_recycle_below);
                }
                other => panic!("unexpected transition {other:?}"),
            }
            assert!(!c.explanation.top_rules.is_empty());
            assert!(!c.explanation.summary.is_empty());
        }
    }
    // The traffic really covered each kind of change.
    for want in [
        (Stage::Lead, Stage::Mql, "instant_rule:contact_us"),
        (Stage::Lead, Stage::Mql, "score_threshold"),
        (Stage::Lead, Stage::Sql, "score_threshold"),
        (Stage::Mql, Stage::Sql, "sql_signal"),
        (Stage::Mql, Stage::Lead, "score_threshold"),
        (Stage::Mql, Stage::Lead, "recycled_decay"),
    ] {
        assert!(
            seen.contains(&(want.0, want.1, want.2.to_string())),
            "{want:?} not in {seen:?}"
        );
    }
}

#[test]
fn an_event_causes_at_most_one_change_for_its_lead() {
    let mut run = Run::new();
    for e in &mixed_traffic() {
        let a = run.apply(e);
        let own: Vec<_> = a
            .changes
            .iter()
            .filter(|c| c.trigger_event_id.as_deref() == Some(&*e.event_id))
            .collect();
        assert!(own.len() <= 1, "{own:#?}");
        for c in &own {
            assert_eq!(c.lead_id, e.lead_id);
            assert_eq!(c.occurred_at_ms, run.lead(&c.lead_id).last_event_ms());
        }
        // Sweep changes come first and are decay recycles at a boundary.
        let sweeps = a
            .changes
            .iter()
            .take_while(|c| c.trigger_event_id.is_none());
        for c in sweeps {
            assert_eq!(c.reason, Reason::RecycledDecay);
            assert_eq!(c.occurred_at_ms % HOUR, 0);
            assert!(c.occurred_at_ms <= e.occurred_at_ms);
        }
        assert!(a
            .changes
            .iter()
            .skip_while(|c| c.trigger_event_id.is_none())
            .all(|c| c.trigger_event_id.is_some()));
    }
    // Skipping MQL is one change, not lead -> mql -> sql.
    let sql: Vec<_> = run
        .changes_for("m-sql")
        .into_iter()
        .map(|c| (c.from, c.to))
        .collect();
    assert_eq!(sql, [(Stage::Lead, Stage::Sql)]);
}

#[test]
fn a_sweep_recycle_and_the_events_own_change_are_separate_triggers() {
    // An MQL held by contact_us, recycled by decay at the first boundary
    // after its hold, then filling in contact_us again in that same hour.
    let mut run = Run::new();
    run.apply(&form("de", at(0, 10, 0), FormKind::ContactUs));
    let e = form("de", at(31, 10, 15), FormKind::ContactUs);
    let a = run.apply(&e);
    let steps: Vec<_> = a
        .changes
        .iter()
        .map(|c| {
            (
                c.from,
                c.to,
                c.reason.to_string(),
                c.trigger_event_id.clone(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            (Stage::Mql, Stage::Lead, "recycled_decay".to_string(), None),
            (
                Stage::Lead,
                Stage::Mql,
                "instant_rule:contact_us".to_string(),
                Some(e.event_id.to_string())
            ),
        ]
    );
    assert_eq!(a.changes[0].occurred_at_ms, at(31, 10, 0));
    assert_eq!(a.changes[1].occurred_at_ms, at(31, 10, 15));
    assert_eq!(run.stage("de"), Stage::Mql);
}
