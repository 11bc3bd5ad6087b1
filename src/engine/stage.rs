//! Funnel stages and the reasons a lead moves between them.

use std::fmt;

/// A lead's funnel stage. `Lead` is where every lead starts and where
/// recycled leads return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Stage {
    #[default]
    Lead = 0,
    Mql = 1,
    Sql = 2,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Lead => "lead",
            Stage::Mql => "mql",
            Stage::Sql => "sql",
        }
    }

    pub fn from_u8(v: u8) -> Option<Stage> {
        Some(match v {
            0 => Stage::Lead,
            1 => Stage::Mql,
            2 => Stage::Sql,
            _ => return None,
        })
    }

    pub fn parse(s: &str) -> Option<Stage> {
        Some(match s {
            "lead" => Stage::Lead,
            "mql" => Stage::Mql,
            "sql" => Stage::Sql,
            _ => return None,
        })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a stage change happened; rendered as DESIGN.md's reason strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// The total crossed a threshold (up, or down through an event with negative points).
    ScoreThreshold,
    /// A rule with `instant_stage` matched (e.g. `instant_rule:contact_us`).
    InstantRule(String),
    /// SQL reached on the event that completed an SQL signal.
    SqlSignal,
    /// The decay sweep found the score below the recycle threshold.
    RecycledDecay,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::ScoreThreshold => f.write_str("score_threshold"),
            Reason::InstantRule(r) => write!(f, "instant_rule:{r}"),
            Reason::SqlSignal => f.write_str("sql_signal"),
            Reason::RecycledDecay => f.write_str("recycled_decay"),
        }
    }
}
