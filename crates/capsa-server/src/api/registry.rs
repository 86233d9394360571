//! The function registry: `PUT/GET/DELETE /v1/functions/{name}`, versions and aliases.
//!
//! A deployment is checked and compiled before anything is stored: a bad one answers 400 with the
//! reason and the previous version keeps serving.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use capsa_store::{AliasName, FunctionName, NewVersion};
use serde::Deserialize;
use serde_json::json;

use super::{Admin, Submission, read_json};
use crate::error::ApiError;
use crate::function::{check_loads, check_servable};
use crate::gateway::{Gateway, Metadata};

pub(super) async fn deploy(
    _: Admin,
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let name: FunctionName = name.parse()?;
    let limit = gateway.server.max_deploy_body.bytes();
    let submission: Submission = read_json(&gateway, request, limit).await?;
    if submission.stdin.is_some() || submission.request.is_some() {
        return Err(ApiError::invalid_input(
            "`stdin` and `request` belong to `POST /v1/run`, not to a deployment",
        ));
    }
    let compiled = submission.compile(&gateway, name.as_str(), true).await?;
    check_servable(&compiled.program)?;
    let limits = submission.limits.apply(&gateway.base_limits);
    check_loads(&compiled.program, &limits).await?;
    let metadata = Metadata {
        limits: submission.limits,
        grants: submission.grants,
    };
    let info = gateway
        .store
        .registry
        .put(
            &name,
            NewVersion {
                language: compiled.language.as_str().to_owned(),
                code: compiled.code,
                metadata: serde_json::to_value(&metadata)
                    .map_err(|e| ApiError::internal(e.to_string()))?,
            },
        )
        .await?;
    tracing::info!(function = %name, version = info.version, digest = %info.digest, "deployed");
    let body = json!({
        "name": info.name,
        "version": info.version,
        "digest": info.digest,
        "language": info.language,
        "size": info.size,
        "created_at": info.created_at,
    });
    let location = format!("/v1/functions/{name}");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

pub(super) async fn list(
    _: Admin,
    State(gateway): State<Arc<Gateway>>,
) -> Result<Response, ApiError> {
    let functions = gateway.store.registry.list().await?;
    Ok(Json(json!({ "functions": functions })).into_response())
}

pub(super) async fn function(
    _: Admin,
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name: FunctionName = name.parse()?;
    let info = gateway
        .store
        .registry
        .function(&name)
        .await?
        .ok_or_else(|| no_function(&name))?;
    Ok(Json(info).into_response())
}

pub(super) async fn versions(
    _: Admin,
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name: FunctionName = name.parse()?;
    let versions = gateway.store.registry.versions(&name).await?;
    if versions.is_empty() {
        return Err(no_function(&name));
    }
    Ok(Json(json!({ "name": name, "versions": versions })).into_response())
}

pub(super) async fn delete(
    _: Admin,
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name: FunctionName = name.parse()?;
    if !gateway.store.registry.delete(&name).await? {
        return Err(no_function(&name));
    }
    tracing::info!(function = %name, "deleted");
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    version: u64,
}

pub(super) async fn set_alias(
    _: Admin,
    State(gateway): State<Arc<Gateway>>,
    Path((name, alias)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let name: FunctionName = name.parse()?;
    let alias: AliasName = alias.parse()?;
    let limit = gateway.server.max_body.bytes();
    let AliasBody { version } = read_json(&gateway, request, limit).await?;
    gateway
        .store
        .registry
        .set_alias(&name, &alias, version)
        .await?;
    tracing::info!(function = %name, %alias, version, "alias set");
    Ok(Json(json!({"name": name, "alias": alias, "version": version})).into_response())
}

pub(super) async fn delete_alias(
    _: Admin,
    State(gateway): State<Arc<Gateway>>,
    Path((name, alias)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let name: FunctionName = name.parse()?;
    let alias: AliasName = alias.parse()?;
    if !gateway.store.registry.delete_alias(&name, &alias).await? {
        return Err(ApiError::not_found(format!(
            "function `{name}` has no alias `{alias}`"
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn no_function(name: &FunctionName) -> ApiError {
    ApiError::not_found(format!("no function `{name}`"))
}
