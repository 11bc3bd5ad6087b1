//! `leadscore run --config FILE`: the service.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::Args;
use leadscore::config::{Config, LogFormat};
use leadscore::model::Model;
use leadscore::service::{serve, ServiceHandles};
use leadscore::telemetry::{health::Health, logging};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The TOML config file (see deploy/leadscore.toml).
    #[arg(long, short)]
    config: PathBuf,
    /// Log as JSON lines (overrides [log] format).
    #[arg(long)]
    log_json: bool,
}

pub fn run(args: RunArgs) -> Result<()> {
    let config = Config::load(&args.config, std::env::vars())?;
    let format = if args.log_json {
        LogFormat::Json
    } else {
        config.log.format
    };
    logging::init(format, &config.log.level);
    let model = Arc::new(match &config.model.file {
        Some(p) => Model::from_file(p)?,
        None => Model::builtin(),
    });
    let handles = ServiceHandles {
        health: Health::new(),
        ..ServiceHandles::default()
    };
    serve(config, model, handles, |_| {})?;
    Ok(())
}
