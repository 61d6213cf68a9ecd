//! The HTTP API (DESIGN §9). `app(state)` builds the router so tests drive
//! it with `oneshot`; `trellis serve` binds it to a socket.
//!
//! Status of issue 4: auth (login, refresh rotation, API keys), roles,
//! tenant-bound access, workflows, runs (start/wait, get, list, cancel,
//! approve, rerun from a node, live events), the catalog, API keys, members,
//! the audit log, secrets with plugin grants, webhook/cron triggers, plans
//! and usage are here; OpenAPI and metrics are not yet.

mod access;
mod auth_routes;
mod body;
mod error;
mod events;
mod hooks;
mod principal;
mod runs;
mod secrets;
mod usage;
mod workflows;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::routing::{get, post};

pub use error::ApiError;
pub use principal::Principal;

use crate::auth::TokenService;
use crate::executor::Engine;
use crate::secrets::Vault;
use crate::store::Store;
use crate::triggers::webhook::ReplayGuard;

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub store: Store,
    pub tokens: TokenService,
    pub vault: Vault,
    replays: ReplayGuard,
    login_attempts: Arc<Mutex<HashMap<String, (Instant, u32)>>>,
    /// Verified against when an email is unknown, to keep sign-in timing flat.
    dummy_hash: Arc<String>,
}

impl AppState {
    /// `vault` must be the secret source `engine` was configured with, so
    /// grants written here reach the nodes.
    pub fn new(
        engine: Engine,
        store: Store,
        tokens: TokenService,
        vault: Vault,
    ) -> Result<Self, crate::auth::AuthError> {
        Ok(AppState {
            engine,
            store,
            tokens,
            vault,
            replays: ReplayGuard::default(),
            login_attempts: Arc::default(),
            dummy_hash: Arc::new(crate::auth::hash_password("not a real password")?),
        })
    }
}

/// The cursor of the next page: the last item's id when the page is full.
pub(crate) fn next_cursor<T>(items: &[T], limit: u32, id: impl Fn(&T) -> &str) -> Option<String> {
    if items.len() == limit as usize { items.last().map(|item| id(item).to_owned()) } else { None }
}

async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Node kinds usable in the tenant, with their schemas. (Until the
/// marketplace lands every tenant has the first-party plugins.)
async fn catalog(
    axum::extract::State(state): axum::extract::State<AppState>,
    principal: Principal,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    principal.require(crate::store::Role::Viewer)?;
    let plugins: Vec<serde_json::Value> = state
        .engine
        .catalog()
        .plugins()
        .iter()
        .map(|p| serde_json::json!({"plugin": p.name, "version": p.version.to_string(), "kinds": p.kinds}))
        .collect();
    Ok(axum::Json(serde_json::json!({ "plugins": plugins })))
}

async fn fallback() -> ApiError {
    ApiError::not_found("route")
}

pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/auth/login", post(auth_routes::login))
        .route("/v1/auth/refresh", post(auth_routes::refresh))
        .route("/v1/me", get(auth_routes::me))
        .route("/v1/workflows", get(workflows::list).post(workflows::create))
        .route("/v1/workflows/validate", post(workflows::validate))
        .route("/v1/workflows/{id}", get(workflows::get).put(workflows::update).delete(workflows::delete))
        .route("/v1/workflows/{id}/versions", get(workflows::versions))
        .route("/v1/workflows/{id}/triggers", get(workflows::triggers))
        .route("/v1/workflows/{id}/versions/{version}", get(workflows::get_version))
        .route("/v1/workflows/{id}/runs", post(runs::start))
        .route("/v1/runs", get(runs::list))
        .route("/v1/runs/{id}", get(runs::get))
        .route("/v1/runs/{id}/cancel", post(runs::cancel))
        .route("/v1/runs/{id}/rerun", post(runs::rerun))
        .route("/v1/runs/{id}/events", get(events::stream))
        .route("/v1/runs/{id}/approvals/{node}", post(runs::decide))
        .route("/v1/catalog", get(catalog))
        .route("/v1/api-keys", get(access::list_keys).post(access::create_key))
        .route("/v1/api-keys/{id}", axum::routing::delete(access::revoke_key))
        .route("/v1/members", get(access::list_members).post(access::add_member))
        .route("/v1/audit", get(access::audit))
        .route("/v1/plan", get(usage::plan))
        .route("/v1/usage", get(usage::usage))
        .route("/v1/secrets", get(secrets::list))
        .route("/v1/secrets/{name}", axum::routing::put(secrets::put).delete(secrets::delete))
        .route("/v1/plugins/{publisher}/{plugin}/grants", get(secrets::get_grants).put(secrets::put_grants))
        .route("/hooks/{token}", post(hooks::receive))
        .fallback(fallback)
        .with_state(state)
}
