//! The running service: pipeline plus HTTP endpoints plus signal handling,
//! shared by `leadscore run`, `leadscore demo` and the integration tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::config::Config;
use crate::model::Model;
use crate::pipeline::{self, Counters, PipelineError, Shutdown};
use crate::telemetry::{health::Health, http, prometheus};

/// Why the service stopped with an error.
#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot listen on {addr} (set [http] listen or LEADSCORE_HTTP_LISTEN): {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// Handles to a service run, for callers that watch or stop it.
#[derive(Clone, Default)]
pub struct ServiceHandles {
    pub shutdown: Shutdown,
    pub counters: Counters,
    pub health: Health,
}

/// Runs the pipeline with HTTP endpoints until SIGINT/SIGTERM or until
/// `handles.shutdown` is triggered, then shuts down gracefully (tasks ack,
/// store offsets and snapshot). `on_listening` gets the bound HTTP address.
pub fn serve(
    config: Config,
    model: Arc<Model>,
    handles: ServiceHandles,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServiceError> {
    let metrics = prometheus::install();
    let ServiceHandles {
        shutdown,
        counters,
        health,
    } = handles;
    health.register_metrics(&config);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("leadscore-http")
        .enable_all()
        .build()
        .map_err(ServiceError::Runtime)?;
    let router = http::router(health.clone(), metrics, model.clone());
    let sd = shutdown.clone();
    let http_stop = async move { sd.wait().await };
    let (addr, http_task) = runtime
        .block_on(http::serve(
            config.http.listen,
            router,
            http::HttpLimits {
                header_timeout: Duration::from_secs(config.http.header_timeout_secs),
                request_timeout: Duration::from_secs(config.http.request_timeout_secs),
                max_connections: config.http.max_connections,
            },
            http_stop,
        ))
        .map_err(|source| ServiceError::Listen {
            addr: config.http.listen,
            source,
        })?;
    tracing::info!(%addr, "HTTP endpoints: /metrics /healthz /readyz /leads/{{lead_id}}");
    on_listening(addr);
    let sd = shutdown.clone();
    runtime.spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received; finishing in-flight work, snapshotting and stopping");
        sd.trigger();
    });
    let result = pipeline::run(&config, model, health, counters, shutdown.clone());
    shutdown.trigger();
    let _ = runtime.block_on(http_task);
    runtime.shutdown_timeout(Duration::from_secs(1));
    result.map_err(Into::into)
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
