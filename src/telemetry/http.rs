//! HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `/leads/{lead_id}`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use super::health::Health;
use crate::codec::encode_lead_view;
use crate::engine::lead_view;
use crate::model::Model;

/// What every HTTP handler reads.
#[derive(Clone)]
struct AppState {
    health: Health,
    metrics: PrometheusHandle,
    model: Arc<Model>,
}

/// The router, separate from binding so tests can serve it on any port.
pub fn router(health: Health, metrics: PrometheusHandle, model: Arc<Model>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/leads/{lead_id}", get(lead))
        .with_state(AppState {
            health,
            metrics,
            model,
        })
}

/// Limits that keep slow, idle or too many clients from holding the
/// endpoints (`[http]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// A request's headers must arrive within this time; it also closes a
    /// kept-alive connection that sends no next request within it.
    pub header_timeout: std::time::Duration,
    /// A request is answered within this time, or with 408.
    pub request_timeout: std::time::Duration,
    /// Connections served at once; further clients wait to be accepted.
    pub max_connections: usize,
}

/// Binds `addr` and serves until `shutdown` resolves, within `limits`.
/// Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let handle = tokio::spawn(accept_loop(listener, router, limits, shutdown));
    Ok((bound, handle))
}

/// Accepts connections while a permit is free, until shutdown; then gives
/// open connections a moment and drops them.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    continue;
                }
            },
        };
        let router = router.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let router = router.clone();
                async move {
                    use tower::ServiceExt;
                    let answer = tokio::time::timeout(limits.request_timeout, router.oneshot(req));
                    Ok::<_, std::convert::Infallible>(match answer.await {
                        Ok(Ok(res)) => res,
                        Ok(Err(never)) => match never {},
                        Err(_) => {
                            (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response()
                        }
                    })
                }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}

/// Renders the exposition; snapshot ages are computed now, not when a task
/// last looked, so a stuck task's age still grows.
async fn metrics_handler(State(s): State<AppState>) -> Response {
    super::events::emit_ages();
    s.health.publish();
    (
        [("content-type", "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    match s.health.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

/// `/leads/{lead_id}`: the lead's view (stage, score, explanation built by
/// the same code as the outbound record, thresholds, recent history).
async fn lead(State(s): State<AppState>, Path(lead_id): Path<String>) -> Response {
    match s.health.lead(&lead_id) {
        Some((partition, lead)) => (
            [("content-type", "application/json")],
            encode_lead_view(&lead_view(&s.model, &lead), partition),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("lead {lead_id} is not held by this instance")})),
        )
            .into_response(),
    }
}
