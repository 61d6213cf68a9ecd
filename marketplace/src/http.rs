//! The registry's HTTP API under `/v1/marketplace`:
//! served by `trellis serve` beside the tenant API, or alone by
//! `trellis marketplace serve`. Reading is open to anyone; writing is
//! authorised by the publisher's Ed25519 signature (publish, yank), and
//! publishers are approved by the operator, never through this API.
//!
//! Errors have the engine's shape: `{"error":{"code","message","details"}}`.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::publish::Upload;
use crate::registry::{PluginSummary, Publisher, Registry, RegistryError, Search, VersionDetail, VersionSummary};
use crate::signing::ComponentDigest;

/// Bodies other than a publish: a name, a key, a signature.
const MAX_SMALL_BODY: usize = 16 << 10;

/// The registry's routes, for any router state the registry can be taken
/// from.
pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Registry>: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(list, publish))
        .routes(routes!(versions))
        .routes(routes!(version))
        .routes(routes!(yank))
        .routes(routes!(register_publisher))
        .routes(routes!(publisher))
        .routes(routes!(blob))
}

/// The registry on its own (`trellis marketplace serve`).
pub fn app(registry: Arc<Registry>) -> axum::Router {
    let (router, _) = routes::<Arc<Registry>>().split_for_parts();
    router
        .fallback(|| async { error(StatusCode::NOT_FOUND, "not_found", "route not found", Value::Null) })
        .with_state(registry)
}

fn error(status: StatusCode, code: &str, message: impl Into<String>, details: Value) -> Response {
    (status, Json(json!({"error": {"code": code, "message": message.into(), "details": details}}))).into_response()
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        match self {
            RegistryError::Refused(refusal) => error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "publish_refused",
                refusal.to_string(),
                json!({"check": refusal.check.as_str()}),
            ),
            RegistryError::NotFound(what) => {
                error(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"), Value::Null)
            }
            RegistryError::Conflict(message) => error(StatusCode::CONFLICT, "conflict", message, Value::Null),
            RegistryError::Invalid { field, message } => {
                error(StatusCode::BAD_REQUEST, "invalid_body", format!("{field}: {message}"), json!({"path": field}))
            }
            RegistryError::BadSignature(message) => error(StatusCode::FORBIDDEN, "bad_signature", message, Value::Null),
            internal => {
                tracing::error!(error = %internal, "marketplace internal error");
                error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error", Value::Null)
            }
        }
    }
}

/// Reads a body up to `limit` bytes and parses it, naming where it is wrong.
async fn json_body<T: DeserializeOwned>(body: Body, limit: usize) -> Result<T, Response> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is over the {limit}-byte limit"),
            json!({"limit": limit}),
        )
    })?;
    let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        error(StatusCode::BAD_REQUEST, "invalid_body", format!("at `{path}`: {}", e.inner()), json!({"path": path}))
    })
}

fn plugin_name(publisher: &str, plugin: &str) -> String {
    format!("{publisher}/{plugin}")
}

fn parse_version(text: &str) -> Result<semver::Version, RegistryError> {
    text.parse().map_err(|e| RegistryError::Invalid { field: "version", message: format!("`{text}`: {e}") })
}

/// Plugins matching every filter given, each at its newest version that is
/// not yanked.
#[utoipa::path(
    get,
    path = "/v1/marketplace/plugins",
    tag = "marketplace",
    params(Search),
    responses((status = 200, body = PluginList, description = "Matching plugins, by name")),
    extensions(("x-required-role" = json!("none")))
)]
async fn list(
    State(registry): State<Arc<Registry>>,
    Query(search): Query<Search>,
) -> Result<Json<PluginList>, RegistryError> {
    Ok(Json(PluginList { plugins: registry.search(&search).await? }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct PluginList {
    plugins: Vec<PluginSummary>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct VersionList {
    /// `publisher/plugin`.
    name: String,
    /// Newest first.
    versions: Vec<VersionSummary>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    /// `trellis-plugin.toml`, exactly as signed.
    manifest: String,
    /// The component, base64.
    component: String,
    /// `ed25519:<base64>` over the component's SHA-256 and the manifest.
    signature: String,
}

/// Publishes a signed package: checked in order (size, manifest,
/// signature, version, world, describe); a refusal names the check.
/// The headers must authorise the upload (`upload_auth`) before the body
/// is read.
#[utoipa::path(
    post,
    path = "/v1/marketplace/plugins",
    tag = "marketplace",
    request_body = PublishBody,
    responses(
        (status = 201, body = VersionDetail, description = "Published"),
        (status = 401, description = "The upload headers do not name an approved publisher's signature"),
        (status = 413, description = "Content-Length is over the limit"),
        (status = 422, description = "Refused: `details.check` names the failed check")
    ),
    extensions(("x-required-role" = json!("none")))
)]
async fn publish(
    State(registry): State<Arc<Registry>>,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<VersionDetail>), Response> {
    use crate::upload_auth::{self, UploadRefused};
    static UPLOADS: std::sync::LazyLock<tokio::sync::Semaphore> =
        std::sync::LazyLock::new(|| tokio::sync::Semaphore::new(upload_auth::CONCURRENT_UPLOADS));
    let limit = registry.max_publish_body() as u64;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let length = upload_auth::check(&registry, &headers, limit, now).await.map_err(|refused| match refused {
        UploadRefused::Registry(e) => e.into_response(),
        UploadRefused::TooLarge(_, limit) => {
            error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", refused.to_string(), json!({"limit": limit}))
        }
        UploadRefused::NoLength => {
            error(StatusCode::LENGTH_REQUIRED, "length_required", refused.to_string(), Value::Null)
        }
        other => error(StatusCode::UNAUTHORIZED, "unauthenticated_upload", other.to_string(), Value::Null),
    })?;
    let _permit = UPLOADS
        .acquire()
        .await
        .map_err(|_| error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "shutting down", Value::Null))?;
    let body: PublishBody = json_body(body, usize::try_from(length).unwrap_or(usize::MAX)).await?;
    let component = base64::engine::general_purpose::STANDARD.decode(body.component.trim()).map_err(|e| {
        RegistryError::Invalid { field: "component", message: format!("not base64: {e}") }.into_response()
    })?;
    let upload = Upload { component: &component, manifest: body.manifest.as_bytes(), signature: &body.signature };
    let detail = registry.publish(&upload).await.map_err(IntoResponse::into_response)?;
    Ok((StatusCode::CREATED, Json(detail)))
}

/// Every version of a plugin, newest first.
#[utoipa::path(
    get,
    path = "/v1/marketplace/plugins/{publisher}/{plugin}",
    tag = "marketplace",
    params(("publisher" = String, Path), ("plugin" = String, Path)),
    responses((status = 200, body = VersionList, description = "Versions, newest first")),
    extensions(("x-required-role" = json!("none")))
)]
async fn versions(
    State(registry): State<Arc<Registry>>,
    Path((publisher, plugin)): Path<(String, String)>,
) -> Result<Json<VersionList>, RegistryError> {
    let name = plugin_name(&publisher, &plugin);
    let versions = registry.versions(&name).await?;
    Ok(Json(VersionList { name, versions }))
}

