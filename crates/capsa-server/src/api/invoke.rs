//! Calling functions: configured routes, `ANY /run/{name}[@version|@alias][/rest…]` and
//! `POST /execute/{plugin}?func=NAME`.

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use capsa::ErrorCode;
use capsa_store::FunctionRef;
use serde_json::{Map, Value};

use super::{ClientAddr, Invoker, Outcome, admit_and_run, read_body, trace_parent};
use crate::context::{request_context, response_of, stats_headers};
use crate::error::ApiError;
use crate::function::Function;
use crate::gateway::{Gateway, Input};

/// Calls a registry function: `/run/{name}[@selector][/rest…]`.
pub(super) async fn run(
    _: Invoker,
    State(gateway): State<Arc<Gateway>>,
    Path(target): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let (reference, rest) = target.split_once('/').unwrap_or((&target, ""));
    let reference: FunctionRef = reference.parse()?;
    let function = gateway.registry_function(&reference).await?;
    let route = Map::from_iter([
        ("name".to_owned(), Value::from(reference.name.as_str())),
        ("rest".to_owned(), Value::from(rest)),
    ]);
    handle(&gateway, function, route, request).await
}

/// Calls the first configured route that matches, or answers 404 (405 when only the method differs).
pub(super) async fn route(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, ApiError> {
    let path = request.uri().path();
    let method = request.method().as_str();
    // Methods of the routes whose path matched but whose methods did not, for `Allow`.
    let mut allowed: Vec<&str> = Vec::new();
    for route in &gateway.routes {
        let Some(params) = route.pattern.matches(path) else {
            continue;
        };
        // HEAD is allowed wherever GET is.
        let accepts = |m: &String| m == method || (method == "HEAD" && m == "GET");
        if !route.methods.is_empty() && !route.methods.iter().any(accepts) {
            allowed.extend(route.methods.iter().map(String::as_str));
            continue;
        }
        gateway
            .auth
            .check(request.headers(), crate::auth::Access::Invoke)?;
        let function = gateway.route_function(route).await?;
        return handle(&gateway, function, params, request).await;
    }
    if allowed.is_empty() {
        return Err(ApiError::not_found(format!("no route for {path}")));
    }
    allowed.sort_unstable();
    allowed.dedup();
    let mut response = ApiError::new(
        ErrorCode::InvalidInput,
        format!("{method} is not allowed on {path}"),
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
    .into_response();
    if let Ok(allow) = HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    Ok(response)
}

/// Calls a function as a handler with the request, streaming if asked.
async fn handle(
    gateway: &Arc<Gateway>,
    function: Arc<Function>,
    route: Map<String, Value>,
    request: Request,
) -> Result<Response, ApiError> {
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let (parts, body) = request.into_parts();
    let limit = gateway.server.max_body.bytes();
    let body = read_body(gateway, &parts.headers, body, limit).await?;
    let context = request_context(
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        route,
        client,
    );
    let receipt = match admit_and_run(
        gateway,
        function.clone(),
        Input::Handler(context),
        &parts.headers,
    )
    .await?
    {
        Outcome::Streamed(events) => return Ok(events),
        Outcome::Finished(receipt) => receipt,
    };
    let mut response = response_of(&receipt);
    if parts.method == Method::HEAD {
        *response.body_mut() = axum::body::Body::empty();
    }
    function_headers(&mut response, &function);
    Ok(response)
}

fn function_headers(response: &mut Response, function: &Function) {
    let headers = response.headers_mut();
    if let Ok(label) = HeaderValue::from_str(&function.label) {
        headers.insert("x-capsa-function", label);
    }
    if let Some(version) = function.version {
        headers.insert("x-capsa-version", HeaderValue::from(version));
    }
}

/// Query of `/execute/{plugin}`.
#[derive(serde::Deserialize)]
pub(super) struct ExecuteQuery {
    func: Option<String>,
}

/// Runs a plugin: the raw body in, the function's output out. With `func`, the body (UTF-8) is the
/// one string argument of that export and its returned string is the answer; without, the body is
/// stdin of `_start` and stdout is the answer.
pub(super) async fn execute(
    _: Invoker,
    State(gateway): State<Arc<Gateway>>,
    Path(plugin): Path<String>,
    Query(query): Query<ExecuteQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let plugins = gateway
        .plugins
        .as_ref()
        .ok_or_else(|| ApiError::not_found("this gateway has no plugins directory"))?;
    let function = plugins
        .get(&plugin)
        .ok_or_else(|| ApiError::not_found(format!("no plugin `{plugin}`")))?;
    let (parts, body) = request.into_parts();
    let limit = gateway.server.max_body.bytes();
    let body = read_body(&gateway, &parts.headers, body, limit).await?;
    let input = match &query.func {
        Some(name) => Input::Export {
            name: name.clone(),
            arg: String::from_utf8(body.to_vec())
                .map_err(|_| ApiError::invalid_input("a plugin function takes a UTF-8 body"))?,
        },
        None => Input::Stdin(body),
    };
    let ticket = gateway.admit(&function).await?;
    let trace = trace_parent(&parts.headers);
    let receipt = gateway
        .run(ticket, &function, input, None, trace.as_deref())
        .await?;
    let mut response = match (&receipt.error, &receipt.result, &query.func) {
        (Some(_), _, _) => response_of(&receipt),
        (None, Some(Value::String(text)), Some(_)) => text.clone().into_response(),
        (None, Some(value), Some(_)) => axum::Json(value.clone()).into_response(),
        (None, _, _) => receipt.stdout.clone().into_response(),
    };
    stats_headers(response.headers_mut(), &receipt);
    function_headers(&mut response, &function);
    Ok(response)
}
