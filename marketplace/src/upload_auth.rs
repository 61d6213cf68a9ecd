//! Who may send a publish body: the request's headers name an approved
//! publisher, the body's length and the time, signed with the publisher's
//! key. All of it is checked before a byte of the body is read, so an
//! unauthenticated upload costs the server no more than its headers and
//! what the HTTP server buffered, and authenticated ones are read a few at
//! a time (`CONCURRENT_UPLOADS`).

use axum::http::HeaderMap;

use crate::registry::{Registry, RegistryError};
use crate::signing::{PublisherKey, PublisherSecretKey};

pub const PUBLISHER_HEADER: &str = "x-trellis-publisher";
pub const TIMESTAMP_HEADER: &str = "x-trellis-timestamp";
pub const SIGNATURE_HEADER: &str = "x-trellis-upload-signature";
/// How far the publisher's clock may be from the registry's.
pub const WINDOW_SECS: i64 = 300;
/// Publish bodies read at once; others wait their turn.
pub const CONCURRENT_UPLOADS: usize = 2;

/// The headers that authorise an upload of `length` bytes.
pub fn headers(key: &PublisherSecretKey, publisher: &str, length: u64, now: i64) -> [(&'static str, String); 3] {
    [
        (PUBLISHER_HEADER, publisher.to_owned()),
        (TIMESTAMP_HEADER, now.to_string()),
        (SIGNATURE_HEADER, key.sign_upload(publisher, length, now)),
    ]
}

/// Why an upload was refused before its body was read.
#[derive(Debug, thiserror::Error)]
pub enum UploadRefused {
    #[error("the Content-Length header is missing: a publish must say its size")]
    NoLength,
    #[error("the body is {0} bytes, over the {1}-byte limit")]
    TooLarge(u64, u64),
    #[error("the {0} header is missing or malformed")]
    Header(&'static str),
    #[error("the timestamp is {0} s from the registry's clock, outside the {WINDOW_SECS} s window")]
    Stale(i64),
    #[error("the upload is not signed by an approved publisher of that name")]
    NotAuthorised,
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Checks an upload's headers; `Ok` with the length the body may have.
pub async fn check(registry: &Registry, headers: &HeaderMap, limit: u64, now: i64) -> Result<u64, UploadRefused> {
    let header = |name: &'static str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let length: u64 =
        header("content-length").ok_or(UploadRefused::NoLength)?.parse().map_err(|_| UploadRefused::NoLength)?;
    if length > limit {
        return Err(UploadRefused::TooLarge(length, limit));
    }
    let publisher =
        header(PUBLISHER_HEADER).filter(|p| !p.is_empty()).ok_or(UploadRefused::Header(PUBLISHER_HEADER))?;
    let timestamp: i64 =
        header(TIMESTAMP_HEADER).and_then(|t| t.parse().ok()).ok_or(UploadRefused::Header(TIMESTAMP_HEADER))?;
    let skew = now.saturating_sub(timestamp);
    if skew.abs() > WINDOW_SECS {
        return Err(UploadRefused::Stale(skew));
    }
    let signature = header(SIGNATURE_HEADER).ok_or(UploadRefused::Header(SIGNATURE_HEADER))?;
    let found = registry.publisher(publisher).await?;
    let key = found
        .filter(|p| p.approved_at.is_some())
        .and_then(|p| PublisherKey::from_text(&p.public_key).ok())
        .ok_or(UploadRefused::NotAuthorised)?;
    key.verify_upload(publisher, length, timestamp, signature).map_err(|_| UploadRefused::NotAuthorised)?;
    Ok(length)
}
