//! The function registry: `PUT/GET/DELETE /v1/functions/{name}`, versions and aliases.
//!
//! A deployment is checked and compiled before anything is stored: a bad one answers 400 with the
//! reason and the previous version keeps serving.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use capsa::Language;
use capsa_store::{AliasName, FunctionName, NewVersion};
use serde::Deserialize;
use serde_json::json;

use super::{json_body, read_body};
use crate::auth::Access;
use crate::error::ApiError;
use crate::function::{GrantSpec, LimitOverrides, Trust, check_servable};
use crate::gateway::{Gateway, Metadata};

/// The body of a deployment.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Deploy {
    language: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    code_base64: Option<String>,
    #[serde(default)]
    limits: LimitOverrides,
    #[serde(default)]
    grants: GrantSpec,
}

/// The code of a deployment or a run-now request: `code` (text) or `code_base64` (bytes).
pub(super) fn code_of(
    code: Option<String>,
    code_base64: Option<String>,
) -> Result<Vec<u8>, ApiError> {
    match (code, code_base64) {
        (Some(code), None) => Ok(code.into_bytes()),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| ApiError::invalid_input(format!("`code_base64` is not base64: {e}"))),
        (Some(_), Some(_)) => Err(ApiError::invalid_input(
            "give `code` or `code_base64`, not both",
        )),
        (None, None) => Err(ApiError::invalid_input(
            "`code` or `code_base64` is required",
        )),
    }
}

pub(super) async fn deploy(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    let outcome = async move {
        gateway.auth.check(request.headers(), Access::Admin)?;
        let name: FunctionName = name.parse()?;
        let (parts, body) = request.into_parts();
        let body = read_body(
            &gateway,
            &parts.headers,
            body,
            gateway.server.max_deploy_body.bytes(),
        )
        .await?;
        let deploy: Deploy = json_body(&body)?;
        let language: Language = deploy.language.parse()?;
        let code = code_of(deploy.code, deploy.code_base64)?;
        deploy.limits.check_within(&gateway.base_limits)?;
        deploy.grants.check(Trust::Api)?;
        let program = gateway
            .programs
            .get(
                &gateway.engine,
                language,
                name.as_str(),
                code.clone().into(),
            )
            .await?;
        check_servable(&program)?;
        let metadata = Metadata {
            limits: deploy.limits,
            grants: deploy.grants,
        };
        let info = gateway
            .store
            .registry
            .put(
                &name,
                NewVersion {
                    language: language.as_str().to_owned(),
                    code,
                    metadata: serde_json::to_value(&metadata)
                        .map_err(|e| ApiError::internal(e.to_string()))?,
                },
            )
            .await?;
        tracing::info!(function = %name, version = info.version, digest = %info.digest, "deployed");
        let location = format!("/v1/functions/{name}");
        Ok::<_, ApiError>(
            (
                StatusCode::CREATED,
                [(header::LOCATION, location)],
                Json(json!({
                    "name": info.name,
                    "version": info.version,
                    "digest": info.digest,
                    "language": info.language,
                    "size": info.size,
                    "created_at": info.created_at,
                })),
            )
                .into_response(),
        )
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn list(State(gateway): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    let outcome = async move {
        gateway.auth.check(&headers, Access::Admin)?;
        let functions = gateway.store.registry.list().await?;
        Ok::<_, ApiError>(Json(json!({ "functions": functions })).into_response())
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn function(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async move {
        gateway.auth.check(&headers, Access::Admin)?;
        let name: FunctionName = name.parse()?;
        let info = gateway
            .store
            .registry
            .function(&name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no function `{name}`")))?;
        Ok::<_, ApiError>(Json(info).into_response())
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn versions(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async move {
        gateway.auth.check(&headers, Access::Admin)?;
        let name: FunctionName = name.parse()?;
        let versions = gateway.store.registry.versions(&name).await?;
        if versions.is_empty() {
            return Err(ApiError::not_found(format!("no function `{name}`")));
        }
        Ok(Json(json!({ "name": name, "versions": versions })).into_response())
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn delete(
    State(gateway): State<Arc<Gateway>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let outcome = async move {
        gateway.auth.check(&headers, Access::Admin)?;
        let name: FunctionName = name.parse()?;
        if !gateway.store.registry.delete(&name).await? {
            return Err(ApiError::not_found(format!("no function `{name}`")));
        }
        tracing::info!(function = %name, "deleted");
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasBody {
    version: u64,
}

pub(super) async fn set_alias(
    State(gateway): State<Arc<Gateway>>,
    Path((name, alias)): Path<(String, String)>,
    request: Request,
) -> Response {
    let outcome = async move {
        gateway.auth.check(request.headers(), Access::Admin)?;
        let name: FunctionName = name.parse()?;
        let alias: AliasName = alias.parse()?;
        let (parts, body) = request.into_parts();
        let body = read_body(
            &gateway,
            &parts.headers,
            body,
            gateway.server.max_body.bytes(),
        )
        .await?;
        let AliasBody { version } = json_body(&body)?;
        gateway
            .store
            .registry
            .set_alias(&name, &alias, version)
            .await?;
        tracing::info!(function = %name, %alias, version, "alias set");
        Ok::<_, ApiError>(
            Json(json!({"name": name, "alias": alias, "version": version})).into_response(),
        )
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}

pub(super) async fn delete_alias(
    State(gateway): State<Arc<Gateway>>,
    Path((name, alias)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let outcome = async move {
        gateway.auth.check(&headers, Access::Admin)?;
        let name: FunctionName = name.parse()?;
        let alias: AliasName = alias.parse()?;
        if !gateway.store.registry.delete_alias(&name, &alias).await? {
            return Err(ApiError::not_found(format!(
                "function `{name}` has no alias `{alias}`"
            )));
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    };
    outcome.await.unwrap_or_else(IntoResponse::into_response)
}
