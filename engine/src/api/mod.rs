//! The HTTP API. `app(state)` builds the router so tests drive
//! it with `oneshot`; `trellis serve` binds it to a socket.
//!
//! Routes: auth (login, refresh rotation, API keys), roles, tenant-bound
//! access, workflows, runs (start/wait, get, list, cancel, approve, rerun
//! from a node, live events), the catalog, API keys, members, the audit
//! log, secrets with plugin grants, plugin installs, the marketplace
//! registry (`/v1/marketplace`), webhook/cron triggers, plans and usage,
//! OpenAPI, docs page, metrics and request ids. `trellis bench api`
//! measures runs/s through webhooks and `?wait` (README "Performance").

mod access;
mod auth_routes;
mod body;
mod docs;
mod error;
mod events;
mod hook_reply;
mod hooks;
pub mod json;
mod llm_providers;
mod node_tests;
mod page;
mod params;
mod plugins;
mod principal;
mod refusal_pace;
mod runs;
mod schema;
mod secrets;
mod server;
mod sign_in_throttle;
mod usage;
mod workflows;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tower_http::LatencyUnit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::installs::Marketplace;
pub use error::ApiError;
pub use principal::Principal;

use crate::auth::TokenService;
use crate::executor::Engine;
use crate::secrets::Vault;
use crate::store::{Role, Store};

#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    pub store: Store,
    pub tokens: TokenService,
    pub vault: Vault,
    pub marketplace: Marketplace,
    /// What each webhook token starts, read once per time to live instead
    /// of twice per request; forgotten when this process changes workflows.
    hooks: crate::ttl_cache::TtlCache<String, hooks::HookTarget>,
    sign_ins: sign_in_throttle::SignInThrottle,
    /// Each tenant's API requests and webhook deliveries a second.
    request_rates: crate::quota::rate::Rates<crate::store::TenantId>,
    /// Each client address's refusals a second.
    refusals: refusal_pace::RefusalRates,
    /// Verified against when an email is unknown, to keep sign-in timing flat.
    dummy_hash: Arc<String>,
}

impl axum::extract::FromRef<AppState> for Arc<trellis_marketplace::Registry> {
    fn from_ref(state: &AppState) -> Self {
        state.marketplace.registry.clone()
    }
}

impl AppState {
    /// `vault` must be the secret source `engine` was configured with, and
    /// `marketplace.installed` the plugins it was built with, so grants and
    /// installs written here reach the nodes.
    pub fn new(
        engine: Engine,
        store: Store,
        tokens: TokenService,
        vault: Vault,
        marketplace: Marketplace,
    ) -> Result<Self, crate::auth::AuthError> {
        Ok(AppState {
            engine,
            sign_ins: sign_in_throttle::SignInThrottle::new(store.clone()),
            store,
            tokens,
            vault,
            marketplace,
            hooks: crate::ttl_cache::TtlCache::new(hooks::HOOK_CACHE_TTL),
            request_rates: crate::quota::rate::Rates::new("requests_per_second"),
            refusals: refusal_pace::refusal_rates(),
            dummy_hash: Arc::new(crate::auth::hash_password("not a real password")?),
        })
    }
}

/// How long a request over its tenant's rate waits for its turn before it
/// is refused: a client a little too fast is slowed down, a flood refused.
const REQUEST_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

impl AppState {
    /// Holds a request of `store`'s tenant to its `requests_per_second`:
    /// returns at its turn, or refuses it (429) when that is more than
    /// [`REQUEST_PATIENCE`] away.
    pub(crate) async fn pace(&self, store: &crate::store::TenantStore) -> Result<(), ApiError> {
        let plan = self.engine.plan(store).await?;
        self.request_rates
            .take(store.tenant(), plan.requests_per_second, REQUEST_PATIENCE)
            .await
            .map_err(|too_fast| ApiError::too_fast(&too_fast))
    }

    /// A workflow was saved or deleted through this process: webhooks see
    /// it from the next request on, here and on the other servers.
    pub(crate) async fn workflows_changed(&self, tenant: &crate::store::TenantId) {
        self.hooks.clear();
        self.engine.changed(tenant, crate::store::Area::Workflows).await;
    }

    /// A tenant's installs or grants changed through this process: its next
    /// run and node see them, here and on the other servers.
    pub(crate) async fn plugins_changed(&self, tenant: &crate::store::TenantId) {
        self.engine.changed(tenant, crate::store::Area::Installs).await;
        self.engine.changed(tenant, crate::store::Area::Grants).await;
    }

    /// What the API caches itself, dropped on another process's notice.
    pub fn on_notice(&self, notice: &crate::store::Notice) {
        use crate::store::{Area, Notice};
        if matches!(notice, Notice::Changed { area: Area::Workflows, .. } | Notice::Resync) {
            self.hooks.clear();
        }
    }
}

/// The cursor of the next page: the last item's id when the page is full.
pub(crate) fn next_cursor<T>(items: &[T], limit: u32, id: impl Fn(&T) -> &str) -> Option<String> {
    if items.len() == limit as usize { items.last().map(|item| id(item).to_owned()) } else { None }
}

async fn fallback() -> ApiError {
    ApiError::not_found("route")
}

