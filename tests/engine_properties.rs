//! Properties of the engine over generated traffic (DESIGN.md: "the score
//! does not depend on the order events arrive in"; "the engine is a
//! deterministic function of (model, state, event)").

mod common;

use std::borrow::Cow;
use std::collections::BTreeMap;

use common::*;
use leadscore::engine::{Outcome, StageChange, TaskState};
use leadscore::event::{AssetKind, Event, EventBody, FormKind, Profile, WebContext, WebinarAction};
use leadscore::model::Model;
use proptest::prelude::*;

const LEADS: [&str; 4] = ["lead-a", "lead-b", "lead-c", "lead-d"];
const PATHS: [&str; 10] = [
    "/",
    "/features",
    "/blog/a",
    "/blog/b",
    "/docs",
    "/about",
    "/integrations",
    "/customers",
    "/careers/eng",
    "/jobs/42",
];
const PRICING_PATHS: [&str; 2] = ["/pricing", "/pricing/enterprise"];
const ASSETS: [&str; 4] = ["asset-1", "asset-2", "asset-3", "asset-4"];
const WEBINARS: [&str; 3] = ["web-1", "web-2", "web-3"];
const INDUSTRIES: [&str; 4] = ["software", "retail", "SaaS", "healthcare technology"];
const EMPLOYEES: [u64; 5] = [10, 50, 300, 999, 5000];
const REVENUES: [u64; 4] = [500_000, 2_000_000, 20_000_000, 300_000_000];
const COUNTRIES: [&str; 3] = ["US", "BR", "de"];
const AGENTS: [&str; 3] = [
    BROWSER_UA,
    "Mozilla/5.0 (compatible; bingbot/2.0)",
    "curl/8.4.0",
];

/// What an event is about, by index into the pools above.
#[derive(Debug, Clone)]
enum Kind {
    Page(usize, usize),
    Pricing(usize, usize),
    Download(usize, usize),
    Webinar(usize, usize),
    Form(usize),
    Profile(Option<usize>, Option<usize>, Option<usize>, Option<usize>),
}

#[derive(Debug, Clone)]
struct Spec {
    lead: usize,
    t: i64,
    kind: Kind,
}

fn kind() -> impl Strategy<Value = Kind> {
    // Mostly browsers: bots are dropped whatever the order.
    let agent = prop_oneof![8 => Just(0usize), 1 => Just(1usize), 1 => Just(2usize)];
    prop_oneof![
        4 => (0..PATHS.len(), agent.clone()).prop_map(|(p, a)| Kind::Page(p, a)),
        2 => (0..PRICING_PATHS.len(), agent).prop_map(|(p, a)| Kind::Pricing(p, a)),
        2 => (0..ASSETS.len(), 0..AssetKind::ALL.len()).prop_map(|(a, k)| Kind::Download(a, k)),
        2 => (0..WEBINARS.len(), 0..WebinarAction::ALL.len()).prop_map(|(w, a)| Kind::Webinar(w, a)),
        1 => (0..FormKind::ALL.len()).prop_map(Kind::Form),
        1 => profile_kind(),
    ]
}

fn profile_kind() -> impl Strategy<Value = Kind> {
    (
        proptest::option::of(0..INDUSTRIES.len()),
        proptest::option::of(0..EMPLOYEES.len()),
        proptest::option::of(0..REVENUES.len()),
        proptest::option::of(0..COUNTRIES.len()),
    )
        .prop_map(|(i, e, r, c)| Kind::Profile(i, e, r, c))
}

/// Event time: `days` days from T0, at minute resolution half of the time
/// (so equal times and shared repeat windows are common).
fn time(days: i64) -> impl Strategy<Value = i64> {
    (
        0..days,
        0..(24 * 60i64),
        prop_oneof![Just(0i64), 0..60_000i64],
    )
        .prop_map(|(d, m, ms)| T0 + d * DAY + m * MIN + ms)
}

fn spec(leads: usize, days: i64) -> impl Strategy<Value = Spec> {
    (0..leads, time(days), kind()).prop_map(|(lead, t, kind)| Spec { lead, t, kind })
}

