//! `leadscore replay [--model FILE] [--strict] [--rejects FILE]
//! [--max-future DURATION] [--max-record-bytes N] [--max-id-bytes N]
//! [INPUT.jsonl|-]`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use leadscore::codec::DecodeLimits;
use leadscore::engine::MAX_ID_BYTES;
use leadscore::model::Model;
use leadscore::replay::{parse_max_future, replay, Rejected, ReplayOptions};

/// Offline scoring of event JSON lines. Every rejected line is listed on
/// stderr as `line N: reason` as it is found (all of them, none kept in
/// memory), and with `--rejects FILE` also written there in full. The exit
/// status is 0 even when lines were rejected (the summary counts them),
/// unless `--strict` stopped at one; it is 1 on an error reading or writing.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Horizon: a replay has no wall clock, so an event is checked against the \
event times before it instead: one more than --max-future after the newest \
event replayed so far is rejected (\"too far in the future\"), so that a \
single event dated in 2100 cannot recycle every lead. The horizon starts at \
the median event time of the first 15 valid lines, so a bogus first line \
cannot set it. A file with a longer silence than the horizon between \
events needs a larger --max-future, or `off`.

--rejects FILE gets one JSON object per rejected line: \
{\"line\":N,\"field\":...,\"reason\":...,\"bytes\":LEN,\"raw\":...} (`raw_hex` \
instead of `raw` for a line that is not UTF-8; `truncated`: true when only \
its first --max-record-bytes were kept, since a longer line is never read \
whole).")]
pub struct ReplayArgs {
    /// Scoring model file (default: the built-in model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Stop at the first invalid line instead of reporting and skipping it.
    #[arg(long)]
    strict: bool,
    /// Also write every rejected line (number, reason, the raw line) to FILE
    /// as JSON lines.
    #[arg(long, value_name = "FILE")]
    rejects: Option<PathBuf>,
    /// Reject an event more than DURATION after the newest event replayed
    /// so far (`ms`, `s`, `m`, `h`, `d`, `w`, or `off`).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = max_future)]
    max_future: MaxFuture,
    /// Longer lines are rejected, read in chunks and never held whole (as
    /// the service's `[limits] max_record_bytes`).
    #[arg(long, value_name = "N", default_value_t = DecodeLimits::default().max_record_bytes)]
    max_record_bytes: usize,
    /// A longer `lead_id` or `event_id` is rejected (as the service's
    /// `[limits] max_id_bytes`; at most 1024).
    #[arg(long, value_name = "N", default_value_t = DecodeLimits::default().max_id_bytes)]
    max_id_bytes: usize,
    /// Event JSON lines; `-` or absent reads standard input.
    input: Option<PathBuf>,
}

pub fn run(args: ReplayArgs) -> Result<()> {
    if args.max_record_bytes == 0 || args.max_id_bytes == 0 {
        bail!("--max-record-bytes and --max-id-bytes must be at least 1");
    }
    if args.max_id_bytes > MAX_ID_BYTES {
        bail!(
            "--max-id-bytes {} is over {MAX_ID_BYTES}, the longest id the engine keeps",
            args.max_id_bytes
        );
    }
    let model = match &args.model {
        Some(p) => Model::from_file(p)?,
        None => Model::builtin(),
    };
    let path = args.input.as_deref().filter(|p| p.as_os_str() != "-");
    let from_stdin = path.is_none();
    let (reader, len): (Box<dyn Read + Send>, Option<u64>) = match path {
        None => (Box::new(io::stdin()), None),
        Some(p) => {
            let f = File::open(p).with_context(|| format!("cannot open input {}", p.display()))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        }
    };
    let mut rejects_file = match &args.rejects {
        Some(p) => Some(BufWriter::new(File::create(p).with_context(|| {
            format!("cannot create the rejects file {}", p.display())
        })?)),
        None => None,
    };
    let progress = progress_bar(len);
    let mut stderr = BufWriter::new(io::stderr().lock());
    let mut reject = |r: &Rejected<'_>| -> io::Result<()> {
        let text = format!("line {}: {}", r.line, r.reason);
        if progress.is_hidden() {
            writeln!(stderr, "{text}")?;
        } else {
            progress.println(text);
        }
        if let Some(f) = rejects_file.as_mut() {
            f.write_all(&r.to_json_line())?;
        }
        Ok(())
    };
    let options = ReplayOptions {
        strict: args.strict,
        limits: DecodeLimits {
            max_record_bytes: args.max_record_bytes,
            max_id_bytes: args.max_id_bytes,
            max_future_skew_ms: None,
        },
        max_future_ms: args.max_future.0,
        // Lines typed at a terminal are replayed one by one as they come:
        // a reader thread blocked on the next one would hold up `--strict`.
        decode_ahead: !(from_stdin && io::stdin().is_terminal()),
    };
    let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let result = replay(
        &model,
        BufReader::with_capacity(1 << 16, reader),
        out,
        &options,
        &mut reject,
        &progress,
    );
    progress.finish_and_clear();
    // The rejected lines go out before the summary or the error.
    stderr.flush()?;
    if let (Some(f), Some(p)) = (rejects_file.as_mut(), &args.rejects) {
        f.flush()
            .with_context(|| format!("writing the rejects file {}", p.display()))?;
    }
    let summary = result?;
    eprint!("{}", summary.render(&model.version));
    Ok(())
}

/// A parsed `--max-future` (`None`: off).
#[derive(Debug, Clone, Copy)]
struct MaxFuture(Option<i64>);

fn max_future(s: &str) -> Result<MaxFuture, String> {
    parse_max_future(s).map(MaxFuture)
}

/// A progress bar on stderr when it is a terminal, else a hidden one.
fn progress_bar(len: Option<u64>) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("valid template"),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} read, {bytes_per_sec}")
                .expect("valid template"),
        ),
    };
    pb.set_draw_target(ProgressDrawTarget::stderr_with_hz(4));
    pb
}
