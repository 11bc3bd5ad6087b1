//! Compiled rules: what an event must look like to score, and how often the
//! same thing may score again.

use crate::engine::Stage;
use crate::event::{AssetKind, EventBody, EventType, FormKind, WebinarAction};

/// Field conditions of a rule; all given conditions must hold.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    pub path_prefix: Vec<String>,
    pub asset_kind: Vec<AssetKind>,
    pub action: Vec<WebinarAction>,
    pub form: Vec<FormKind>,
    pub plan: Vec<String>,
    pub min_seconds_on_page: Option<u32>,
    pub min_minutes: Option<u32>,
}

impl Matcher {
    /// Whether an event body satisfies every condition. Conditions about
    /// fields the body does not have never match.
    pub fn matches(&self, body: &EventBody<'_>) -> bool {
        let path = match body {
            EventBody::PageView { path, .. } | EventBody::PricingPage { path, .. } => {
                Some(path.as_ref())
            }
            _ => None,
        };
        if !self.path_prefix.is_empty()
            && !path.is_some_and(|p| {
                self.path_prefix
                    .iter()
                    .any(|pre| p.starts_with(pre.as_str()))
            })
        {
            return false;
        }
        if !self.asset_kind.is_empty()
            && !matches!(body, EventBody::Download { asset_kind, .. } if self.asset_kind.contains(asset_kind))
        {
            return false;
        }
        if !self.action.is_empty()
            && !matches!(body, EventBody::Webinar { action, .. } if self.action.contains(action))
        {
            return false;
        }
        if !self.form.is_empty()
            && !matches!(body, EventBody::Form { form } if self.form.contains(form))
        {
            return false;
        }
        if !self.plan.is_empty()
            && !matches!(body, EventBody::PricingPage { plan: Some(p), .. } if self.plan.iter().any(|x| x == p.as_ref()))
        {
            return false;
        }
        if let Some(min) = self.min_seconds_on_page {
            if !matches!(body, EventBody::PricingPage { seconds_on_page: Some(s), .. } if *s >= min)
            {
                return false;
            }
        }
        if let Some(min) = self.min_minutes {
            if !matches!(body, EventBody::Webinar { minutes: Some(m), .. } if *m >= min) {
                return false;
            }
        }
        true
    }
}

/// What makes two events "the same thing" for a repeat policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepeatKey {
    Path,
    AssetId,
    WebinarId,
    Plan,
    Lead,
}

impl RepeatKey {
    pub fn parse(s: &str) -> Option<RepeatKey> {
        Some(match s {
            "path" => RepeatKey::Path,
            "asset_id" => RepeatKey::AssetId,
            "webinar_id" => RepeatKey::WebinarId,
            "plan" => RepeatKey::Plan,
            "lead" => RepeatKey::Lead,
            _ => return None,
        })
    }

    /// The key's text in an event body, if the body has that field.
    pub fn value<'b>(self, body: &'b EventBody<'_>) -> Option<&'b str> {
        match (self, body) {
            (RepeatKey::Lead, _) => Some(""),
            (RepeatKey::Path, EventBody::PageView { path, .. })
            | (RepeatKey::Path, EventBody::PricingPage { path, .. }) => Some(path),
            (RepeatKey::AssetId, EventBody::Download { asset_id, .. }) => Some(asset_id),
            (RepeatKey::WebinarId, EventBody::Webinar { webinar_id, .. }) => Some(webinar_id),
            (RepeatKey::Plan, EventBody::PricingPage { plan, .. }) => {
                Some(plan.as_deref().unwrap_or(""))
            }
            _ => None,
        }
    }

    /// Whether events of this type carry the key.
    pub fn applies_to(self, t: EventType) -> bool {
        match self {
            RepeatKey::Lead => true,
            RepeatKey::Path => matches!(t, EventType::PageView | EventType::PricingPage),
            RepeatKey::AssetId => t == EventType::Download,
            RepeatKey::WebinarId => t == EventType::Webinar,
            RepeatKey::Plan => t == EventType::PricingPage,
        }
    }
}

/// A repeat policy: the same key counts once per window (or once ever).
#[derive(Debug, Clone, Copy)]
pub struct Repeat {
    pub key: RepeatKey,
    /// Window length in ms, aligned to the epoch; `None`: once ever.
    pub window_ms: Option<i64>,
}

