//! Offline replay: event JSON lines in, stage-change JSON lines out. The
//! same engine as the service, one task for the whole file, no Kafka and no
//! wall clock, so the output is byte-for-byte deterministic.
//!
//! Bad input costs neither memory nor lines: each line is read with the
//! record size limit applied while reading ([`lines`]), every rejected line
//! is handed to the caller as it is found (and only counted here), and an
//! event too far ahead of the ones before it is refused by the [`horizon`].

mod batch;
mod feed;
mod horizon;
mod lines;
mod rejected;

use std::collections::BTreeMap;
use std::io::{self, BufRead, Write};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use thiserror::Error;

use crate::codec::{encode_change, DecodeError, DecodeLimits, Format};
use crate::engine::{EventKeys, Outcome, Stage, TaskState};
use crate::model::Model;
use batch::{Batch, BatchReader, Item, Lines};
use feed::Feed;
pub use horizon::{human_ms, parse_max_future, Horizon, ANCHOR_EVENTS, DEFAULT_MAX_FUTURE_MS};
pub use lines::{Line, LineReader, LineSpan};
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
    /// Read and decode lines on a second thread, ahead of the engine (the
    /// output is the same either way; a replay that stops early, at an
    /// error or with `strict`, waits for that thread's read in progress).
    pub decode_ahead: bool,
}

