//! The HTTP surface (SPEC §8 Endpoints): one module per group of endpoints over the shared
//! [`Gateway`].

mod invoke;
mod ops;
mod registry;
mod run_now;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post, put};
use bytes::Bytes;
use capsa::ErrorCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;
use crate::gateway::Gateway;

/// The OpenAPI document of every endpoint (`GET /openapi.json`).
pub fn openapi_document() -> &'static str {
    ops::OPENAPI
}

/// The client's address, put into every request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The gateway's router.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/functions", get(registry::list))
        .route(
            "/v1/functions/{name}",
            put(registry::deploy)
                .get(registry::function)
                .delete(registry::delete),
        )
        .route("/v1/functions/{name}/versions", get(registry::versions))
        .route(
            "/v1/functions/{name}/aliases/{alias}",
            put(registry::set_alias).delete(registry::delete_alias),
        )
        .route("/v1/run", post(run_now::run))
        .route("/run/{*target}", any(invoke::run))
        .route("/execute/{plugin}", post(invoke::execute))
        .fallback(invoke::route)
        .layer(middleware::from_fn_with_state(gateway.clone(), count))
        .with_state(gateway)
}

async fn count(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    gateway.metrics.request();
    next.run(request).await
}

/// Reads a body of at most `limit` bytes within the client timeout.
///
/// # Errors
///
/// `413 payload_too_large` past the limit (at once when `Content-Length` says so), `408` for a
/// client that sends too slowly, `400` for a broken body.
pub(crate) async fn read_body(
    gateway: &Gateway,
    headers: &HeaderMap,
    body: Body,
    limit: u64,
) -> Result<Bytes, ApiError> {
    let too_large = || {
        gateway.metrics.rejected(ErrorCode::PayloadTooLarge);
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    let timeout: Duration = gateway.server.client_timeout.0;
    match tokio::time::timeout(timeout, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(ApiError::invalid_input(format!(
            "cannot read the request body: {e}"
        ))),
        Err(_) => Err(ApiError::invalid_input(format!(
            "the request body did not arrive within {timeout:?}"
        ))
        .with_status(axum::http::StatusCode::REQUEST_TIMEOUT)),
    }
}

/// Whether the client asked for server-sent events.
pub(crate) fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"))
}

/// The W3C `traceparent` of the request, if any.
pub(crate) fn trace_parent(headers: &HeaderMap) -> Option<String> {
    headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Parses a JSON request body into `T`.
///
/// # Errors
///
/// `400 invalid_input` with serde's message (which names an unknown field).
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid_input(format!("invalid JSON body: {e}")))
}
