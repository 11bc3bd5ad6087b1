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
use crate::codec::format_rfc3339_ms;
use crate::engine::{contributions, round2};
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

/// Renders the exposition; snapshot ages are computed now, not when a task
/// last looked, so a stuck task's age still grows.
async fn metrics_handler(State(s): State<AppState>) -> Response {
    super::events::emit_ages();
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

async fn lead(State(s): State<AppState>, Path(lead_id): Path<String>) -> Response {
    let m = &s.model;
    let found = s.health.with_lead(&lead_id, |partition, lead| {
        let at = lead.last_event_ms;
        let score = lead.score_at(m, at);
        let signals: Vec<&str> = lead.active_signals(m, at).iter().map(|&i| m.signals[i as usize].name.as_str()).collect();
        json!({
            "lead_id": lead_id,
            "partition": partition,
            "stage": lead.stage.as_str(),
            "as_of": format_rfc3339_ms(at),
            "score": { "total": round2(score.total), "behavior": round2(score.behavior), "fit": round2(score.fit) },
            "model_version": &*m.version,
            "explanation": {
                "contributions": contributions(m, lead, at).iter().map(|c| json!({"rule": c.rule, "count": c.count, "points": c.points})).collect::<Vec<_>>(),
                "sql_signals": signals,
                "hold_until": (lead.hold_until_ms > 0).then(|| format_rfc3339_ms(lead.hold_until_ms)),
            },
        })
    });
    match found {
        Some(body) => Json(body).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("lead {lead_id} is not held by this instance")})),
        )
            .into_response(),
    }
}