/// Builds the event; `id` is its event_id.
fn build(s: &Spec, id: String) -> Event<'static> {
    let web = |a: usize| WebContext {
        user_agent: Some(Cow::Borrowed(AGENTS[a])),
        ip: None,
        session_id: Some(Cow::Borrowed("s-1")),
    };
    let body = match s.kind {
        Kind::Page(p, a) => EventBody::PageView {
            path: Cow::Borrowed(PATHS[p]),
            referrer: None,
            web: web(a),
        },
        Kind::Pricing(p, a) => EventBody::PricingPage {
            path: Cow::Borrowed(PRICING_PATHS[p]),
            plan: None,
            seconds_on_page: Some(30),
            web: web(a),
        },
        Kind::Download(a, k) => EventBody::Download {
            asset_id: Cow::Borrowed(ASSETS[a]),
            asset_kind: AssetKind::ALL[k],
        },
        Kind::Webinar(w, a) => EventBody::Webinar {
            webinar_id: Cow::Borrowed(WEBINARS[w]),
            action: WebinarAction::ALL[a],
            minutes: None,
        },
        Kind::Form(f) => EventBody::Form {
            form: FormKind::ALL[f],
        },
        Kind::Profile(i, e, r, c) => EventBody::Profile(Profile {
            industry: i.map(|i| Cow::Borrowed(INDUSTRIES[i])),
            employees: e.map(|e| EMPLOYEES[e]),
            annual_revenue_usd: r.map(|r| REVENUES[r]),
            country: c.map(|c| Cow::Owned(COUNTRIES[c].to_string())),
        }),
    };
    Event {
        event_id: Cow::Owned(id),
        lead_id: Cow::Borrowed(LEADS[s.lead]),
        occurred_at_ms: s.t,
        body,
    }
}

/// Unique event ids: one event per spec.
fn unique_events(specs: &[Spec]) -> Vec<Event<'static>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| build(s, format!("evt-{i}")))
        .collect()
}

/// What must not depend on arrival order, per lead.
#[derive(Debug)]
struct Final {
    total: f64,
    behavior: f64,
    fit: f64,
    /// Credited events per rule id.
    counts: BTreeMap<u16, u32>,
    /// Active SQL signal ids at the reading time.
    signals: Vec<u16>,
}

fn finals(model: &Model, state: &TaskState, at_ms: i64) -> BTreeMap<String, Final> {
    state
        .lead_states()
        .into_iter()
        .map(|lead| {
            let s = lead.score_at(model, at_ms);
            (
                lead.lead_id(),
                Final {
                    total: s.total,
                    behavior: s.behavior,
                    fit: s.fit,
                    counts: lead.credited_counts(model),
                    signals: lead.active_signals(model, at_ms),
                },
            )
        })
        .collect()
}

fn run(model: &Model, events: &[Event<'_>], order: &[usize]) -> TaskState {
    let mut state = TaskState::default();
    for &i in order {
        let a = state.apply(model, &events[i]);
        assert_ne!(
            a.outcome,
            Some(Outcome::Late),
            "generator keeps events in time"
        );
        assert_ne!(a.outcome, Some(Outcome::RateLimited));
        assert_ne!(a.outcome, Some(Outcome::Duplicate), "ids are unique");
    }
    state
}

fn assert_same_finals(
    a: &BTreeMap<String, Final>,
    b: &BTreeMap<String, Final>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "same leads"
    );
    for (lead, x) in a {
        let y = &b[lead];
        prop_assert!(
            (x.total - y.total).abs() < 1e-6,
            "{}: {:?} vs {:?}",
            lead,
            x,
            y
        );
        prop_assert!(
            (x.behavior - y.behavior).abs() < 1e-6,
            "{}: {:?} vs {:?}",
            lead,
            x,
            y
        );
        prop_assert!((x.fit - y.fit).abs() < 1e-9, "{}: {:?} vs {:?}", lead, x, y);
        prop_assert_eq!(&x.counts, &y.counts, "{}", lead);
        prop_assert_eq!(&x.signals, &y.signals, "{}", lead);
    }
    Ok(())
}

