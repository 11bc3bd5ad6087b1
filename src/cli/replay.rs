//! `leadscore replay [--model FILE] [--strict] [INPUT.jsonl|-]`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use leadscore::model::Model;
use leadscore::replay::replay;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Scoring model file (default: the built-in model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Stop at the first invalid line instead of reporting and skipping it.
    #[arg(long)]
    strict: bool,
    /// Event JSON lines; `-` or absent reads standard input.
    input: Option<PathBuf>,
}

pub fn run(args: ReplayArgs) -> Result<()> {
    let model = match &args.model {
        Some(p) => Model::from_file(p)?,
        None => Model::builtin(),
    };
    let (reader, len): (Box<dyn Read>, Option<u64>) = match args.input.as_deref() {
        None => (Box::new(io::stdin().lock()), None),
        Some(p) if p.as_os_str() == "-" => (Box::new(io::stdin().lock()), None),
        Some(p) => {
            let f = File::open(p).with_context(|| format!("cannot open input {}", p.display()))?;
            let len = f.metadata().ok().map(|m| m.len());
            (Box::new(f), len)
        }
    };
    let progress = if io::stderr().is_terminal() {
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
    } else {
        ProgressBar::hidden()
    };
    let out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let summary = replay(
        &model,
        BufReader::with_capacity(1 << 16, reader),
        out,
        args.strict,
        &progress,
    )?;
    progress.finish_and_clear();
    eprint!("{}", summary.render(&model.version));
    Ok(())
}
