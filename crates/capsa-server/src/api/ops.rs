//! Operations: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::gateway::Gateway;

/// The OpenAPI description of every endpoint.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The process is up.
pub(crate) async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// The gateway takes calls: its store answers. (A gateway shutting down has stopped accepting
/// connections, so it cannot be asked.)
pub(super) async fn readyz(State(gateway): State<Arc<Gateway>>) -> Response {
    match gateway.store.registry.ping().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "store unavailable", "error": e.to_string()})),
        )
            .into_response(),
    }
}

/// Prometheus metrics.
pub(super) async fn metrics(State(gateway): State<Arc<Gateway>>) -> Response {
    let mut text = gateway.metrics.render(gateway.admission.queue_depth());
    text.push_str(&gateway.sessions.render_metrics());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The OpenAPI document.
pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
