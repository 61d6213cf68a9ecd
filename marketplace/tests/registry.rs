//! The registry through its HTTP API: publishers wait for the operator's
//! approval, publishing stores and records, search filters, details carry
//! kinds and what a puller verifies, yanks are signed. Real components from
//! `plugins/`, a real SQLite database and blob directory.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use serde_json::{Value, json};
use tower::ServiceExt;
use trellis_host_api::{Runtime, RuntimeConfig};
use trellis_marketplace::{BlobStore, ComponentDigest, PublisherKey, PublisherSecretKey, Registry};

fn manifest(name: &str, version: &str, description: &str, category: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"{version}\"\ndescription = \"{description}\"\nlicense = \"Apache-2.0\"\n\
         category = \"{category}\"\n"
    )
}

struct Market {
    registry: Arc<Registry>,
    _dir: tempfile::TempDir,
}

impl Market {
    async fn new() -> Market {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime =
            Runtime::new(RuntimeConfig { pooling: false, max_component_bytes: 2 << 20, ..RuntimeConfig::default() })
                .expect("runtime");
        let blobs = BlobStore::local(&dir.path().join("blobs")).expect("blobs");
        let registry = Registry::open(dir.path(), blobs, runtime).await.expect("registry");
        Market { registry: Arc::new(registry), _dir: dir }
    }

    async fn send(&self, method: Method, path: &str, body: Body) -> (StatusCode, Value, Vec<u8>) {
        self.send_with(method, path, &[], body).await
    }

