//! The TOML model file as written by a user: serde structs that reject
//! unknown keys. `compile.rs` turns it into a checked [`super::Model`].

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// A whole model file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    /// Short name; the model_version is this name plus a content hash.
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    pub categories: Vec<CategoryFile>,
    pub rules: Vec<RuleFile>,
    #[serde(default)]
    pub signals: Vec<SignalFile>,
    #[serde(default)]
    pub fit: Vec<FitFile>,
    pub stages: StagesFile,
    #[serde(default)]
    pub filters: FiltersFile,
    #[serde(default)]
    pub eviction: EvictionFile,
}

/// A behaviour category: rules in it decay with its half-life.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryFile {
    pub name: Spanned<String>,
    /// Days for points to halve, in event time. Absent: the category never decays.
    pub half_life_days: Option<Spanned<f64>>,
}

/// One scoring rule: which events it matches and what they are worth.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub name: Spanned<String>,
    /// page_view | pricing_page | download | webinar | form
    pub event: Spanned<String>,
    #[serde(default)]
    pub when: WhenFile,
    pub category: Spanned<String>,
    /// Points per credited event; negative points are allowed.
    pub points: f64,
    pub repeat: Option<RepeatFile>,
    /// Most points this rule may add per UTC day (by absolute value).
    pub daily_cap: Option<Spanned<f64>>,
    /// Stage reached at once when this rule matches (only "mql").
    pub instant_stage: Option<Spanned<String>>,
}

/// Field conditions of a rule; every given condition must hold.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WhenFile {
    /// The path starts with one of these.
    #[serde(default)]
    pub path_prefix: Vec<String>,
    /// whitepaper | case_study | ebook | datasheet | other
    #[serde(default)]
    pub asset_kind: Vec<Spanned<String>>,
    /// registered | attended | on_demand
    #[serde(default)]
    pub action: Vec<Spanned<String>>,
    /// contact_us | demo_request | newsletter | other
    #[serde(default)]
    pub form: Vec<Spanned<String>>,
    /// Pricing page: the plan is one of these.
    #[serde(default)]
    pub plan: Vec<String>,
    /// Pricing page: at least this many seconds on the page.
    pub min_seconds_on_page: Option<u32>,
    /// Webinar: at least this many minutes watched.
    pub min_minutes: Option<u32>,
}

/// How often the same thing may score.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatFile {
    /// What "the same" means: path | asset_id | webinar_id | plan | lead
    pub key: Spanned<String>,
    /// Counts once per window of this many minutes (aligned to the epoch);
    /// absent: counts once, ever.
    pub window_minutes: Option<Spanned<i64>>,
}

/// An SQL signal: `min_count` events of `rule` within `within_days`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SignalFile {
    pub name: Spanned<String>,
    pub rule: Spanned<String>,
    pub min_count: Spanned<u32>,
    pub within_days: Spanned<f64>,
}

/// A fit rule over one profile attribute: a list match or numeric bands.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FitFile {
    pub name: Spanned<String>,
    /// industry | employees | annual_revenue_usd | country
    pub attribute: Spanned<String>,
    /// For industry/country: values that score (case-insensitive).
    #[serde(rename = "in")]
    pub values: Option<Vec<String>>,
    /// Points when the value is in `in`.
    pub points: Option<f64>,
    /// For employees/annual_revenue_usd: the highest band whose `min` is reached scores.
    pub bands: Option<Spanned<Vec<BandFile>>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BandFile {
    pub min: u64,
    pub points: f64,
}

/// Stage thresholds and hysteresis.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StagesFile {
    pub mql_at: Spanned<f64>,
    pub sql_at: Spanned<f64>,
    pub sql_min_fit: f64,
    pub mql_recycle_below: Spanned<f64>,
    pub sql_recycle_below: Spanned<f64>,
    #[serde(default = "default_hold_days")]
    pub hold_days: f64,
    #[serde(default = "default_sweep_minutes")]
    pub sweep_interval_minutes: Spanned<i64>,
}

fn default_hold_days() -> f64 {
    30.0
}

fn default_sweep_minutes() -> Spanned<i64> {
    Spanned::new(0..0, 60)
}

/// Filters applied before scoring.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FiltersFile {
    #[serde(default)]
    pub bot_user_agents: Vec<String>,
    #[serde(default = "default_rate")]
    pub max_events_per_lead_per_minute: u32,
    #[serde(default = "default_window_hours")]
    pub dedupe_window_hours: f64,
    #[serde(default = "default_window_hours")]
    pub max_lateness_hours: f64,
}

impl Default for FiltersFile {
    fn default() -> Self {
        FiltersFile {
            bot_user_agents: Vec::new(),
            max_events_per_lead_per_minute: default_rate(),
            dedupe_window_hours: default_window_hours(),
            max_lateness_hours: default_window_hours(),
        }
    }
}

fn default_rate() -> u32 {
    120
}

fn default_window_hours() -> f64 {
    168.0
}

/// When an idle lead is forgotten, so a task's memory stays bounded.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EvictionFile {
    /// Days of event time without an event after which a lead in stage
    /// `lead` whose behaviour points decayed below `evict_below_points` is
    /// forgotten; 0 turns eviction off.
    #[serde(default = "default_evict_days")]
    pub evict_after_days: Spanned<f64>,
    /// Absolute behaviour points below which an idle lead may be forgotten.
    #[serde(default = "default_evict_points")]
    pub evict_below_points: Spanned<f64>,
}

impl Default for EvictionFile {
    fn default() -> Self {
        EvictionFile {
            evict_after_days: default_evict_days(),
            evict_below_points: default_evict_points(),
        }
    }
}

fn default_evict_days() -> Spanned<f64> {
    Spanned::new(0..0, 180.0)
}

fn default_evict_points() -> Spanned<f64> {
    Spanned::new(0..0, 1.0)
}
