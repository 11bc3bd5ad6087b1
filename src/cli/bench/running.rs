//! The pipeline of a bench phase, on its own thread.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use leadscore::config::Config;
use leadscore::model::Model;
use leadscore::pipeline::{self, Counters, Shutdown};
use leadscore::telemetry::health::Health;

/// A pipeline started by the bench.
pub struct Running {
    pub counters: Counters,
    pub health: Health,
    shutdown: Shutdown,
    thread: JoinHandle<Result<(), pipeline::PipelineError>>,
}

impl Running {
    pub fn start(config: &Config) -> Running {
        let counters = Counters::default();
        let health = Health::new();
        let shutdown = Shutdown::new();
        let (c, h, s, cfg) = (
            counters.clone(),
            health.clone(),
            shutdown.clone(),
            config.clone(),
        );
        let thread =
            std::thread::spawn(move || pipeline::run(&cfg, Arc::new(Model::builtin()), h, c, s));
        Running {
            counters,
            health,
            shutdown,
            thread,
        }
    }

    /// Waits until every task is restored and its partitions assigned.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.health.is_ready() {
            if Instant::now() > deadline || self.thread.is_finished() {
                return Err(anyhow!("the pipeline did not become ready"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    pub fn stop(self) -> Result<()> {
        self.shutdown.trigger();
        self.thread
            .join()
            .map_err(|_| anyhow!("pipeline thread panicked"))??;
        Ok(())
    }
}