impl Default for ReplayOptions {
    /// Not strict, the service's default limits, a 7-day horizon, lines
    /// decoded ahead on a second thread.
    fn default() -> Self {
        ReplayOptions {
            strict: false,
            limits: DecodeLimits::default(),
            max_future_ms: Some(DEFAULT_MAX_FUTURE_MS),
            decode_ahead: true,
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
/// (with the lines between them, at most 1 MiB and a batch) to find the
/// median time that starts it; then every line is replayed in order. With
/// [`ReplayOptions::decode_ahead`], lines are read and decoded on a second
/// thread while the engine applies the ones before them; the output is the
/// same.
pub fn replay(
    model: &Model,
    input: impl BufRead + Send,
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
    let reader = BatchReader::new(model, input, limits);
    let mut summary = if options.decode_ahead {
        thread::scope(|scope| {
            let feed = Feed::ahead(scope, reader);
            drive(model, feed, out, options, reject, progress)
        })
    } else {
        drive(model, Feed::inline(reader), out, options, reject, progress)
    }?;
    summary.elapsed = start.elapsed();
    Ok(summary)
}

/// Replays every batch of `feed`, in order, after the batches that set the
/// horizon's start.
fn drive<R: BufRead, W: Write>(
    model: &Model,
    mut feed: Feed<'_, R>,
    out: W,
    options: &ReplayOptions,
    reject: &mut dyn FnMut(&Rejected<'_>) -> io::Result<()>,
    progress: &ProgressBar,
) -> Result<ReplaySummary, ReplayError> {
    // The batches that set the horizon's start, kept to be replayed after.
    let mut ahead = Vec::new();
    let mut first_times = Vec::new();
    if options.max_future_ms.is_some() {
        let mut ahead_bytes = 0usize;
        let enough =
            |times: &Vec<i64>, bytes| times.len() >= ANCHOR_EVENTS || bytes >= READ_AHEAD_BYTES;
        while let Some(batch) = feed.next_batch() {
            for (line, item) in batch.items() {
                if enough(&first_times, ahead_bytes) {
                    break;
                }
                if let Item::Event(e, _) = item {
                    first_times.push(e.occurred_at_ms);
                }
                ahead_bytes += line.bytes.len();
            }
            let done = enough(&first_times, ahead_bytes);
            if !done {
                // The input failed before the horizon could start.
                if let Some((line, _)) = batch.borrow_owner().failure() {
                    let line = *line;
                    let mut lines = batch.into_owner();
                    let (_, source) = lines.take_failure().expect("a failure");
                    return Err(ReplayError::Read { line, source });
                }
            }
            ahead.push(batch);
            if done {
                break;
            }
        }
    }

    let mut run = Run {
        model,
        strict: options.strict,
        horizon: Horizon::new(options.max_future_ms, &mut first_times),
        state: TaskState::default(),
        summary: ReplaySummary::default(),
        outcomes: [0; Outcome::ALL.len()],
        out,
        reject,
        bytes: Vec::with_capacity(4096),
    };
    for batch in ahead {
        let lines = run.batch(batch, progress)?;
        feed.recycle(lines);
    }
    while let Some(batch) = feed.next_batch() {
        let lines = run.batch(batch, progress)?;
        feed.recycle(lines);
    }
    run.out.flush().map_err(ReplayError::Write)?;
    let mut summary = run.summary;
    for (o, n) in Outcome::ALL.into_iter().zip(run.outcomes) {
        if n > 0 {
            summary.outcomes.insert(o.as_str(), n);
        }
    }
    summary.leads = run.state.lead_count();
    Ok(summary)
}

/// Events whose leads are warmed in the cache together before they are
/// applied: enough for the memory to fetch several at once.
const WARM_GROUP: usize = 8;

/// Most input bytes read ahead to find the horizon's start, so a file that
/// opens with invalid lines still starts replaying with little memory.
const READ_AHEAD_BYTES: usize = 1 << 20;

/// One replay in progress.
struct Run<'m, 'r, W> {
    model: &'m Model,
    strict: bool,
    horizon: Horizon,
    state: TaskState,
    summary: ReplaySummary,
    /// Events by outcome, in [`Outcome::ALL`] order (into the summary at the end).
    outcomes: [u64; Outcome::ALL.len()],
    out: W,
    reject: &'r mut dyn FnMut(&Rejected<'_>) -> io::Result<()>,
    /// One buffer for every output line.
    bytes: Vec<u8>,
}

/// The keys of the events among `items`.
fn event_keys<'a>(items: &'a [Item<'_>]) -> impl Iterator<Item = &'a EventKeys> + Clone {
    items.iter().filter_map(|item| match item {
        Item::Event(_, keys) => Some(keys),
        _ => None,
    })
}

impl<W: Write> Run<'_, '_, W> {
    /// Replays the lines of one batch, then reports the read error that
    /// ended it, if any; gives back its buffers. The leads of a few events
    /// at a time are warmed in the cache before they are applied.
    fn batch(&mut self, batch: Batch, progress: &ProgressBar) -> Result<Lines, ReplayError> {
        progress.inc(batch.borrow_owner().consumed());
        let lines = batch.borrow_owner();
        let items = batch.borrow_dependent();
        // One group ahead: a group's leads are fetched while the group
        // before it is applied.
        let mut groups = lines
            .spans()
            .chunks(WARM_GROUP)
            .zip(items.chunks(WARM_GROUP))
            .peekable();
        if let Some((_, first)) = groups.peek() {
            self.state.warm(event_keys(first));
        }
        while let Some((group, items)) = groups.next() {
            if let Some((_, next)) = groups.peek() {
                self.state.warm(event_keys(next));
            }
            for (span, item) in group.iter().zip(items) {
                self.line(span.line(lines.bytes()), item)?;
            }
        }
        let mut lines = batch.into_lines();
        match lines.take_failure() {
            Some((line, source)) => Err(ReplayError::Read { line, source }),
            None => Ok(lines),
        }
    }

    /// Replays one input line, or rejects it.
    fn line(&mut self, line: Line<'_>, item: &Item<'_>) -> Result<(), ReplayError> {
        let event = match item {
            Item::Blank => return Ok(()),
            Item::Invalid(e) => {
                self.summary.lines += 1;
                return self.rejected(&line, e, false);
            }
            Item::Event(e, keys) => (e, keys),
        };
        let (event, keys) = event;
        self.summary.lines += 1;
        if let Err(e) = self.horizon.check("occurred_at", event.occurred_at_ms) {
            return self.rejected(&line, &e, true);
        }
        self.horizon.accept(event.occurred_at_ms);
        let applied = self.state.apply_keyed(self.model, event, keys);
        if let Some(o) = applied.outcome {
            self.outcomes[o as usize] += 1;
        }
        let s = &mut self.summary;
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
        reason: &DecodeError,
        beyond_horizon: bool,
    ) -> Result<(), ReplayError> {
        self.summary.invalid += 1;
        self.summary.beyond_horizon += u64::from(beyond_horizon);
        (self.reject)(&Rejected {
            line: line.number,
            reason,
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
