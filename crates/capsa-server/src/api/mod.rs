//! The HTTP surface (SPEC §8 Endpoints): one module per group of endpoints over the shared
//! [`Gateway`].

mod invoke;
mod ops;
mod registry;
mod run_now;
mod sessions;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post, put};
use bytes::Bytes;
use capsa::{ErrorCode, Language, Program, Receipt};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Deserialize;

use crate::auth::Access;
use crate::error::ApiError;
use crate::function::Function;
use crate::function::{GrantSpec, LimitOverrides, Programs, Trust};
use crate::gateway::{Gateway, Input};

pub(crate) use ops::healthz;

/// The OpenAPI document of every endpoint (`GET /openapi.json`).
pub fn openapi_document() -> &'static str {
    ops::OPENAPI
}

/// The client's address, put into every request's extensions by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

/// The gateway's router.
pub fn router(gateway: Arc<Gateway>) -> Router {
    let mcp = crate::mcp::http_service(gateway.clone());
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
        .route("/v1/sessions", post(sessions::create).get(sessions::list))
        .route(
            "/v1/sessions/{id}",
            get(sessions::stats).delete(sessions::delete),
        )
        .route("/v1/sessions/{id}/exec", post(sessions::exec))
        .route("/v1/sessions/{id}/files", get(sessions::list_files))
        .route(
            "/v1/sessions/{id}/files/{*path}",
            put(sessions::put_file).get(sessions::get_file),
        )
        .route("/v1/sessions/{id}/snapshot", post(sessions::snapshot))
        .route("/v1/snapshots/{snapshot}/fork", post(sessions::fork))
        .route(
            "/v1/snapshots/{snapshot}",
            axum::routing::delete(sessions::delete_snapshot),
        )
        .route("/run/{*target}", any(invoke::run))
        .route("/execute/{plugin}", post(invoke::execute))
        .route(
            "/mcp",
            any(
                move |State(gateway): State<Arc<Gateway>>, request: Request| {
                    mcp_endpoint(gateway, mcp.clone(), request)
                },
            ),
        )
        .fallback(invoke::route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(gateway.clone(), count))
        .with_state(gateway)
}

/// The gateway's own endpoints answer a wrong method with the usual error body.
async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidInput,
        format!(
            "{} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    )
    .with_status(axum::http::StatusCode::METHOD_NOT_ALLOWED)
}

/// `/mcp`: the MCP tools over streamable HTTP, for holders of a token, each call owned by its
/// token.
async fn mcp_endpoint(
    gateway: Arc<Gateway>,
    service: crate::mcp::HttpService,
    mut request: Request,
) -> Response {
    match gateway.auth.owner(request.headers()) {
        Ok(owner) => {
            request
                .extensions_mut()
                .insert(crate::mcp::Caller(owner.into()));
            service.handle(request).await.map(Body::new)
        }
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
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

/// How an admitted call answered: as a stream of events already under way, or with its receipt.
pub(crate) enum Outcome {
    Streamed(Response),
    Finished(Box<Receipt>),
}

/// Admits a call of `function`, then streams it (when the client asked for events) or runs it to its
/// receipt. A `wasi:http` component answers for itself: its response is never wrapped in events.
///
/// # Errors
///
/// `503 busy` without capacity, and what [`Gateway::run`] refuses.
pub(crate) async fn admit_and_run(
    gateway: &Arc<Gateway>,
    function: Arc<Function>,
    input: Input,
    headers: &HeaderMap,
) -> Result<Outcome, ApiError> {
    let trace = trace_parent(headers);
    let ticket = gateway.admit(&function).await?;
    if wants_stream(headers) && !function.program.is_http_proxy() {
        let events = stream::events(gateway.clone(), ticket, function, input, trace);
        return Ok(Outcome::Streamed(events));
    }
    let receipt = gateway
        .run(ticket, &function, input, None, trace.as_deref())
        .await?;
    Ok(Outcome::Finished(Box::new(receipt)))
}

/// Reads a JSON request body of at most `limit` bytes into `T`.
///
/// # Errors
///
/// As [`read_body`]; `400 invalid_input` with serde's message (which names an unknown field).
pub(crate) async fn read_json<T: serde::de::DeserializeOwned>(
    gateway: &Gateway,
    request: Request,
    limit: u64,
) -> Result<T, ApiError> {
    let (parts, body) = request.into_parts();
    let body = read_body(gateway, &parts.headers, body, limit).await?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid_input(format!("invalid JSON body: {e}")))
}

/// A request that carried an admin token (registry, run-now). Checked before anything else.
pub(crate) struct Admin;

impl FromRequestParts<Arc<Gateway>> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, ApiError> {
        gateway
            .auth
            .check(&parts.headers, Access::Admin)
            .map(|()| Admin)
    }
}

/// A request allowed to invoke functions: anyone, unless `protect_invoke` asks for a token.
pub(crate) struct Invoker;

impl FromRequestParts<Arc<Gateway>> for Invoker {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, ApiError> {
        gateway
            .auth
            .check(&parts.headers, Access::Invoke)
            .map(|()| Invoker)
    }
}

/// Code sent to the gateway: the body of a deployment and of run-now (which alone may carry
/// `stdin` or `request`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Submission {
    language: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    code_base64: Option<String>,
    /// stdin of the program (run-now).
    #[serde(default)]
    pub(crate) stdin: Option<String>,
    /// Call the program as a handler with this request context (run-now).
    #[serde(default)]
    pub(crate) request: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) limits: LimitOverrides,
    #[serde(default)]
    pub(crate) grants: GrantSpec,
}

/// A submission that passed every check and compiled.
pub(crate) struct Compiled {
    pub(crate) language: Language,
    pub(crate) code: Vec<u8>,
    pub(crate) program: Program,
}

impl Submission {
    /// Checks the language, code, limits (only lower than the gateway's) and grants, then compiles
    /// (keeping the program in the gateway's cache when `cached`).
    ///
    /// # Errors
    ///
    /// `400` naming what is wrong: `invalid_input`, or `invalid_module` for code that does not load.
    pub(crate) async fn compile(
        &self,
        gateway: &Gateway,
        file: &str,
        cached: bool,
    ) -> Result<Compiled, ApiError> {
        let language: Language = self.language.parse()?;
        let mut fields = serde_json::Map::new();
        if let Some(code) = &self.code {
            fields.insert("code".into(), code.clone().into());
        }
        if let Some(encoded) = &self.code_base64 {
            fields.insert("code_base64".into(), encoded.clone().into());
        }
        let code = capsa_wire::bytes::decode(&fields, "code")
            .map_err(|e| ApiError::invalid_input(e.to_string()))?
            .ok_or_else(|| ApiError::invalid_input("`code` or `code_base64` is required"))?;
        self.limits.check_within(&gateway.base_limits)?;
        self.grants.check(Trust::Api)?;
        let program = if cached {
            gateway
                .programs
                .get(&gateway.engine, language, file, code.clone().into())
                .await?
        } else {
            Programs::compile(&gateway.engine, language, file, code.clone().into()).await?
        };
        Ok(Compiled {
            language,
            code,
            program,
        })
    }
}