/// One version: its manifest, capabilities, node kinds with their schemas,
/// digest and signature.
#[utoipa::path(
    get,
    path = "/v1/marketplace/plugins/{publisher}/{plugin}/{version}",
    tag = "marketplace",
    params(("publisher" = String, Path), ("plugin" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = VersionDetail, description = "The version")),
    extensions(("x-required-role" = json!("none")))
)]
async fn version(
    State(registry): State<Arc<Registry>>,
    Path((publisher, plugin, version)): Path<(String, String, String)>,
) -> Result<Json<VersionDetail>, RegistryError> {
    Ok(Json(registry.version(&plugin_name(&publisher, &plugin), &parse_version(&version)?).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct YankBody {
    /// The publisher's signature over the name and version (`trellis plugin yank`).
    signature: String,
}

/// Yanks a version: no new installs; installs that have it keep working.
#[utoipa::path(
    post,
    path = "/v1/marketplace/plugins/{publisher}/{plugin}/{version}/yank",
    tag = "marketplace",
    params(("publisher" = String, Path), ("plugin" = String, Path), ("version" = String, Path)),
    request_body = YankBody,
    responses((status = 200, body = VersionDetail, description = "Yanked")),
    extensions(("x-required-role" = json!("none")))
)]
async fn yank(
    State(registry): State<Arc<Registry>>,
    Path((publisher, plugin, version)): Path<(String, String, String)>,
    body: Body,
) -> Result<Json<VersionDetail>, Response> {
    let body: YankBody = json_body(body, MAX_SMALL_BODY).await?;
    let version = parse_version(&version).map_err(IntoResponse::into_response)?;
    let name = plugin_name(&publisher, &plugin);
    Ok(Json(registry.yank(&name, &version, &body.signature).await.map_err(IntoResponse::into_response)?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    name: String,
    /// `ed25519:<base64>`, as `trellis keygen` prints it.
    public_key: String,
}

/// Registers a publisher and its key, pending the operator's approval
/// (`trellis marketplace approve NAME`).
#[utoipa::path(
    post,
    path = "/v1/marketplace/publishers",
    tag = "marketplace",
    request_body = RegisterBody,
    responses(
        (status = 202, body = Publisher, description = "Registered; publishing waits for approval"),
        (status = 409, description = "The name is registered with another key")
    ),
    extensions(("x-required-role" = json!("none")))
)]
async fn register_publisher(
    State(registry): State<Arc<Registry>>,
    body: Body,
) -> Result<(StatusCode, Json<Publisher>), Response> {
    let body: RegisterBody = json_body(body, MAX_SMALL_BODY).await?;
    let publisher =
        registry.register_publisher(&body.name, &body.public_key).await.map_err(IntoResponse::into_response)?;
    Ok((StatusCode::ACCEPTED, Json(publisher)))
}

/// A publisher's key and whether the operator approved it; what a server
/// pulling from this registry verifies signatures with.
#[utoipa::path(
    get,
    path = "/v1/marketplace/publishers/{name}",
    tag = "marketplace",
    params(("name" = String, Path)),
    responses((status = 200, body = Publisher, description = "The publisher")),
    extensions(("x-required-role" = json!("none")))
)]
async fn publisher(
    State(registry): State<Arc<Registry>>,
    Path(name): Path<String>,
) -> Result<Json<Publisher>, RegistryError> {
    registry.publisher(&name).await?.map(Json).ok_or_else(|| RegistryError::NotFound(format!("publisher `{name}`")))
}

/// A published component by digest (`sha256:<hex>`).
#[utoipa::path(
    get,
    path = "/v1/marketplace/blobs/{digest}",
    tag = "marketplace",
    params(("digest" = String, Path)),
    responses((status = 200, content_type = "application/wasm", description = "The component's bytes")),
    extensions(("x-required-role" = json!("none")))
)]
async fn blob(State(registry): State<Arc<Registry>>, Path(digest): Path<String>) -> Result<Response, RegistryError> {
    let digest = ComponentDigest::parse(&digest)
        .map_err(|e| RegistryError::Invalid { field: "digest", message: e.to_string() })?;
    let bytes = registry.blob(&digest).await?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}
