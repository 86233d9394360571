//! Calling functions: configured routes, `ANY /run/{name}[@version|@alias][/rest…]` and
//! `POST /execute/{plugin}?func=NAME`.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use capsa_store::FunctionRef;
use serde_json::{Map, Value};

use super::{ClientAddr, read_body, stream, trace_parent, wants_stream};
use crate::auth::Access;
use crate::context::{request_context, response_of, stats_headers};
use crate::error::ApiError;
use crate::function::Function;
use crate::gateway::{Gateway, Input};

/// Calls a registry function: `/run/{name}[@selector][/rest…]`.
pub(super) async fn run(
    State(gateway): State<Arc<Gateway>>,
    Path(target): Path<String>,
    request: Request,
) -> Response {
    let (reference, rest) = match target.split_once('/') {
        Some((reference, rest)) => (reference, rest),
        None => (target.as_str(), ""),
    };
    let outcome = async move {
        gateway.auth.check(request.headers(), Access::Invoke)?;
        let reference: FunctionRef = reference.parse()?;
        let function = gateway.registry_function(&reference).await?;
        let route = Map::from_iter([
            ("name".to_owned(), Value::from(reference.name.as_str())),
            ("rest".to_owned(), Value::from(rest)),
        ]);
        Ok::<_, ApiError>(handle(&gateway, function, route, request).await)
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}

/// Calls the first configured route that matches, or answers 404.
pub(super) async fn route(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let method = request.method().as_str().to_owned();
    let mut path_matched = false;
    for route in &gateway.routes {
        let Some(params) = route.pattern.matches(&path) else {
            continue;
        };
        path_matched = true;
        if !route.methods.is_empty() && !route.methods.contains(&method) {
            continue;
        }
        let gateway = &gateway;
        let outcome = async move {
            gateway.auth.check(request.headers(), Access::Invoke)?;
            let function = gateway.route_function(route).await?;
            Ok::<_, ApiError>(handle(gateway, function, params, request).await)
        };
        return outcome.await.unwrap_or_else(IntoResponse::into_response);
    }
    if path_matched {
        return ApiError::new(
            capsa::ErrorCode::InvalidInput,
            format!("{method} is not allowed on {path}"),
        )
        .with_status(axum::http::StatusCode::METHOD_NOT_ALLOWED)
        .into_response();
    }
    ApiError::not_found(format!("no route for {path}")).into_response()
}

/// Calls a function as a handler with the request, streaming if asked.
async fn handle(
    gateway: &Arc<Gateway>,
    function: Arc<Function>,
    route: Map<String, Value>,
    request: Request,
) -> Response {
    let client = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let (parts, body) = request.into_parts();
    let outcome = async move {
        let body = read_body(
            gateway,
            &parts.headers,
            body,
            gateway.server.max_body.bytes(),
        )
        .await?;
        let context = request_context(
            &parts.method,
            &parts.uri,
            &parts.headers,
            &body,
            route,
            client,
        );
        let trace = trace_parent(&parts.headers);
        let ticket = gateway.admit(&function).await?;
        if wants_stream(&parts.headers) {
            return Ok(stream::events(
                gateway.clone(),
                ticket,
                function,
                Input::Handler(context),
                trace,
            ));
        }
        let receipt = gateway
            .run(
                ticket,
                &function,
                Input::Handler(context),
                None,
                trace.as_deref(),
            )
            .await?;
        let mut response = if parts.method == Method::HEAD {
            let mut r = response_of(&receipt);
            *r.body_mut() = axum::body::Body::empty();
            r
        } else {
            response_of(&receipt)
        };
        function_headers(&mut response, &function);
        Ok::<_, ApiError>(response)
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
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
    State(gateway): State<Arc<Gateway>>,
    Path(plugin): Path<String>,
    query: axum::extract::Query<ExecuteQuery>,
    request: Request,
) -> Response {
    let outcome = async move {
        gateway.auth.check(request.headers(), Access::Invoke)?;
        let plugins = gateway
            .plugins
            .as_ref()
            .ok_or_else(|| ApiError::not_found("this gateway has no plugins directory"))?;
        let function = plugins
            .get(&plugin)
            .ok_or_else(|| ApiError::not_found(format!("no plugin `{plugin}`")))?;
        let (parts, body) = request.into_parts();
        let body = read_body(
            &gateway,
            &parts.headers,
            body,
            gateway.server.max_body.bytes(),
        )
        .await?;
        let input = match &query.func {
            Some(name) => Input::Export {
                name: name.clone(),
                arg: String::from_utf8(body.to_vec())
                    .map_err(|_| ApiError::invalid_input("a plugin function takes a UTF-8 body"))?,
            },
            None => Input::Stdin(body),
        };
        let ticket = gateway.admit(&function).await?;
        let receipt = gateway
            .run(
                ticket,
                &function,
                input,
                None,
                trace_parent(&parts.headers).as_deref(),
            )
            .await?;
        let mut response = match (&receipt.error, &receipt.result) {
            (Some(_), _) => response_of(&receipt),
            (None, Some(Value::String(text))) if query.func.is_some() => {
                text.clone().into_response()
            }
            (None, Some(value)) if query.func.is_some() => {
                axum::Json(value.clone()).into_response()
            }
            (None, _) => receipt.stdout.clone().into_response(),
        };
        stats_headers(response.headers_mut(), &receipt);
        function_headers(&mut response, &function);
        Ok::<_, ApiError>(response)
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}
