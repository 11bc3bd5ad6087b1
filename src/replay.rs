//! Offline replay: event JSON lines in, stage-change JSON lines out. The
//! same engine as the service, one task for the whole file, no Kafka and no
//! wall clock, so the output is byte-for-byte deterministic.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use thiserror::Error;

use crate::codec::{decode_event, encode_change, DecodeLimits, Format};
use crate::engine::{Outcome, Stage, TaskState};
use crate::model::Model;

/// What a replay saw, for the summary on stderr.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    pub lines: u64,
    pub outcomes: BTreeMap<&'static str, u64>,
    /// `(line number, reason)` of every line that could not be used.
    pub invalid: Vec<(u64, String)>,
    pub changes: BTreeMap<(Stage, Stage), u64>,
    pub leads: usize,
    /// Idle leads forgotten by the sweeps (README "Eviction").
    pub evicted: u64,
    /// Events that were admitted when they came and later rate-limited by
    /// an earlier event of the same lead-minute, and the reverse (README
    /// "Filters": the final counts are `rate_limited + displaced -
    /// readmitted` and `scored - displaced + readmitted`).
    pub displaced: u64,
    pub readmitted: u64,
    pub elapsed: Duration,
}

impl ReplaySummary {
    /// Events per second over the whole run.
    pub fn events_per_sec(&self) -> f64 {
        self.lines as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The human-readable summary printed on stderr.
    pub fn render(&self, model_version: &str) -> String {
        let mut s = format!(
            "replay: {} lines, {} leads ({} evicted), model {}, {:.0} events/s\n",
            self.lines,
            self.leads,
            self.evicted,
            model_version,
            self.events_per_sec()
        );
        for o in Outcome::ALL {
            s.push_str(&format!(
                "  {:<13} {}\n",
                o.as_str(),
                self.outcomes.get(o.as_str()).copied().unwrap_or(0)
            ));
        }
        if self.displaced + self.readmitted > 0 {
            s.push_str(&format!(
                "  (rate limit: {} admitted events displaced later, {} readmitted)\n",
                self.displaced, self.readmitted
            ));
        }
        s.push_str(&format!("  {:<13} {}\n", "invalid", self.invalid.len()));
        for (line, reason) in self.invalid.iter().take(20) {
            s.push_str(&format!("    line {line}: {reason}\n"));
        }
        if self.invalid.len() > 20 {
            s.push_str(&format!("    ... and {} more\n", self.invalid.len() - 20));
        }
        s.push_str("stage changes:\n");
        if self.changes.is_empty() {
            s.push_str("  none\n");
        }
        for ((from, to), n) in &self.changes {
            s.push_str(&format!("  {from:>4} -> {to:<4} {n}\n"));
        }
        s
    }
}

/// Why a replay stopped.
#[derive(Debug, Error)]
pub enum ReplayError {
    #[error("reading input line {line}: {source}")]
    Read { line: u64, source: std::io::Error },
    #[error("writing output: {0}")]
    Write(std::io::Error),
    #[error("line {line}: {reason} (without --strict, invalid lines are reported and skipped)")]
    Invalid { line: u64, reason: String },
}

/// Replays event JSON lines through `model`, writing each stage change as
/// one JSON line to `out`. Blank lines are skipped. `emitted_at` equals
/// `occurred_at`, since a replay has no wall clock.
pub fn replay(
    model: &Model,
    input: impl BufRead,
    mut out: impl Write,
    strict: bool,
    progress: &ProgressBar,
) -> Result<ReplaySummary, ReplayError> {
    let start = Instant::now();
    let mut state = TaskState::default();
    let mut summary = ReplaySummary::default();
    // Replays run over history: no future-skew check.
    let limits = DecodeLimits {
        max_future_skew_ms: None,
        ..DecodeLimits::default()
    };
    let mut line_no = 0u64;
    let mut input = input;
    // One buffer for every line, and one for the output.
    let mut line = Vec::with_capacity(1024);
    let mut bytes = Vec::with_capacity(4096);
    loop {
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|source| ReplayError::Read {
                line: line_no + 1,
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        progress.inc(n as u64);
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        summary.lines += 1;
        let event = match decode_event(&line, Format::Json, None, None, &limits) {
            Ok(e) => e,
            Err(e) if strict => {
                return Err(ReplayError::Invalid {
                    line: line_no,
                    reason: e.to_string(),
                })
            }
            Err(e) => {
                summary.invalid.push((line_no, e.to_string()));
                continue;
            }
        };
        let applied = state.apply(model, &event);
        if let Some(o) = applied.outcome {
            *summary.outcomes.entry(o.as_str()).or_default() += 1;
        }
        summary.evicted += applied.evicted as u64;
        summary.displaced += u64::from(applied.displaced);
        summary.readmitted += u64::from(applied.readmitted);
        for c in &applied.changes {
            *summary.changes.entry((c.from, c.to)).or_default() += 1;
            bytes.clear();
            bytes.extend_from_slice(&encode_change(c, c.occurred_at_ms, Format::Json));
            bytes.push(b'\n');
            out.write_all(&bytes).map_err(ReplayError::Write)?;
        }
    }
    out.flush().map_err(ReplayError::Write)?;
    summary.leads = state.lead_count();
    summary.elapsed = start.elapsed();
    Ok(summary)
}
