//! `/v1/plugins`: the plugins installed in the tenant.
//! Installing, upgrading and uninstalling need admin; reading is open to
//! viewers. Grants are written through `/v1/plugins/{…}/grants`.

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
use super::secrets::plugin_name;
use crate::installs::{InstallError, service};
use crate::store::PluginGrants;
use crate::store::{TenantDocuments, TenantStoreExt};

impl From<InstallError> for ApiError {
    fn from(error: InstallError) -> Self {
        let message = error.to_string();
        match error {
            InstallError::Invalid { field, .. } => {
                ApiError::bad_request("invalid_body", message).with_details(json!({ "path": field }))
            }
            InstallError::UnknownPlugin(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            InstallError::NotInstalled(_) => ApiError::new(StatusCode::NOT_FOUND, "not_installed", message),
            InstallError::NoMatchingVersion { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_matching_version", message)
            }
            InstallError::AlreadyInstalled { .. } => ApiError::new(StatusCode::CONFLICT, "already_installed", message),
            InstallError::Grant(grant) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "grant_exceeds_request", message)
                    .with_details(json!({ "path": format!("grants.{}", grant.field) }))
            }
            InstallError::InUse { workflows, .. } => ApiError::new(StatusCode::CONFLICT, "plugin_in_use", message)
                .with_details(json!({ "workflows": workflows })),
            InstallError::Source(trellis_marketplace::source::SourceError::Verification(_)) => {
                tracing::error!(%message, "a plugin failed verification");
                ApiError::new(StatusCode::BAD_GATEWAY, "plugin_unverified", message)
            }
            InstallError::Source(_) | InstallError::Plugin(_) => {
                tracing::error!(%message, "the marketplace is unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "marketplace_unavailable",
                    "the marketplace is unavailable right now",
                )
            }
            InstallError::Store(store) => ApiError::from(store),
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallRequest {
    /// `publisher/plugin`.
    name: String,
    /// A semver range (`^1.2`, `=1.2.3`); the newest version in it that is
    /// not yanked is installed. Any version when left out.
    #[serde(default)]
    version: Option<String>,
    /// What the plugin's nodes may do: a subset of what it requests.
    #[serde(default)]
    grants: PluginGrants,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpgradeRequest {
    /// A new range; the install's own range when left out.
    #[serde(default)]
    version: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/plugins",
    tag = "plugins",
    summary = "Plugins installed in the tenant, with their grants",
    responses((status = 200, body = super::schema::tenant::InstalledList, description = "OK")),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let installs = principal.store(&state).installs_with_grants().await?;
    let plugins: Vec<Value> =
        installs.into_iter().map(|(install, grants)| json!({ "install": install, "grants": grants })).collect();
    Ok(Json(json!({ "plugins": plugins })))
}

#[utoipa::path(
    post,
    path = "/v1/plugins",
    tag = "plugins",
    summary = "Install a plugin version range with a grant",
    request_body = InstallRequest,
    responses((status = 201, body = super::schema::tenant::Installed, description = "Installed")),
    security(("bearer" = []))
)]
pub async fn install(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(request): JsonBody<InstallRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let details = json!({"grants": request.grants});
    let store = principal.store(&state).audited(&principal.subject, "plugin.install", &request.name, details);
    let range = request.version.as_deref().unwrap_or("*");
    let install = service::install(&store, &state.marketplace.installed, &request.name, range, &request.grants).await?;
    state.plugins_changed(store.tenant()).await;
    Ok((StatusCode::CREATED, Json(json!({ "install": install, "grants": request.grants }))))
}

#[utoipa::path(
    get,
    path = "/v1/plugins/{publisher}/{plugin}",
    tag = "plugins",
    summary = "One installed plugin, with its grants",
    params(("publisher" = String, Path), ("plugin" = String, Path)),
    responses((status = 200, body = super::schema::tenant::Installed, description = "OK")),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((publisher, plugin)): PathParams<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let name = plugin_name(&publisher, &plugin)?;
    let store = principal.store(&state);
    let install = store.install(&name).await?.ok_or_else(|| InstallError::NotInstalled(name.clone()))?;
    let grants = store.plugin_grants(&name).await?;
    Ok(Json(json!({ "install": install, "grants": grants })))
}

#[utoipa::path(
    post,
    path = "/v1/plugins/{publisher}/{plugin}/upgrade",
    tag = "plugins",
    summary = "Move an install to the newest version in its range (or a new range)",
    params(("publisher" = String, Path), ("plugin" = String, Path)),
    request_body = UpgradeRequest,
    responses((status = 200, body = super::schema::tenant::Upgraded, description = "Upgraded (or already the newest)")),
    security(("bearer" = []))
)]
pub async fn upgrade(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((publisher, plugin)): PathParams<(String, String)>,
    JsonBody(request): JsonBody<UpgradeRequest>,
) -> Result<Json<Value>, ApiError> {
    let name = plugin_name(&publisher, &plugin)?;
    let store = principal.store(&state);
    let from = store.install(&name).await?.map(|current| current.version);
    let store = store.audited(&principal.subject, "plugin.upgrade", &name, json!({ "from": from }));
    let (from, install) =
        service::upgrade(&store, &state.marketplace.installed, &name, request.version.as_deref()).await?;
    state.plugins_changed(store.tenant()).await;
    Ok(Json(json!({ "from": from, "install": install })))
}

#[utoipa::path(
    delete,
    path = "/v1/plugins/{publisher}/{plugin}",
    tag = "plugins",
    summary = "Uninstall a plugin (refused while a workflow uses it)",
    params(("publisher" = String, Path), ("plugin" = String, Path)),
    responses((status = 204, description = "Uninstalled"), (status = 409, description = "Used by the workflows named")),
    security(("bearer" = []))
)]
pub async fn uninstall(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((publisher, plugin)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let name = plugin_name(&publisher, &plugin)?;
    let store = principal.store(&state).audited(&principal.subject, "plugin.uninstall", &name, Value::Null);
    service::uninstall(&store, &name).await?;
    state.plugins_changed(store.tenant()).await;
    Ok(StatusCode::NO_CONTENT)
}