/// Routes anyone may call: each checks its own credential (a password, a
/// refresh token, a webhook's token and signature), or needs none.
fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(server::healthz))
        .routes(routes!(auth_routes::login))
        .routes(routes!(auth_routes::refresh))
        .routes(routes!(hooks::receive))
}

/// The routes each role may call (and every role above it): the one place
/// a route's role is declared (the role matrix in README "HTTP API").
fn routes_for(role: Role) -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::new();
    match role {
        Role::Viewer => router
            .routes(routes!(auth_routes::me))
            .routes(routes!(auth_routes::change_password))
            .routes(routes!(workflows::list))
            .routes(routes!(workflows::validate))
            .routes(routes!(workflows::get))
            .routes(routes!(workflows::versions))
            .routes(routes!(workflows::get_version))
            .routes(routes!(runs::list))
            .routes(routes!(runs::get))
            .routes(routes!(events::stream))
            .routes(routes!(server::catalog))
            .routes(routes!(usage::plan))
            .routes(routes!(usage::usage))
            .routes(routes!(plugins::list))
            .routes(routes!(plugins::get)),
        Role::Operator => router
            .routes(routes!(workflows::triggers))
            .routes(routes!(runs::start))
            .routes(routes!(runs::cancel))
            .routes(routes!(runs::rerun))
            .routes(routes!(runs::decide)),
        Role::Editor => router
            .routes(routes!(workflows::create))
            .routes(routes!(workflows::update))
            .routes(routes!(workflows::delete))
            .routes(routes!(node_tests::test))
            .routes(routes!(secrets::list))
            .routes(routes!(secrets::put))
            .routes(routes!(secrets::delete))
            .routes(routes!(secrets::get_grants))
            .routes(routes!(llm_providers::list)),
        Role::Admin => router
            .routes(routes!(llm_providers::put))
            .routes(routes!(llm_providers::delete))
            .routes(routes!(access::list_keys))
            .routes(routes!(access::create_key))
            .routes(routes!(access::revoke_key))
            .routes(routes!(access::list_members))
            .routes(routes!(access::add_member))
            .routes(routes!(access::change_member))
            .routes(routes!(access::remove_member))
            .routes(routes!(access::audit))
            .routes(routes!(secrets::put_grants))
            .routes(routes!(plugins::install))
            .routes(routes!(plugins::upgrade))
            .routes(routes!(plugins::uninstall)),
        Role::Owner => router,
    }
}

/// Marks every operation of `router` with the role it needs, in the
/// OpenAPI document (`x-required-role`) and for the `Principal` extractor,
/// which refuses a principal below it.
fn requiring(role: Option<Role>, mut router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let name = role.map_or("none", Role::as_str);
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            let extension = utoipa::openapi::extensions::ExtensionsBuilder::new().add("x-required-role", name).build();
            operation.extensions.get_or_insert_with(Default::default).merge(extension);
        }
    }
    match role {
        // A layer needs routes to wrap (no route needs the owner yet: plan
        // changes are the operator's CLI).
        Some(_) if router.get_openapi().paths.paths.is_empty() => router,
        Some(role) => {
            router.route_layer(axum::middleware::map_request(move |mut request: axum::extract::Request| async move {
                request.extensions_mut().insert(principal::RequiredRole(role));
                request
            }))
        }
        None => router,
    }
}

/// Every documented route: handlers and their OpenAPI operations are
/// registered together, so the document cannot miss a route.
fn routes() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::with_openapi(docs::ApiDoc::openapi()).merge(requiring(None, open_routes()));
    for role in [Role::Viewer, Role::Operator, Role::Editor, Role::Admin, Role::Owner] {
        router = router.merge(requiring(Some(role), routes_for(role)));
    }
    router.merge(trellis_marketplace::http::routes())
}

/// The OpenAPI document of the API, as `/openapi.json` serves it.
pub fn openapi() -> serde_json::Value {
    let mut api = routes().split_for_parts().1;
    docs::add_error_responses(&mut api);
    document(&api)
}

/// The document as JSON, with the schemas utoipa cannot derive filled in.
fn document(api: &utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut json = serde_json::to_value(api).unwrap_or_default();
    schema::workflow::complete(&mut json);
    schema::workflow::name_operations(&mut json);
    json
}

pub fn app(state: AppState) -> Router {
    let (router, mut api) = routes().split_for_parts();
    docs::add_error_responses(&mut api);
    let docs = docs::Docs::new(&api, &document(&api));
    router
        .route("/", get(page::index))
        .route("/assets/{file}", get(page::asset))
        .route(
            "/openapi.json",
            get({
                let json = docs.json.clone();
                move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], json.to_string()) }
            }),
        )
        .route(
            "/docs",
            get({
                let page = docs.page.clone();
                move || async move { axum::response::Html(page.to_string()) }
            }),
        )
        .route("/metrics", get(server::metrics))
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(state.clone(), refusal_pace::pace_refusals))
        // The last layer added runs first: the id is set, then the span
        // opens with it, then the answer carries it back.
        .layer(PropagateRequestIdLayer::new(server::REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(server::span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Micros)),
        )
        .layer(SetRequestIdLayer::new(server::REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}
