//! Proptest strategies for event histories, shared by the property tests
//! (`engine_properties.rs`, `snapshot_properties.rs`): a few leads, pools of
//! paths, assets, webinars and profile values, so repeats, shared windows
//! and equal times are common.

#![allow(dead_code)]

use std::borrow::Cow;

use super::{BROWSER_UA, DAY, MIN, T0};
use leadscore::event::{AssetKind, Event, EventBody, FormKind, Profile, WebContext, WebinarAction};
use proptest::prelude::*;

pub const LEADS: [&str; 4] = ["lead-a", "lead-b", "lead-c", "lead-d"];
pub const PATHS: [&str; 10] = [
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
pub const PRICING_PATHS: [&str; 2] = ["/pricing", "/pricing/enterprise"];
pub const ASSETS: [&str; 4] = ["asset-1", "asset-2", "asset-3", "asset-4"];
pub const WEBINARS: [&str; 3] = ["web-1", "web-2", "web-3"];
pub const INDUSTRIES: [&str; 4] = ["software", "retail", "SaaS", "healthcare technology"];
pub const EMPLOYEES: [u64; 5] = [10, 50, 300, 999, 5000];
pub const REVENUES: [u64; 4] = [500_000, 2_000_000, 20_000_000, 300_000_000];
pub const COUNTRIES: [&str; 3] = ["US", "BR", "de"];
pub const AGENTS: [&str; 3] = [
    BROWSER_UA,
    "Mozilla/5.0 (compatible; bingbot/2.0)",
    "curl/8.4.0",
];

/// What an event is about, by index into the pools above.
#[derive(Debug, Clone)]
pub enum Kind {
    Page(usize, usize),
    Pricing(usize, usize),
    Download(usize, usize),
    Webinar(usize, usize),
    Form(usize),
    Profile(Option<usize>, Option<usize>, Option<usize>, Option<usize>),
}

#[derive(Debug, Clone)]
pub struct Spec {
    pub lead: usize,
    pub t: i64,
    pub kind: Kind,
}

pub fn kind() -> impl Strategy<Value = Kind> {
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

pub fn profile_kind() -> impl Strategy<Value = Kind> {
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
pub fn time(days: i64) -> impl Strategy<Value = i64> {
    (
        0..days,
        0..(24 * 60i64),
        prop_oneof![Just(0i64), 0..60_000i64],
    )
        .prop_map(|(d, m, ms)| T0 + d * DAY + m * MIN + ms)
}

pub fn spec(leads: usize, days: i64) -> impl Strategy<Value = Spec> {
    (0..leads, time(days), kind()).prop_map(|(lead, t, kind)| Spec { lead, t, kind })
}

/// Builds the event; `id` is its event_id.
pub fn build(s: &Spec, id: String) -> Event<'static> {
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
pub fn unique_events(specs: &[Spec]) -> Vec<Event<'static>> {
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| build(s, format!("evt-{i}")))
        .collect()
}
