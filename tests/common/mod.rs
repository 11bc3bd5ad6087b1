//! Helpers shared by the engine integration tests: event builders (struct
//! literals over the public `leadscore::event` types), event-time constants
//! and a small harness around `TaskState`.
//!
//! Expected numbers in the tests are derived from the documented model
//! (DESIGN.md "The scoring model"), not read back from the engine: see
//! [`decayed`].

#![allow(dead_code)]

pub mod strategies;

use std::borrow::Cow;

use leadscore::engine::{Applied, LeadState, Score, Stage, StageChange, TaskState};
use leadscore::event::{AssetKind, Event, EventBody, FormKind, Profile, WebContext, WebinarAction};
use leadscore::model::Model;

pub const MIN: i64 = 60_000;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;
/// Documented half-life of every behaviour category of the default model.
pub const HALF_LIFE: i64 = 30 * DAY;
/// 2024-03-04T00:00:00Z, a UTC midnight (daily caps count UTC days).
pub const T0: i64 = 1_709_510_400_000;

/// Event time `day` days, `h` hours and `m` minutes after [`T0`].
pub fn at(day: i64, h: i64, m: i64) -> i64 {
    T0 + day * DAY + h * HOUR + m * MIN
}

/// `points` earned at some instant, read `age_ms` later: the documented
/// `value * 2^-(age / half_life)` with a 30-day half-life.
pub fn decayed(points: f64, age_ms: i64) -> f64 {
    points * (-(age_ms as f64) / HALF_LIFE as f64).exp2()
}

/// Sum of `(points, earned_at)` read at `at_ms`.
pub fn decayed_sum(credits: &[(f64, i64)], at_ms: i64) -> f64 {
    credits.iter().map(|&(p, t)| decayed(p, at_ms - t)).sum()
}

/// The sweep boundary a watermark of `t` has crossed (hourly sweeps).
pub fn hour_floor(t: i64) -> i64 {
    t.div_euclid(HOUR) * HOUR
}

pub const BROWSER_UA: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15";

fn id(parts: std::fmt::Arguments<'_>) -> Cow<'static, str> {
    Cow::Owned(parts.to_string())
}

fn web(ua: Option<&str>) -> WebContext<'static> {
    WebContext {
        user_agent: ua.map(|u| Cow::Owned(u.to_string())),
        ip: Some(Cow::Borrowed("203.0.113.7")),
        session_id: None,
    }
}

/// A page view; the event id is derived from its content, so two calls with
/// the same arguments build the same (duplicate) event.
pub fn page_view(lead: &str, t: i64, path: &str) -> Event<'static> {
    page_view_ua(lead, t, path, BROWSER_UA)
}

pub fn page_view_ua(lead: &str, t: i64, path: &str, ua: &str) -> Event<'static> {
    Event {
        event_id: id(format_args!("pv:{lead}:{t}:{path}:{ua}")),
        lead_id: Cow::Owned(lead.to_string()),
        occurred_at_ms: t,
        body: EventBody::PageView {
            path: Cow::Owned(path.to_string()),
            referrer: None,
            web: web(Some(ua)),
        },
    }
}

pub fn pricing(lead: &str, t: i64, path: &str) -> Event<'static> {
    pricing_ua(lead, t, path, BROWSER_UA)
}

pub fn pricing_ua(lead: &str, t: i64, path: &str, ua: &str) -> Event<'static> {
    Event {
        event_id: id(format_args!("pp:{lead}:{t}:{path}:{ua}")),
        lead_id: Cow::Owned(lead.to_string()),
        occurred_at_ms: t,
        body: EventBody::PricingPage {
            path: Cow::Owned(path.to_string()),
            plan: Some(Cow::Borrowed("team")),
            seconds_on_page: Some(42),
            web: web(Some(ua)),
        },
    }
}

pub fn download(lead: &str, t: i64, asset: &str, kind: AssetKind) -> Event<'static> {
    Event {
        event_id: id(format_args!("dl:{lead}:{t}:{asset}:{}", kind.as_str())),
        lead_id: Cow::Owned(lead.to_string()),
        occurred_at_ms: t,
        body: EventBody::Download {
            asset_id: Cow::Owned(asset.to_string()),
            asset_kind: kind,
        },
    }
}

