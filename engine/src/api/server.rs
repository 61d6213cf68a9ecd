//! Server-level routes and middleware: liveness, the catalog, Prometheus
//! metrics, and the layers every request passes (request id, tracing).

use axum::http::{HeaderName, Request};

use super::AppState;
use super::error::ApiError;
use super::principal::Principal;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "server",
    summary = "Liveness",
    responses((status = 200, body = super::schema::tenant::Health, description = "OK"))
)]
pub async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Node kinds usable in the tenant, with their schemas: its installed
/// plugins' kinds and the built-in nodes.
#[utoipa::path(
    get,
    path = "/v1/catalog",
    tag = "workflows",
    summary = "Node kinds usable in the tenant, with their schemas",
    responses((status = 200, body = super::schema::tenant::Catalog, description = "OK")),
    security(("bearer" = []))
)]
pub async fn catalog(
    axum::extract::State(state): axum::extract::State<AppState>,
    principal: Principal,
) -> Result<super::json::Json<serde_json::Value>, ApiError> {
    let catalog = state.engine.catalog(&principal.store(&state)).await?;
    let plugins: Vec<serde_json::Value> = catalog
        .plugins()
        .iter()
        .map(|p| serde_json::json!({"plugin": p.name, "version": p.version.to_string(), "kinds": p.kinds}))
        .collect();
    let builtins: Vec<serde_json::Value> =
        crate::workflow::Builtin::ALL.into_iter().map(crate::workflow::builtin_kinds::describe).collect();
    Ok(super::json::Json(serde_json::json!({ "plugins": plugins, "builtins": builtins })))
}

/// Prometheus exposition (unauthenticated, like most exporters: bind the
/// server to a network only the operator's scraper reaches, or filter the
/// path at the proxy).
pub async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
        state.engine.metrics_text(),
    )
}

/// The span of one request. Every request gets an `x-request-id` (the
/// caller's, or a new UUID; see `app`), echoed in the answer and carried by
/// this span, so the log lines of a failed request can be found from what
/// the client saw.
pub fn span(request: &Request<axum::body::Body>) -> tracing::Span {
    let id = request.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
}
