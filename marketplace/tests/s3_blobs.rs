//! Blobs through the S3 client, against a fake S3-compatible server on
//! loopback that keeps objects in memory and speaks the wire format the
//! client uses (path-style PUT and GET, ETag and Last-Modified headers,
//! `NoSuchKey` XML errors).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use trellis_marketplace::{BlobStore, ComponentDigest};

type Objects = Arc<Mutex<HashMap<String, Bytes>>>;

fn etag(body: &[u8]) -> String {
    format!("\"{}\"", ComponentDigest::of(body).to_string().trim_start_matches("sha256:"))
}

async fn put_object(
    State(objects): State<Objects>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Requests are signed (SigV4); a request without a signature is not S3.
    if !headers.get(header::AUTHORIZATION).is_some_and(|v| v.as_bytes().starts_with(b"AWS4-HMAC-SHA256")) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let tag = etag(&body);
    objects.lock().unwrap().insert(key, body);
    (StatusCode::OK, [(header::ETAG, tag)]).into_response()
}

async fn get_object(State(objects): State<Objects>, Path(key): Path<String>) -> Response {
    match objects.lock().unwrap().get(&key).cloned() {
        Some(body) => (
            StatusCode::OK,
            [
                (header::ETAG, etag(&body)),
                (header::LAST_MODIFIED, "Sun, 22 Nov 2026 06:00:00 GMT".to_owned()),
                (header::CONTENT_LENGTH, body.len().to_string()),
            ],
            body,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "application/xml")],
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
        )
            .into_response(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn blobs_live_in_an_s3_compatible_store_by_configuration() {
    let objects: Objects = Arc::default();
    let app = Router::new().route("/{*key}", put(put_object).get(get_object)).with_state(objects.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let options = [
        ("aws_endpoint", endpoint.as_str()),
        ("aws_region", "us-east-1"),
        ("aws_access_key_id", "test-key"),
        ("aws_secret_access_key", "test-secret"),
        ("aws_allow_http", "true"),
        ("aws_virtual_hosted_style_request", "false"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let blobs = BlobStore::from_url("s3://plugins/blobs", options).expect("s3 store");
    let component = Bytes::from_static(b"\0asm a published component");
    let digest = blobs.put(component.clone()).await.expect("put");
    let stored: Vec<String> = objects.lock().unwrap().keys().cloned().collect();
    assert_eq!(stored, [format!("plugins/blobs/sha256/{}", hex_of(&digest))], "content-addressed under the prefix");
    assert_eq!(blobs.get(&digest).await.expect("get"), Some(component));
    assert_eq!(blobs.get(&ComponentDigest::of(b"missing")).await.expect("get"), None);
}

fn hex_of(digest: &ComponentDigest) -> String {
    digest.to_string().trim_start_matches("sha256:").to_owned()
}