/// A spec list and a permutation of it.
fn shuffled(
    specs: impl Strategy<Value = Vec<Spec>>,
) -> impl Strategy<Value = (Vec<Spec>, Vec<usize>)> {
    specs.prop_flat_map(|v| {
        let n = v.len();
        (Just(v), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
    })
}

/// Applies events in order, returning every outcome and change.
fn trace(model: &Model, events: &[Event<'_>]) -> Vec<(Option<Outcome>, Vec<StageChange>)> {
    let mut state = TaskState::default();
    events
        .iter()
        .map(|e| {
            let a = state.apply(model, e);
            (a.outcome, a.changes)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    /// Scores, fit, credited counts and active signals after all events do
    /// not depend on the order the events arrived in.
    #[test]
    fn final_scores_do_not_depend_on_arrival_order(
        (specs, order) in shuffled(prop::collection::vec(spec(LEADS.len(), 3), 1..80))
    ) {
        let model = Model::builtin();
        let events = unique_events(&specs);
        let given: Vec<usize> = (0..events.len()).collect();
        let a = run(&model, &events, &given);
        let b = run(&model, &events, &order);
        let end = T0 + 4 * DAY;
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &b, end))?;
        // Also within the traffic, where windows and signals are still open.
        let mid = T0 + DAY + 12 * HOUR;
        assert_same_finals(&finals(&model, &a, mid), &finals(&model, &b, mid))?;
    }

    /// Dense page views and pricing views of one lead in one or two days,
    /// where repeat windows and the daily cap decide most credits.
    #[test]
    fn capped_and_windowed_credits_do_not_depend_on_arrival_order(
        (specs, order) in shuffled(prop::collection::vec(
            // Four busy hours a day, two days.
            (0..2i64, 0..240i64, 0..PATHS.len(), prop::bool::weighted(0.2)).prop_map(
                |(d, m, p, pricing)| Spec {
                    lead: 0,
                    t: at(d, 9, m),
                    kind: if pricing { Kind::Pricing(p % 2, 0) } else { Kind::Page(p, 0) },
                },
            ),
            1..60,
        ))
    ) {
        let model = Model::builtin();
        let events = unique_events(&specs);
        let given: Vec<usize> = (0..events.len()).collect();
        let a = run(&model, &events, &given);
        let b = run(&model, &events, &order);
        let end = T0 + 3 * DAY;
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &b, end))?;
        // And the same as applying them in time order.
        let mut sorted = given.clone();
        sorted.sort_by_key(|&i| events[i].occurred_at_ms);
        let c = run(&model, &events, &sorted);
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &c, end))?;
    }

    /// Profiles of two leads at a handful of instants (so equal times are
    /// common): fit is the newest value per attribute whatever the order.
    #[test]
    fn fit_does_not_depend_on_arrival_order(
        (specs, order) in shuffled(prop::collection::vec(
            (0..2usize, 0..3i64, profile_kind())
                .prop_map(|(lead, h, kind)| Spec { lead, t: T0 + h * HOUR, kind }),
            1..30,
        ))
    ) {
        let model = Model::builtin();
        let events = unique_events(&specs);
        let given: Vec<usize> = (0..events.len()).collect();
        let a = run(&model, &events, &given);
        let b = run(&model, &events, &order);
        let end = T0 + DAY;
        assert_same_finals(&finals(&model, &a, end), &finals(&model, &b, end))?;
    }

    /// The same sequence (duplicates, late events, sweeps over two months
    /// included) gives identical outcomes and stage changes.
    #[test]
    fn the_same_events_give_the_same_stage_changes(
        specs in prop::collection::vec((spec(2, 45), 0..(10 * DAY)), 1..150),
        ids in prop::collection::vec(0..300usize, 150),
    ) {
        let model = Model::builtin();
        // Roughly in time order, some events up to 10 days behind (late
        // beyond 7); ids from a pool, so some events are retries of others.
        let mut specs = specs;
        specs.sort_by_key(|(s, behind)| s.t + behind);
        let events: Vec<Event<'static>> = specs
            .iter()
            .zip(&ids)
            .map(|((s, _), id)| build(s, format!("evt-{id}")))
            .chain((0..20).map(|k| {
                // Another lead's traffic moves event time on for 40 more
                // days, so the sweep recycles leads that went quiet.
                let clock = Spec { lead: 3, t: T0 + (45 + 2 * k) * DAY, kind: Kind::Page(0, 0) };
                build(&clock, format!("clock-{k}"))
            }))
            .collect();
        let first = trace(&model, &events);
        let second = trace(&model, &events);
        prop_assert_eq!(&first, &second);
        for (_, changes) in &first {
            for c in changes {
                prop_assert_eq!(c.change_id.len(), 32);
                prop_assert_eq!(&*c.model_version, &*model.version);
            }
        }
    }

    /// Scores stay finite, however events are spread over time.
    #[test]
    fn scores_are_never_nan_or_infinite(
        specs in prop::collection::vec(spec(LEADS.len(), 730), 1..120),
    ) {
        let model = Model::builtin();
        // In time order, so every event is scored across two years.
        let mut specs = specs;
        specs.sort_by_key(|s| s.t);
        let events = unique_events(&specs);
        let mut state = TaskState::default();
        for e in &events {
            let a = state.apply(&model, e);
            for c in &a.changes {
                let s = c.score;
                prop_assert!(s.total.is_finite() && s.behavior.is_finite() && s.fit.is_finite(), "{:?}", c);
                for r in &c.explanation.top_rules {
                    prop_assert!(r.points.is_finite(), "{:?}", c);
                }
            }
            let now = state.watermark_ms();
            for lead in state.lead_states() {
                for at in [now, now + 365 * DAY, lead.last_event_ms()] {
                    let s = lead.score_at(&model, at);
                    prop_assert!(
                        s.total.is_finite() && s.behavior.is_finite() && s.fit.is_finite(),
                        "{}: {:?}", lead.lead_id(), s
                    );
                }
            }
        }
    }
}
