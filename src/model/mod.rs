//! The scoring model: categories, rules, SQL signals, fit rules, stage
//! thresholds and filters, checked and ready for the engine. Pure data, no IO.

mod compile;
mod decay;
pub mod file;
mod rule;

use std::path::Path;
use std::sync::Arc;

pub use compile::ModelError;
pub use decay::decay_factor;
pub use rule::{FitAttribute, FitKind, FitRule, Matcher, Repeat, RepeatKey, Rule, Signal};

use crate::event::EventType;

/// The built-in default model (DESIGN.md's table), compiled into the binary.
pub const DEFAULT_MODEL_TOML: &str = include_str!("default.toml");

/// Milliseconds in a day, the unit of half-lives, holds and signal windows.
pub const DAY_MS: i64 = 86_400_000;

/// A behaviour category: its rules' points decay with its half-life.
#[derive(Debug, Clone)]
pub struct Category {
    pub name: String,
    /// `None`: points in this category never decay.
    pub half_life_ms: Option<f64>,
}

/// Funnel stage thresholds with hysteresis.
#[derive(Debug, Clone)]
pub struct Stages {
    pub mql_at: f64,
    pub sql_at: f64,
    pub sql_min_fit: f64,
    pub mql_recycle_below: f64,
    pub sql_recycle_below: f64,
    pub hold_ms: i64,
    pub sweep_interval_ms: i64,
}

/// Filters applied before scoring.
#[derive(Debug, Clone)]
pub struct Filters {
    /// Lower-case substrings of bot user agents.
    pub bot_user_agents: Vec<String>,
    /// The same substrings, compiled for one case-insensitive pass per event.
    pub bot_matcher: Option<aho_corasick::AhoCorasick>,
    pub max_events_per_lead_per_minute: u32,
    pub dedupe_window_ms: i64,
    pub max_lateness_ms: i64,
}

/// When idle leads are forgotten (README "Eviction").
#[derive(Debug, Clone)]
pub struct Eviction {
    /// Event time without an event after which a lead may be forgotten;
    /// `None`: never.
    pub after_ms: Option<i64>,
    /// Absolute behaviour points below which it may be.
    pub below_points: f64,
}

/// A checked scoring model. Rule, signal and fit indices are stable ids used
/// in lead state and snapshots, so state is only valid for the same
/// `version`.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    pub description: String,
    /// `<name>-<first 8 hex digits of sha256 of the canonical content>`.
    pub version: Arc<str>,
    pub categories: Vec<Category>,
    pub rules: Vec<Rule>,
    pub signals: Vec<Signal>,
    pub fit: Vec<FitRule>,
    pub stages: Stages,
    pub filters: Filters,
    pub eviction: Eviction,
    /// Distinct half-lives of the categories (`None`: no decay), in order
    /// of first use; each rule's `group` indexes this.
    pub decay_groups: Vec<Option<f64>>,
    /// For each event type (by `EventType as usize`), its rule ids in file order.
    by_type: [Vec<u16>; 6],
}

impl Model {
    /// Parses and checks a model from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Model, ModelError> {
        compile::compile(text, origin)
    }

    /// Reads, parses and checks a model file.
    pub fn from_file(path: &Path) -> Result<Model, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::Read {
            path: path.display().to_string(),
            source: e,
        })?;
        Model::from_toml(&text, &path.display().to_string())
    }

    /// The built-in default model.
    pub fn builtin() -> Model {
        Model::from_toml(DEFAULT_MODEL_TOML, "built-in default model")
            .expect("the built-in default model is valid (checked by tests)")
    }

    /// The rule ids that can score an event of this type, in match order.
    pub fn rules_for(&self, t: EventType) -> &[u16] {
        &self.by_type[t as usize]
    }

    /// The first rule that matches, if any (first match wins).
    pub fn match_rule(&self, event: &crate::event::Event<'_>) -> Option<u16> {
        self.rules_for(event.event_type())
            .iter()
            .copied()
            .find(|&id| self.rules[id as usize].matcher.matches(&event.body))
    }

    /// Half-life of a rule's category, in ms (`None`: no decay).
    pub fn half_life_of(&self, rule: u16) -> Option<f64> {
        self.categories[self.rules[rule as usize].category].half_life_ms
    }

    /// Half-life of a decay group, in ms (`None`: no decay).
    #[inline]
    pub fn half_life_of_group(&self, group: u8) -> Option<f64> {
        self.decay_groups[usize::from(group)]
    }

    /// Whether a user agent is a known bot (case-insensitive substring).
    pub fn is_bot(&self, user_agent: &str) -> bool {
        self.filters
            .bot_matcher
            .as_ref()
            .is_some_and(|m| m.is_match(user_agent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_model_compiles_with_a_stable_version() {
        let m = Model::builtin();
        assert!(m.version.starts_with("default-"), "{}", m.version);
        assert_eq!(m.version.len(), "default-".len() + 8);
        assert_eq!(Model::builtin().version, m.version);
        assert_eq!(m.stages.mql_at, 50.0);
        assert_eq!(m.stages.hold_ms, 30 * DAY_MS);
    }

    #[test]
    fn version_ignores_comments_and_layout_but_not_content() {
        let base = Model::builtin();
        let commented = format!("# a comment\n\n{DEFAULT_MODEL_TOML}\n# trailing\n");
        assert_eq!(
            Model::from_toml(&commented, "x").unwrap().version,
            base.version
        );
        let changed = DEFAULT_MODEL_TOML.replace("mql_at = 50.0", "mql_at = 55.0");
        assert_ne!(
            Model::from_toml(&changed, "x").unwrap().version,
            base.version
        );
    }

    #[test]
    fn bot_detection_is_case_insensitive_substring() {
        let m = Model::builtin();
        assert!(m.is_bot("Mozilla/5.0 (compatible; Googlebot/2.1)"));
        assert!(m.is_bot("python-requests/2.31"));
        assert!(!m.is_bot(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15"
        ));
    }
}
