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

/// Binds `addr` and serves until `shutdown` resolves. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    Ok((bound, handle))
}

async fn metrics_handler(State(s): State<AppState>) -> Response {
    (
        [("content-type", "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

async fn readyz(State(s): State<AppState>) -> Response {
    if s.health.is_ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else if !s.health.broker_up() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: broker unreachable\n",
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: partitions not restored yet\n",
        )
            .into_response()
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
