//! Sessions over HTTP: `/v1/sessions…` and `/v1/snapshots…` over the gateway's [`Sessions`]
//! (`crate::sessions`). Every endpoint needs a token, and sees only that token's sessions and
//! snapshots: another token's look missing (`404`), never forbidden.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use capsa::ErrorCode;
use serde::Deserialize;
use serde_json::json;

use super::{read_body, read_json, stream, wants_stream};
use crate::context::stats_headers;
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::sessions::{CreateSession, ForkSession};

/// The owner key of a request's token: whose sessions it may see.
pub(crate) struct Tenant(String);

impl FromRequestParts<Arc<Gateway>> for Tenant {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, ApiError> {
        gateway.auth.owner(&parts.headers).map(Tenant)
    }
}

/// The admission label every session exec shares (one gate, so sessions cannot starve functions).
const EXEC_GATE: &str = "sessions";

pub(super) async fn create(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, ApiError> {
    let limit = gateway.server.max_deploy_body.bytes();
    let req: CreateSession = read_json(&gateway, request, limit).await?;
    let info = gateway
        .sessions
        .create(&owner, req)
        .await
        .inspect_err(|e| rejected(&gateway, e))?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

pub(super) async fn list(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
) -> Result<Response, ApiError> {
    let sessions = gateway.sessions.list(&owner).await?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

pub(super) async fn stats(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(gateway.sessions.stats(&owner, &id).await?).into_response())
}

pub(super) async fn delete(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    gateway.sessions.delete(&owner, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/sessions/{id}/exec`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Exec {
    code: String,
}

pub(super) async fn exec(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let streamed = wants_stream(request.headers());
    let limit = gateway.server.max_deploy_body.bytes();
    let exec: Exec = read_json(&gateway, request, limit).await?;
    // A missing session answers 404 before any stream starts.
    gateway.sessions.stats(&owner, &id).await?;
    let ticket = gateway
        .admission
        .admit(EXEC_GATE)
        .await
        .inspect_err(|e| rejected(&gateway, e))?;
    if streamed {
        let gateway = gateway.clone();
        return Ok(stream::stream(move |listener| async move {
            let _ticket = ticket;
            let _active = gateway.metrics.active();
            gateway
                .sessions
                .exec(&owner, &id, &exec.code, Some(listener))
                .await
        }));
    }
    let _active = gateway.metrics.active();
    let receipt = gateway.sessions.exec(&owner, &id, &exec.code, None).await?;
    drop(ticket);
    let mut response = Json(&receipt).into_response();
    stats_headers(response.headers_mut(), &receipt);
    Ok(response)
}

pub(super) async fn list_files(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let files = gateway.sessions.list_files(&owner, &id).await?;
    Ok(Json(json!({ "files": files })).into_response())
}

pub(super) async fn put_file(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    Path((id, path)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let limit = gateway.server.max_deploy_body.bytes();
    let contents = read_body(&gateway, &parts.headers, body, limit).await?;
    gateway
        .sessions
        .write_file(&owner, &id, &path, &contents)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn get_file(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    Path((id, path)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let contents = gateway.sessions.read_file(&owner, &id, &path).await?;
    let mut response = contents.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}

pub(super) async fn snapshot(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let info = gateway.sessions.snapshot(&owner, &id).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

pub(super) async fn fork(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    Path(snapshot): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let limit = gateway.server.max_deploy_body.bytes();
    let (parts, body) = request.into_parts();
    // The body is optional: none forks with the snapshot's own limits and grants.
    let body = read_body(&gateway, &parts.headers, body, limit).await?;
    let req: ForkSession = if body.iter().all(u8::is_ascii_whitespace) {
        ForkSession::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::invalid_input(format!("invalid JSON body: {e}")))?
    };
    let info = gateway
        .sessions
        .fork(&owner, &snapshot, req)
        .await
        .inspect_err(|e| rejected(&gateway, e))?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

pub(super) async fn delete_snapshot(
    Tenant(owner): Tenant,
    State(gateway): State<Arc<Gateway>>,
    Path(snapshot): Path<String>,
) -> Result<Response, ApiError> {
    gateway.sessions.delete_snapshot(&owner, &snapshot).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Counts a refusal for capacity in `capsa_rejected_total`, as admission does for calls.
fn rejected(gateway: &Gateway, e: &ApiError) {
    if e.code == ErrorCode::Busy {
        gateway.metrics.rejected(ErrorCode::Busy);
    }
}
