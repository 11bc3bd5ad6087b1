//! Offline replay: event JSON lines in, stage-change JSON lines out. The
//! same engine as the service, one task for the whole file, no Kafka and no
//! wall clock, so the output is byte-for-byte deterministic.
//!
//! Bad input costs neither memory nor lines: each line is read with the
//! record size limit applied while reading ([`lines`]), every rejected line
//! is handed to the caller as it is found (and only counted here), and an
//! event too far ahead of the ones before it is refused by the [`horizon`].

mod horizon;
mod lines;
mod rejected;

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use thiserror::Error;

use crate::codec::{decode_event, encode_change, DecodeError, DecodeLimits, Format};
use crate::engine::{Outcome, Stage, TaskState};
use crate::model::Model;
pub use horizon::{human_ms, parse_max_future, Horizon, ANCHOR_EVENTS, DEFAULT_MAX_FUTURE_MS};
pub use lines::{Line, LineReader};
pub use rejected::Rejected;

/// How a replay treats its input.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Stop at the first rejected line instead of reporting and skipping it.
    pub strict: bool,
    /// Record size and id limits, as in the service's `[limits]`; the
    /// future-skew check is ignored (a replay has no wall clock).
    pub limits: DecodeLimits,
    /// The horizon (`--max-future`): an event more than this after the
    /// newest event replayed so far is rejected. `None`: no horizon.
    pub max_future_ms: Option<i64>,
}

impl Default for ReplayOptions {
    /// Not strict, the service's default limits, a 7-day horizon.
    fn default() -> Self {
        ReplayOptions {
            strict: false,
            limits: DecodeLimits::default(),
            max_future_ms: Some(DEFAULT_MAX_FUTURE_MS),
        }
    }
}

/// What a replay saw, for the summary on stderr.
#[derive(Debug, Default)]
pub struct ReplaySummary {
    pub lines: u64,
    pub outcomes: BTreeMap<&'static str, u64>,
    /// Lines that could not be used (each was handed to the reject sink).
    pub invalid: u64,
    /// Of those, events beyond the `--max-future` horizon.
    pub beyond_horizon: u64,
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

