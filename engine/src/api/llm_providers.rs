//! `/v1/llm/providers`: the tenant's LLM providers (admins write, editors
//! read) beside the operator's shared ones. A key is sealed in the tenant's
//! vault on arrival and never returned; answers say only whether one is set.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::AppState;
use super::body::JsonBody;
use super::error::ApiError;
use super::json::Json;
use super::params::PathParams;
use super::principal::Principal;
use crate::llm::settings::{MAX_PROVIDERS, check_api_key, check_name};
use crate::llm::{KeyInput, ProviderInput, ProviderSetting};
use crate::store::TenantStoreExt;
use crate::store::{LlmProviderRow, now_ms};

/// A provider as the API shows it: never its key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    name: String,
    /// `tenant` (set up through this API) or `operator` (the server's
    /// config file, shared by every tenant, read-only here).
    source: &'static str,
    #[serde(flatten)]
    setting: ProviderSetting,
    has_api_key: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<i64>,
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_provider", format!("`{field}` {message}"))
}

#[utoipa::path(
    get,
    path = "/v1/llm/providers",
    tag = "llm",
    summary = "LLM providers this tenant's calls may use (keys are never returned)",
    responses((status = 200, body = super::schema::tenant::LlmProviderList, description = "OK")),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let rows = principal.store(&state).llm_providers().await?;
    let mut providers = Vec::new();
    for row in rows {
        let setting: ProviderSetting = serde_json::from_str(&row.setting).map_err(ApiError::internal)?;
        providers.push(ProviderView {
            name: row.name,
            source: "tenant",
            setting,
            has_api_key: row.api_key_sealed.is_some(),
            updated_at: Some(row.updated_at),
        });
    }
    for shared in state.engine.llm().shared() {
        providers.push(ProviderView {
            name: shared.name.clone(),
            source: "operator",
            setting: shared.setting.clone(),
            has_api_key: shared.api_key.is_some(),
            updated_at: None,
        });
    }
    Ok(Json(json!({ "providers": providers })))
}

/// Creates or replaces a provider. Left out on a change, `api_key` keeps
/// the stored key. Marking one `default` unmarks the others.
#[utoipa::path(
    put,
    path = "/v1/llm/providers/{name}",
    tag = "llm",
    summary = "Create or replace an LLM provider",
    params(("name" = String, Path, description = "provider name, 1–64 of a-z, 0-9, `-`, `_`")),
    request_body = ProviderInput,
    responses((status = 200, body = super::schema::tenant::LlmProviderSaved, description = "OK")),
    security(("bearer" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(name): PathParams<String>,
    JsonBody(input): JsonBody<ProviderInput>,
) -> Result<Json<Value>, ApiError> {
    check_name(&name).map_err(|message| ApiError::bad_request("invalid_name", message))?;
    let (setting, key) = input.split();
    if let Some((field, message)) = setting.problems().into_iter().next() {
        return Err(invalid(&field, message));
    }
    let key = match key {
        KeyInput::None => None,
        KeyInput::Value(key) => {
            check_api_key(&key).map_err(|message| invalid("api_key", message))?;
            Some(key)
        }
        KeyInput::Env(_) => return Err(invalid("api_key_env", "is for the server's config file; send `api_key`")),
    };
    let plain = principal.store(&state);
    let existing = plain.llm_providers().await?;
    if !existing.iter().any(|row| row.name == name) && existing.len() >= MAX_PROVIDERS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota_exceeded",
            format!("a tenant may set up at most {MAX_PROVIDERS} LLM providers"),
        ));
    }
    if let Some(shared) = state.engine.llm().shared().iter().find(|p| p.name == name) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "name_taken",
            format!("`{}` is the operator's shared provider; choose another name", shared.name),
        ));
    }
    let details = json!({"kind": setting.kind.as_str(), "key_changed": key.is_some()});
    let store = plain.audited(&principal.subject, "llm_provider.write", &name, details);
    let sealed = match &key {
        Some(key) => Some(state.vault.seal_llm_key(&store, &name, key).await.map_err(ApiError::internal)?),
        None => None,
    };
    // One default at a time: marking this one unmarks the others.
    if setting.default {
        for mut row in existing.into_iter().filter(|row| row.name != name) {
            let mut other: ProviderSetting = serde_json::from_str(&row.setting).map_err(ApiError::internal)?;
            if other.default {
                other.default = false;
                row.setting = serde_json::to_string(&other).map_err(ApiError::internal)?;
                row.api_key_sealed = None;
                plain.put_llm_provider(&row, true).await?;
            }
        }
    }
    let row = LlmProviderRow {
        name: name.clone(),
        setting: serde_json::to_string(&setting).map_err(ApiError::internal)?,
        api_key_sealed: sealed,
        updated_at: now_ms(),
    };
    store.put_llm_provider(&row, true).await?;
    let has_api_key = store.llm_providers().await?.iter().any(|r| r.name == name && r.api_key_sealed.is_some());
    let view = ProviderView { name, source: "tenant", setting, has_api_key, updated_at: Some(row.updated_at) };
    Ok(Json(json!({ "provider": view })))
}

#[utoipa::path(
    delete,
    path = "/v1/llm/providers/{name}",
    tag = "llm",
    summary = "Delete an LLM provider and its key",
    params(("name" = String, Path, description = "provider name")),
    responses((status = 204, description = "No Content")),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(name): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    check_name(&name).map_err(|message| ApiError::bad_request("invalid_name", message))?;
    let store = principal.store(&state).audited(&principal.subject, "llm_provider.delete", &name, Value::Null);
    if !store.delete_llm_provider(&name).await? {
        return Err(ApiError::not_found("LLM provider"));
    }
    Ok(StatusCode::NO_CONTENT)
}
