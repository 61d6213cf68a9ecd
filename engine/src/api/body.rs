//! Request bodies: size-capped before parsing, JSON errors with the path
//! where they occur, in the API's error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::ApiError;

/// Largest JSON body accepted by any route.
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        parse(&bytes).map(JsonBody)
    }
}

/// The body's bytes, refused past [`MAX_BODY_BYTES`] without reading on.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await.map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("body is over {MAX_BODY_BYTES} bytes"),
            )
        })?;
        Ok(RawBody(bytes))
    }
}

pub fn parse<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| ApiError::bad_request("invalid_utf8", format!("body is not UTF-8: {e}")))?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        ApiError::bad_request("invalid_body", e.inner().to_string()).with_details(json!({ "path": path }))
    })
}
