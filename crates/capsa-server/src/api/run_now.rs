//! Run-now: `POST /v1/run` runs code once in a fresh sandbox and answers with the receipt.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use capsa::Language;
use serde::Deserialize;
use serde_json::Value;

use super::registry::code_of;
use super::{json_body, read_body, stream, trace_parent, wants_stream};
use crate::auth::Access;
use crate::context::stats_headers;
use crate::error::ApiError;
use crate::function::{Function, GrantSpec, LimitOverrides, Trust};
use crate::gateway::{Gateway, Input};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunNow {
    language: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    code_base64: Option<String>,
    /// stdin of the program.
    #[serde(default)]
    stdin: Option<String>,
    /// Call the program as a handler with this request context instead.
    #[serde(default)]
    request: Option<Value>,
    #[serde(default)]
    limits: LimitOverrides,
    #[serde(default)]
    grants: GrantSpec,
}

pub(super) async fn run(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let outcome = async move {
        gateway.auth.check(request.headers(), Access::Admin)?;
        let (parts, body) = request.into_parts();
        let body = read_body(
            &gateway,
            &parts.headers,
            body,
            gateway.server.max_deploy_body.bytes(),
        )
        .await?;
        let run: RunNow = json_body(&body)?;
        let language: Language = run.language.parse()?;
        let code = code_of(run.code, run.code_base64)?;
        run.limits.check_within(&gateway.base_limits)?;
        let grants = run.grants.grants(Trust::Api, Some(&gateway.store.kv))?;
        let file = format!("run.{}", language.as_str());
        let program = gateway
            .programs
            .get(&gateway.engine, language, &file, code.into())
            .await?;
        let function = Arc::new(Function {
            label: "run-now".to_owned(),
            version: None,
            program,
            limits: run.limits.apply(&gateway.base_limits),
            grants,
        });
        let input = match (run.request, run.stdin) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid_input(
                    "give `stdin` or `request`, not both",
                ));
            }
            (Some(context), None) => Input::Handler(context),
            (None, stdin) => Input::Stdin(Bytes::from(stdin.unwrap_or_default())),
        };
        let trace = trace_parent(&parts.headers);
        let ticket = gateway.admit(&function).await?;
        if wants_stream(&parts.headers) {
            return Ok(stream::events(
                gateway.clone(),
                ticket,
                function,
                input,
                trace,
            ));
        }
        let receipt = gateway
            .run(ticket, &function, input, None, trace.as_deref())
            .await?;
        let mut response = Json(&receipt).into_response();
        stats_headers(response.headers_mut(), &receipt);
        Ok::<_, ApiError>(response)
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}
