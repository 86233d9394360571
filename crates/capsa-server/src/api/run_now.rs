//! Run-now: `POST /v1/run` runs code once in a fresh sandbox and answers with the receipt.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{Admin, Outcome, Submission, admit_and_run, read_json};
use crate::context::stats_headers;
use crate::error::ApiError;
use crate::function::{Function, Trust};
use crate::gateway::{Gateway, Input};

pub(super) async fn run(
    _: Admin,
    State(gateway): State<Arc<Gateway>>,
    request: Request,
) -> Result<Response, ApiError> {
    let headers = request.headers().clone();
    let limit = gateway.server.max_deploy_body.bytes();
    let run: Submission = read_json(&gateway, request, limit).await?;
    let program = run.compile(&gateway, "run", false).await?.program;
    let input = match (run.request, run.stdin) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_input(
                "give `stdin` or `request`, not both",
            ));
        }
        (Some(context), None) => Input::Handler(context),
        (None, stdin) => Input::Stdin(Bytes::from(stdin.unwrap_or_default())),
    };
    let function = Arc::new(Function {
        label: "run-now".to_owned(),
        version: None,
        program,
        limits: run.limits.apply(&gateway.base_limits),
        grants: run.grants.grants(Trust::Api, Some(&gateway.store.kv))?,
    });
    let receipt = match admit_and_run(&gateway, function, input, &headers).await? {
        Outcome::Streamed(events) => return Ok(events),
        Outcome::Finished(receipt) => receipt,
    };
    let mut response = Json(&receipt).into_response();
    stats_headers(response.headers_mut(), &receipt);
    Ok(response)
}