impl Repeat {
    /// The window an event time falls in (`0` for "once ever").
    pub fn bucket(&self, t_ms: i64) -> i64 {
        self.window_ms.map_or(0, |w| t_ms.div_euclid(w))
    }
}

/// A behaviour rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub event: EventType,
    pub matcher: Matcher,
    pub points: f64,
    /// Index into `Model::categories`.
    pub category: usize,
    pub repeat: Option<Repeat>,
    /// How many events of this rule may be credited per UTC day.
    pub daily_cap_hits: Option<u32>,
    pub instant_stage: Option<Stage>,
    /// Signals fed by this rule.
    pub signals: Vec<u16>,
    /// Index into `Model::decay_groups`: rules with equal half-lives share
    /// one running total per lead.
    pub group: u8,
    /// Longest window of the signals this rule feeds (0: none), which is
    /// how long its candidates must be remembered for them.
    pub signal_within_ms: i64,
}

/// An SQL signal: `min_count` matches of `rule` within `within_ms`.
#[derive(Debug, Clone)]
pub struct Signal {
    pub name: String,
    pub rule: u16,
    pub min_count: u32,
    pub within_ms: i64,
}

/// The profile attribute a fit rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitAttribute {
    Industry,
    Employees,
    AnnualRevenueUsd,
    Country,
}

impl FitAttribute {
    pub fn parse(s: &str) -> Option<FitAttribute> {
        Some(match s {
            "industry" => FitAttribute::Industry,
            "employees" => FitAttribute::Employees,
            "annual_revenue_usd" => FitAttribute::AnnualRevenueUsd,
            "country" => FitAttribute::Country,
            _ => return None,
        })
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FitAttribute::Employees | FitAttribute::AnnualRevenueUsd
        )
    }
}

/// How a fit attribute's value turns into points.
#[derive(Debug, Clone)]
pub enum FitKind {
    /// Lower-cased values that score `points`.
    InList { values: Vec<String>, points: f64 },
    /// Ascending `(min, points)`: the highest band reached scores.
    Bands(Vec<(u64, f64)>),
}

/// A fit rule over one profile attribute.
#[derive(Debug, Clone)]
pub struct FitRule {
    pub name: String,
    pub attribute: FitAttribute,
    pub kind: FitKind,
}

impl FitRule {
    /// Points for a profile, or `None` when the profile does not carry the attribute.
    pub fn points_for(&self, p: &crate::event::Profile<'_>) -> Option<f64> {
        self.outcome_for(p).map(|o| self.points_of(o))
    }

    /// Which value of this rule a profile reaches, as a small number the
    /// lead state stores (0: no points; for a list 1 is a match; for bands
    /// k is band k, counted from 1), or `None` when the profile does not
    /// carry the attribute.
    pub fn outcome_for(&self, p: &crate::event::Profile<'_>) -> Option<u8> {
        match (&self.kind, self.attribute) {
            (FitKind::InList { values, .. }, FitAttribute::Industry) => {
                p.industry.as_ref().map(|v| in_list(values, v))
            }
            (FitKind::InList { values, .. }, FitAttribute::Country) => {
                p.country.as_ref().map(|v| in_list(values, v))
            }
            (FitKind::Bands(bands), FitAttribute::Employees) => p.employees.map(|v| band(bands, v)),
            (FitKind::Bands(bands), FitAttribute::AnnualRevenueUsd) => {
                p.annual_revenue_usd.map(|v| band(bands, v))
            }
            _ => None,
        }
    }

    /// The points of an outcome of [`FitRule::outcome_for`].
    #[inline]
    pub fn points_of(&self, outcome: u8) -> f64 {
        match (&self.kind, outcome) {
            (_, 0) => 0.0,
            (FitKind::InList { points, .. }, _) => *points,
            (FitKind::Bands(bands), k) => bands.get(usize::from(k) - 1).map_or(0.0, |b| b.1),
        }
    }
}

/// 1 when `v` is in the list (case-insensitive, trimmed), else 0.
fn in_list(values: &[String], v: &str) -> u8 {
    let v = v.trim();
    u8::from(values.iter().any(|x| x.eq_ignore_ascii_case(v)))
}

/// The number (from 1) of the highest band `v` reaches, 0 below all.
fn band(bands: &[(u64, f64)], v: u64) -> u8 {
    bands.iter().take_while(|(min, _)| v >= *min).count() as u8
}
