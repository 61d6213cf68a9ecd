//! The visual builder: the page built from `engine/web/` (`npm run build`),
//! embedded in the binary, so `trellis serve` needs neither Node nor a CDN.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::params::PathParams;

#[derive(rust_embed::Embed)]
#[folder = "web/dist/"]
struct Assets;

/// Only what the page itself needs: its own scripts and styles (React Flow
/// positions nodes with inline styles), images as data URLs, the API on the
/// same origin; never framed.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
                      object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

fn serve(path: &str) -> Response {
    let Some(file) = Assets::get(path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut response = file.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(kind) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, kind);
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Asset names carry their content hash; the page itself must not be cached.
    let cache = if path.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// `GET /`: the page.
pub async fn index() -> Response {
    serve("index.html")
}

/// `GET /assets/{file}`: its scripts and styles.
pub async fn asset(PathParams(file): PathParams<String>) -> Response {
    if file.contains("..") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    serve(&format!("assets/{file}"))
}
