//! The `leadscore` command line: run the service, the demo, offline replay,
//! model checks and snapshot inspection.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Streaming lead scoring: marketing events in, explained funnel stage changes out.
#[derive(Debug, Parser)]
#[command(name = "leadscore", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service against Kafka with a TOML config file.
    Run(cli::run::RunArgs),
    /// Run the whole pipeline on an embedded mock Kafka cluster with synthetic traffic.
    Demo(cli::demo::DemoArgs),
    /// Score event JSON lines offline; stage-change JSON lines on stdout, summary on stderr.
    Replay(cli::replay::ReplayArgs),
    /// Work with scoring model files.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Work with snapshot files.
    Snapshot {
        #[command(subcommand)]
        command: SnapshotCommand,
    },
    /// Measure raw consumption against the full pipeline on one broker.
    Bench(cli::bench::BenchArgs),
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Validate a model file and print its model_version.
    Check { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum SnapshotCommand {
    /// Print a snapshot's partition, offsets, model_version, lead count, size and checksum status.
    Inspect { file: PathBuf },
}

fn main() -> ExitCode {
    leadscore::allocator::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => cli::run::run(args),
        Command::Demo(args) => cli::demo::run(args),
        Command::Replay(args) => cli::replay::run(args),
        Command::Model {
            command: ModelCommand::Check { file },
        } => cli::model::check(&file),
        Command::Snapshot {
            command: SnapshotCommand::Inspect { file },
        } => cli::snapshot::inspect(&file),
        Command::Bench(args) => cli::bench::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
