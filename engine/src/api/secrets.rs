//! `/v1/secrets` (write-only: names are listed, values never leave) and
//! `/v1/plugins/{publisher}/{plugin}/grants` (which secrets a plugin's nodes
//! may read).

use super::json::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::body::JsonBody;
use super::error::ApiError;
use super::params::PathParams;
use super::principal::Principal;
use crate::secrets::check_name;
use crate::secrets::vault::MAX_VALUE_BYTES;
use crate::store::PluginGrants;
use crate::store::TenantStoreExt;

fn secret_error(error: crate::secrets::SecretError) -> ApiError {
    ApiError::internal(error)
}

fn checked_name(name: &str) -> Result<(), ApiError> {
    check_name(name).map_err(|message| ApiError::bad_request("invalid_name", message))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    value: String,
}

#[utoipa::path(
    get,
    path = "/v1/secrets",
    tag = "secrets",
    summary = "Secret names (values are never returned)",
    responses((status = 200, body = super::schema::tenant::SecretList, description = "OK")),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "secrets": principal.store(&state).secret_names().await? })))
}

/// Creates or replaces a secret. The answer carries no value, and the audit
/// entry only the name.
#[utoipa::path(
    put,
    path = "/v1/secrets/{name}",
    tag = "secrets",
    summary = "Create or replace a secret",
    params(("name" = String, Path, description = "secret name")),
    request_body = SecretValue,
    responses((status = 204, description = "No Content")),
    security(("bearer" = []))
)]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(name): PathParams<String>,
    JsonBody(body): JsonBody<SecretValue>,
) -> Result<StatusCode, ApiError> {
    checked_name(&name)?;
    if body.value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "value_too_large",
            format!("secret value is {} bytes, over the {MAX_VALUE_BYTES}-byte limit", body.value.len()),
        ));
    }
    let store = principal.store(&state).audited(&principal.subject, "secret.write", &name, Value::Null);
    state.vault.write(&store, &name, &body.value).await.map_err(secret_error)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/v1/secrets/{name}",
    tag = "secrets",
    summary = "Delete a secret",
    params(("name" = String, Path, description = "secret name")),
    responses((status = 204, description = "No Content")),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(name): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    checked_name(&name)?;
    let store = principal.store(&state).audited(&principal.subject, "secret.delete", &name, Value::Null);
    if !store.delete_secret(&name).await? {
        return Err(ApiError::not_found("secret"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `publisher/plugin`, both parts slugs.
pub(super) fn plugin_name(publisher: &str, plugin: &str) -> Result<String, ApiError> {
    // The manifest's rule: a name that could never be published is a bad
    // request, not a missing plugin.
    use trellis_marketplace::manifest::is_slug;
    if is_slug(publisher) && is_slug(plugin) {
        Ok(format!("{publisher}/{plugin}"))
    } else {
        Err(ApiError::bad_request(
            "invalid_plugin",
            "plugin must be `publisher/name`, each 1–63 of a-z, 0-9 and `-`, starting with a letter or digit",
        ))
    }
}

#[utoipa::path(
    get,
    path = "/v1/plugins/{publisher}/{plugin}/grants",
    tag = "secrets",
    summary = "What a plugin's nodes may read in this tenant",
    params(("publisher" = String, Path), ("plugin" = String, Path)),
    responses((status = 200, body = super::schema::tenant::PluginGrantsAnswer, description = "OK")),
    security(("bearer" = []))
)]
pub async fn get_grants(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((publisher, plugin)): PathParams<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let plugin = plugin_name(&publisher, &plugin)?;
    let grants = principal.store(&state).plugin_grants(&plugin).await?;
    Ok(Json(json!({ "plugin": plugin, "grants": grants })))
}

/// Replaces what an installed plugin's nodes may do in this tenant: a
/// subset of what its installed version requests.
#[utoipa::path(
    put,
    path = "/v1/plugins/{publisher}/{plugin}/grants",
    tag = "secrets",
    summary = "Replace a plugin's grants",
    params(("publisher" = String, Path), ("plugin" = String, Path)),
    request_body = crate::store::PluginGrants,
    responses((status = 200, body = super::schema::tenant::PluginGrantsAnswer, description = "OK")),
    security(("bearer" = []))
)]
pub async fn put_grants(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((publisher, plugin)): PathParams<(String, String)>,
    JsonBody(grants): JsonBody<PluginGrants>,
) -> Result<Json<Value>, ApiError> {
    let plugin = plugin_name(&publisher, &plugin)?;
    for (index, name) in grants.secrets.iter().enumerate() {
        check_name(name).map_err(|message| {
            ApiError::bad_request("invalid_body", message).with_details(json!({"path": format!("secrets[{index}]")}))
        })?;
    }
    let store = principal.store(&state);
    crate::installs::service::check_new_grants(&store, &state.marketplace.installed, &plugin, &grants).await?;
    let store = store.audited(&principal.subject, "plugin.grant", &plugin, json!({ "grants": grants }));
    store.put_plugin_grants(&plugin, &grants).await?;
    state.plugins_changed(store.tenant()).await;
    Ok(Json(json!({ "plugin": plugin, "grants": grants })))
}