pub fn webinar(lead: &str, t: i64, webinar_id: &str, action: WebinarAction) -> Event<'static> {
    Event {
        event_id: id(format_args!(
            "wb:{lead}:{t}:{webinar_id}:{}",
            action.as_str()
        )),
        lead_id: Cow::Owned(lead.to_string()),
        occurred_at_ms: t,
        body: EventBody::Webinar {
            webinar_id: Cow::Owned(webinar_id.to_string()),
            action,
            minutes: Some(45),
        },
    }
}

pub fn form(lead: &str, t: i64, form: FormKind) -> Event<'static> {
    Event {
        event_id: id(format_args!("fm:{lead}:{t}:{}", form.as_str())),
        lead_id: Cow::Owned(lead.to_string()),
        occurred_at_ms: t,
        body: EventBody::Form { form },
    }
}

/// A profile event; `None` attributes are absent (not erased).
pub fn profile(
    lead: &str,
    t: i64,
    industry: Option<&str>,
    employees: Option<u64>,
    revenue: Option<u64>,
    country: Option<&str>,
) -> Event<'static> {
    Event {
        event_id: id(format_args!(
            "pf:{lead}:{t}:{industry:?}:{employees:?}:{revenue:?}:{country:?}"
        )),
        lead_id: Cow::Owned(lead.to_string()),
        occurred_at_ms: t,
        body: EventBody::Profile(Profile {
            industry: industry.map(|s| Cow::Owned(s.to_string())),
            employees,
            annual_revenue_usd: revenue,
            country: country.map(|s| Cow::Owned(s.to_string())),
        }),
    }
}

/// The same event under another event id.
pub fn with_id(mut e: Event<'static>, event_id: &str) -> Event<'static> {
    e.event_id = Cow::Owned(event_id.to_string());
    e
}

/// A fresh task with the built-in model that records every change.
pub struct Run {
    pub model: Model,
    pub state: TaskState,
    pub changes: Vec<StageChange>,
}

impl Default for Run {
    fn default() -> Self {
        Run::new()
    }
}

impl Run {
    pub fn new() -> Run {
        Run::with_model(Model::builtin())
    }

    pub fn with_model(model: Model) -> Run {
        Run {
            model,
            state: TaskState::default(),
            changes: Vec::new(),
        }
    }

    /// Applies one event and records its changes.
    pub fn apply(&mut self, e: &Event<'_>) -> Applied {
        let applied = self.state.apply(&self.model, e);
        self.changes.extend(applied.changes.iter().cloned());
        applied
    }

    /// Applies events in order, asserting each is scored.
    pub fn apply_all(&mut self, events: &[Event<'_>]) {
        for e in events {
            let a = self.apply(e);
            assert_eq!(
                a.outcome,
                Some(leadscore::engine::Outcome::Scored),
                "{}",
                e.event_id
            );
        }
    }

    pub fn lead(&self, lead: &str) -> LeadState {
        self.state
            .lead(lead)
            .unwrap_or_else(|| panic!("lead {lead} is not in the task"))
    }

    pub fn score(&self, lead: &str, at_ms: i64) -> Score {
        self.lead(lead).score_at(&self.model, at_ms)
    }

    pub fn stage(&self, lead: &str) -> Stage {
        self.lead(lead).stage()
    }

    pub fn changes_for(&self, lead: &str) -> Vec<StageChange> {
        self.changes
            .iter()
            .filter(|c| c.lead_id == lead)
            .cloned()
            .collect()
    }

    /// Names of the SQL signals active for `lead` at `at_ms`.
    pub fn signals(&self, lead: &str, at_ms: i64) -> Vec<String> {
        self.lead(lead)
            .active_signals(&self.model, at_ms)
            .into_iter()
            .map(|s| self.model.signals[s as usize].name.clone())
            .collect()
    }

    /// Credited events per rule name (from the explanation contributions).
    pub fn count(&self, lead: &str, rule: &str) -> u32 {
        leadscore::engine::contributions(&self.model, &self.lead(lead), self.state.watermark_ms())
            .into_iter()
            .find(|c| c.rule == rule)
            .map_or(0, |c| c.count)
    }
}

pub fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "{what}: got {actual}, expected {expected}"
    );
}