    async fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: Body,
    ) -> (StatusCode, Value, Vec<u8>) {
        let mut request = Request::builder().method(method).uri(path).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request.body(body).expect("request");
        let response = trellis_marketplace::http::app(self.registry.clone()).oneshot(request).await.expect("answer");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), bytes)
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        let (status, json, _) = self.send(method, path, body).await;
        (status, json)
    }

    async fn publish(&self, key: &PublisherSecretKey, component: &[u8], manifest: &str) -> (StatusCode, Value) {
        let signature = key.sign(&ComponentDigest::of(component), manifest.as_bytes());
        let body = json!({
            "manifest": manifest,
            "component": base64::engine::general_purpose::STANDARD.encode(component),
            "signature": signature,
        });
        let publisher = manifest.split('"').nth(1).and_then(|name| name.split('/').next()).unwrap_or_default();
        self.upload(key, publisher, body.to_string().into_bytes()).await
    }

    /// A publish body sent with the headers that authorise it.
    async fn upload(&self, key: &PublisherSecretKey, publisher: &str, body: Vec<u8>) -> (StatusCode, Value) {
        let mut headers = vec![("content-length", body.len().to_string())];
        headers.extend(trellis_marketplace::upload_auth::headers(key, publisher, body.len() as u64, now()));
        let (status, json, _) =
            self.send_with(Method::POST, "/v1/marketplace/plugins", &headers, Body::from(body)).await;
        (status, json)
    }

    async fn register(&self, name: &str, key: &PublisherSecretKey) -> (StatusCode, Value) {
        let body = json!({"name": name, "public_key": key.public_key().to_text()});
        self.call(Method::POST, "/v1/marketplace/publishers", Some(body)).await
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn names(listing: &Value) -> Vec<String> {
    listing["plugins"]
        .as_array()
        .expect("plugins")
        .iter()
        .map(|p| format!("{}@{}", p["name"].as_str().unwrap_or(""), p["latest_version"].as_str().unwrap_or("")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn publishers_publish_once_approved_and_plugins_are_found_detailed_pulled_and_yanked() {
    let market = Market::new().await;
    let acme = PublisherSecretKey::generate();
    let echo = std::fs::read(trellis_plugin_artifacts::ECHO).expect("echo guest");
    let capabilities = std::fs::read(trellis_plugin_artifacts::CAPABILITIES).expect("capabilities guest");

    // Registered but not approved: publishing is refused by the signature check.
    let (status, registered) = market.register("acme", &acme).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{registered}");
    assert_eq!(registered["approved_at"], Value::Null);
    // Over HTTP the upload is refused from its headers, before its body is
    // read; the registry's own check says why.
    let (status, refusal) =
        market.publish(&acme, &echo, &manifest("acme/echo", "1.0.0", "Echoes input", "utility")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refusal}");
    assert_eq!(refusal["error"]["code"], "unauthenticated_upload");

    // The name is the first registrant's until the operator decides.
    let (status, conflict) = market.register("acme", &PublisherSecretKey::generate()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    let (status, bad) =
        market.call(Method::POST, "/v1/marketplace/publishers", Some(json!({"name": "x", "public_key": "nope"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["error"]["details"]["path"], "public_key");

    market.registry.approve_publisher("acme").await.expect("operator approves");
    let globex = PublisherSecretKey::generate();
    market.register("globex", &globex).await;
    market.registry.approve_publisher("globex").await.expect("operator approves");

    for version in ["1.0.0", "1.1.0"] {
        let (status, published) =
            market.publish(&acme, &echo, &manifest("acme/echo", version, "Echoes input back", "utility")).await;
        assert_eq!(status, StatusCode::CREATED, "{published}");
        assert_eq!(published["version"], version);
    }
    let (status, published) = market
        .publish(
            &globex,
            &capabilities,
            &manifest("globex/probe", "0.3.0", "Probes the sandbox's ECHO limits", "security"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{published}");

    // Immutable versions.
    let (status, refusal) =
        market.publish(&acme, &echo, &manifest("acme/echo", "1.0.0", "Another build", "utility")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refusal}");
    assert_eq!(refusal["error"]["details"]["check"], "version");

    // Search by words (name or description, any case), category, publisher.
    let search = |query: &str| {
        let market = &market;
        let path = format!("/v1/marketplace/plugins{query}");
        async move {
            let (status, listing) = market.call(Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{listing}");
            names(&listing)
        }
    };
    assert_eq!(search("").await, ["acme/echo@1.1.0", "globex/probe@0.3.0"]);
    assert_eq!(search("?q=echo").await, ["acme/echo@1.1.0", "globex/probe@0.3.0"], "description matches too");
    assert_eq!(search("?q=BACK").await, ["acme/echo@1.1.0"]);
    assert_eq!(search("?category=security").await, ["globex/probe@0.3.0"]);
    assert_eq!(search("?publisher=acme&category=utility").await, ["acme/echo@1.1.0"]);
    assert_eq!(search("?q=%25").await, Vec::<String>::new(), "`%` is a character, not a wildcard");
    assert_eq!(search("?q=_").await, Vec::<String>::new(), "`_` is a character, not a wildcard");
    assert_eq!(search("?limit=1").await, ["acme/echo@1.1.0"]);
    let (status, _) = market.call(Method::GET, "/v1/marketplace/plugins?category=toys", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Versions, newest first; a detail carries kinds with their schemas.
    let (status, versions) = market.call(Method::GET, "/v1/marketplace/plugins/acme/echo", None).await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    let listed: Vec<&str> =
        versions["versions"].as_array().expect("versions").iter().filter_map(|v| v["version"].as_str()).collect();
    assert_eq!(listed, ["1.1.0", "1.0.0"]);
    let (status, detail) = market.call(Method::GET, "/v1/marketplace/plugins/acme/echo/1.0.0", None).await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let kinds = detail["kinds"].as_array().expect("kinds");
    assert!(!kinds.is_empty());
    assert!(kinds.iter().all(|k| k["config_schema"].is_object() && k["name"].is_string()), "{detail}");
    assert_eq!(detail["digest"], ComponentDigest::of(&echo).to_string());

    // What a puller does: fetch the blob by digest, check it, verify the
    // signature with the publisher's registered key.
    let (status, _, blob) = market
        .send(Method::GET, &format!("/v1/marketplace/blobs/{}", detail["digest"].as_str().unwrap_or("")), Body::empty())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(blob, echo);
    let (_, publisher) = market.call(Method::GET, "/v1/marketplace/publishers/acme", None).await;
    let key = PublisherKey::from_text(publisher["public_key"].as_str().unwrap_or("")).expect("key");
    key.verify(
        &ComponentDigest::of(&blob),
        detail["manifest"].as_str().unwrap_or("").as_bytes(),
        detail["signature"].as_str().unwrap_or(""),
    )
    .expect("the signature verifies on pull");

    // Yanks are signed by the publisher; a yanked version is no longer the
    // one listed, but it stays readable for the installs that have it.
    let v110: semver::Version = "1.1.0".parse().expect("version");
    let (status, refused) = market
        .call(
            Method::POST,
            "/v1/marketplace/plugins/acme/echo/1.1.0/yank",
            Some(json!({"signature": globex.sign_yank("acme/echo", &v110)})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, yanked) = market
        .call(
            Method::POST,
            "/v1/marketplace/plugins/acme/echo/1.1.0/yank",
            Some(json!({"signature": acme.sign_yank("acme/echo", &v110)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{yanked}");
    assert!(yanked["yanked_at"].as_str().is_some_and(|at| at.ends_with('Z')), "{yanked}");
    assert_eq!(search("?publisher=acme").await, ["acme/echo@1.0.0"]);
    let (status, detail) = market.call(Method::GET, "/v1/marketplace/plugins/acme/echo/1.1.0", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(detail["yanked_at"].as_str().is_some_and(|at| at.ends_with('Z')), "{detail}");

    // Unknown things are 404; malformed ones 400.
    for path in [
        "/v1/marketplace/plugins/acme/nope",
        "/v1/marketplace/plugins/acme/echo/9.9.9",
        "/v1/marketplace/publishers/nobody",
    ] {
        let (status, _) = market.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) =
        market.call(Method::GET, &format!("/v1/marketplace/blobs/{}", ComponentDigest::of(b"none")), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for path in ["/v1/marketplace/blobs/sha256:zz", "/v1/marketplace/plugins/acme/echo/one"] {
        let (status, _) = market.call(Method::GET, path, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_bodies_are_capped_before_parsing_and_named_when_wrong() {
    let market = Market::new().await;
    let acme = PublisherSecretKey::generate();
    market.register("acme", &acme).await;
    market.registry.approve_publisher("acme").await.expect("approve");
    let limit = market.registry.max_publish_body() as u64;

    // Refused from the headers alone: the body is never read.
    let path = "/v1/marketplace/plugins";
    let unread = || Body::from_stream(futures::stream::pending::<Result<Vec<u8>, std::io::Error>>());
    let mut too_large = vec![("content-length", (limit + 1).to_string())];
    too_large.extend(trellis_marketplace::upload_auth::headers(&acme, "acme", limit + 1, now()));
    let (status, answer, _) = market.send_with(Method::POST, path, &too_large, unread()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    let (status, answer, _) = market.send_with(Method::POST, path, &[], unread()).await;
    assert_eq!(status, StatusCode::LENGTH_REQUIRED, "{answer}");
    let stranger = PublisherSecretKey::generate();
    let mut forged = vec![("content-length", "100".to_owned())];
    forged.extend(trellis_marketplace::upload_auth::headers(&stranger, "acme", 100, now()));
    let mut stale = vec![("content-length", "100".to_owned())];
    stale.extend(trellis_marketplace::upload_auth::headers(&acme, "acme", 100, now() - 3600));
    let mut other_length = vec![("content-length", "101".to_owned())];
    other_length.extend(trellis_marketplace::upload_auth::headers(&acme, "acme", 100, now()));
    let unsigned = vec![("content-length", "100".to_owned())];
    for headers in [forged, stale, other_length, unsigned] {
        let (status, answer, _) = market.send_with(Method::POST, path, &headers, unread()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["error"]["code"], "unauthenticated_upload");
    }

    // Authorised bodies are parsed, and named where wrong.
    for body in [
        json!({"manifest": "", "component": 7, "signature": ""}),
        json!({"manifest": "", "component": "!!", "signature": ""}),
    ] {
        let (status, answer) = market.upload(&acme, "acme", body.to_string().into_bytes()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert_eq!(answer["error"]["details"]["path"], "component");
    }

    // Nothing was stored by any of it.
    let (_, listing) = market.call(Method::GET, "/v1/marketplace/plugins", None).await;
    assert_eq!(listing["plugins"], json!([]));
}