    /// The human-readable summary printed on stderr (rejected lines are
    /// listed as they are found, before it).
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
        s.push_str(&format!("  {:<13} {}\n", "invalid", self.invalid));
        if self.beyond_horizon > 0 {
            s.push_str(&format!(
                "    ({} of them beyond the --max-future horizon)\n",
                self.beyond_horizon
            ));
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
    Read { line: u64, source: io::Error },
    #[error("writing output: {0}")]
    Write(io::Error),
    #[error("writing rejected lines: {0}")]
    Rejects(io::Error),
    #[error("line {line}: {reason} (without --strict, invalid lines are reported and skipped)")]
    Invalid { line: u64, reason: String },
}

/// Replays event JSON lines through `model`, writing each stage change as
/// one JSON line to `out` and handing every rejected line to `reject`, in
/// input order. Blank lines are skipped. `emitted_at` equals `occurred_at`,
/// since a replay has no wall clock.
///
/// With a horizon, the first [`ANCHOR_EVENTS`] valid lines are read ahead
/// (with the lines between them, at most 1 MiB) to find the median time that
/// starts it; then every line is replayed in order.
pub fn replay(
    model: &Model,
    input: impl BufRead,
    out: impl Write,
    options: &ReplayOptions,
    reject: &mut dyn FnMut(&Rejected<'_>) -> io::Result<()>,
    progress: &ProgressBar,
) -> Result<ReplaySummary, ReplayError> {
    let start = Instant::now();
    let limits = DecodeLimits {
        max_future_skew_ms: None,
        ..options.limits
    };
    let mut reader = LineReader::new(input, limits.max_record_bytes);
    let read_err = |line, source| ReplayError::Read { line, source };

    // The lines that set the horizon's start, kept to be replayed after.
    let mut ahead: Vec<(u64, u64, Vec<u8>, u64)> = Vec::new();
    let mut first_times = Vec::new();
    let mut ahead_bytes = 0usize;
    let mut last = 0u64;
    if options.max_future_ms.is_some() {
        while first_times.len() < ANCHOR_EVENTS && ahead_bytes < READ_AHEAD_BYTES {
            let Some(line) = reader.next_line().map_err(|e| read_err(last + 1, e))? else {
                break;
            };
            last = line.number;
            if !line.is_cut() {
                if let Ok(e) = decode_event(line.bytes, Format::Json, None, None, &limits) {
                    first_times.push(e.occurred_at_ms);
                }
            }
            ahead_bytes += line.bytes.len();
            ahead.push((line.number, line.len, line.bytes.to_vec(), line.consumed));
        }
    }

    let mut run = Run {
        model,
        limits,
        strict: options.strict,
        horizon: Horizon::new(options.max_future_ms, &mut first_times),
        state: TaskState::default(),
        summary: ReplaySummary::default(),
        out,
        reject,
        bytes: Vec::with_capacity(4096),
    };
    for (number, len, bytes, consumed) in &ahead {
        progress.inc(*consumed);
        run.line(Line {
            number: *number,
            len: *len,
            bytes,
            consumed: *consumed,
        })?;
    }
    drop(ahead);
    while let Some(line) = reader.next_line().map_err(|e| read_err(last + 1, e))? {
        last = line.number;
        progress.inc(line.consumed);
        run.line(line)?;
    }
    run.out.flush().map_err(ReplayError::Write)?;
    let mut summary = run.summary;
    summary.leads = run.state.lead_count();
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// Most input bytes read ahead to find the horizon's start, so a file that
/// opens with invalid lines still starts replaying with little memory.
const READ_AHEAD_BYTES: usize = 1 << 20;

/// One replay in progress.
struct Run<'m, 'r, W> {
    model: &'m Model,
    limits: DecodeLimits,
    strict: bool,
    horizon: Horizon,
    state: TaskState,
    summary: ReplaySummary,
    out: W,
    reject: &'r mut dyn FnMut(&Rejected<'_>) -> io::Result<()>,
    /// One buffer for every output line.
    bytes: Vec<u8>,
}

impl<W: Write> Run<'_, '_, W> {
    /// Replays one input line, or rejects it.
    fn line(&mut self, line: Line<'_>) -> Result<(), ReplayError> {
        if !line.is_cut() && line.bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        self.summary.lines += 1;
        if line.is_cut() {
            return self.rejected(&line, self.limits.oversized(line.len), false);
        }
        let event = match decode_event(line.bytes, Format::Json, None, None, &self.limits) {
            Ok(e) => e,
            Err(e) => return self.rejected(&line, e, false),
        };
        if let Err(e) = self.horizon.check("occurred_at", event.occurred_at_ms) {
            return self.rejected(&line, e, true);
        }
        self.horizon.accept(event.occurred_at_ms);
        let applied = self.state.apply(self.model, &event);
        let s = &mut self.summary;
        if let Some(o) = applied.outcome {
            *s.outcomes.entry(o.as_str()).or_default() += 1;
        }
        s.evicted += applied.evicted as u64;
        s.displaced += u64::from(applied.displaced);
        s.readmitted += u64::from(applied.readmitted);
        for c in &applied.changes {
            *s.changes.entry((c.from, c.to)).or_default() += 1;
            self.bytes.clear();
            self.bytes
                .extend_from_slice(&encode_change(c, c.occurred_at_ms, Format::Json));
            self.bytes.push(b'\n');
            self.out
                .write_all(&self.bytes)
                .map_err(ReplayError::Write)?;
        }
        Ok(())
    }

    /// Counts a rejected line and hands it to the sink; with `--strict`,
    /// stops the replay there.
    fn rejected(
        &mut self,
        line: &Line<'_>,
        reason: DecodeError,
        beyond_horizon: bool,
    ) -> Result<(), ReplayError> {
        self.summary.invalid += 1;
        self.summary.beyond_horizon += u64::from(beyond_horizon);
        (self.reject)(&Rejected {
            line: line.number,
            reason: &reason,
            len: line.len,
            raw: line.bytes,
        })
        .map_err(ReplayError::Rejects)?;
        if self.strict {
            return Err(ReplayError::Invalid {
                line: line.number,
                reason: reason.to_string(),
            });
        }
        Ok(())
    }
}
