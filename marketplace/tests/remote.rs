//! Pulling from a central registry over HTTP: a real registry served on
//! loopback hands out verified components; a registry that serves other
//! bytes or a signature its publisher did not make is refused, and so is
//! a registry that hands out another key for a publisher already pulled.

use std::sync::Arc;

use axum::Json;
use axum::extract::Path;
use axum::routing::get;
use trellis_host_api::{Runtime, RuntimeConfig};
use trellis_marketplace::key_pins::KeyPins;
use trellis_marketplace::publish::Upload;
use trellis_marketplace::registry::{Publisher, VersionDetail};
use trellis_marketplace::remote::RemoteRegistry;
use trellis_marketplace::source::{PluginSource, SourceError};
use trellis_marketplace::{BlobStore, ComponentDigest, PublisherSecretKey, Registry};

const MANIFEST: &str = "name = \"acme/echo\"\nversion = \"1.0.0\"\ndescription = \"Echoes\"\n\
                        license = \"MIT\"\ncategory = \"utility\"\n";

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// Components are cached in `dir`, publishers' keys pinned in `dir/keys`.
fn remote(base: &str, dir: &std::path::Path) -> RemoteRegistry {
    let cache = BlobStore::local(dir).expect("cache");
    RemoteRegistry::new(base, cache, KeyPins::new(dir.join("keys")), 32 << 20).expect("client")
}

/// A registry that answers with what the test gives it.
fn fake_registry(detail: VersionDetail, publisher: Publisher, blob: Vec<u8>) -> axum::Router {
    axum::Router::new()
        .route("/v1/marketplace/plugins/{p}/{n}/{v}", get(move || async move { Json(detail) }))
        .route(
            "/v1/marketplace/publishers/{name}",
            get(move |Path(_name): Path<String>| async move { Json(publisher) }),
        )
        .route("/v1/marketplace/blobs/{digest}", get(move || async move { blob }))
}

#[tokio::test(flavor = "multi_thread")]
async fn components_are_pulled_by_digest_and_verified_against_the_publishers_signature() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = Runtime::new(RuntimeConfig { pooling: false, ..RuntimeConfig::default() }).expect("runtime");
    let registry = Registry::open(dir.path(), BlobStore::local(&dir.path().join("blobs")).expect("blobs"), runtime)
        .await
        .expect("registry");
    let acme = PublisherSecretKey::generate();
    registry.register_publisher("acme", &acme.public_key().to_text()).await.expect("register");
    registry.approve_publisher("acme").await.expect("approve");
    let echo = std::fs::read(trellis_plugin_artifacts::ECHO).expect("echo guest");
    let signature = acme.sign(&ComponentDigest::of(&echo), MANIFEST.as_bytes());
    registry
        .publish(&Upload { component: &echo, manifest: MANIFEST.as_bytes(), signature: &signature })
        .await
        .expect("publish");
    let registry = Arc::new(registry);
    let publisher = registry.publisher("acme").await.expect("read").expect("acme");
    let base = serve(trellis_marketplace::http::app(registry.clone())).await;

    // The real thing, over HTTP.
    let cache = tempfile::tempdir().expect("cache dir");
    let central = remote(&base, cache.path());
    let versions = central.versions("acme/echo").await.expect("versions");
    assert_eq!(versions.len(), 1);
    let detail = central.version("acme/echo", &versions[0].version).await.expect("detail");
    assert_eq!(detail.signature, signature);
    assert_eq!(central.component(&detail).await.expect("pull").as_ref(), echo.as_slice());
    assert!(matches!(central.versions("acme/none").await, Err(SourceError::NotFound(_))));
    // Pulled once, kept by digest.
    let cached = BlobStore::local(cache.path()).expect("cache").get(&ComponentDigest::of(&echo)).await.expect("read");
    assert_eq!(cached.as_deref(), Some(echo.as_slice()));

    // A registry serving other bytes under the digest.
    let mut altered = echo.clone();
    altered[100] ^= 1;
    let base = serve(fake_registry(detail.clone(), publisher.clone(), altered)).await;
    let error = remote(&base, tempfile::tempdir().expect("dir").path()).component(&detail).await.expect_err("refused");
    assert!(matches!(error, SourceError::Verification(_)), "{error}");

    // A registry whose detail's digest matches its bytes, but whose
    // signature is not the publisher's.
    let mut forged = detail.clone();
    forged.signature = PublisherSecretKey::generate().sign(&ComponentDigest::of(&echo), MANIFEST.as_bytes());
    let base = serve(fake_registry(forged.clone(), publisher.clone(), echo.clone())).await;
    let error = remote(&base, tempfile::tempdir().expect("dir").path()).component(&forged).await.expect_err("refused");
    assert!(error.to_string().contains("does not verify"), "{error}");

    // The manifest changed after signing (say, wider capabilities).
    let mut widened = detail.clone();
    widened.manifest = MANIFEST.replace("[capabilities]", "") + "\n[capabilities]\nhosts = [\"*\"]\n";
    let base = serve(fake_registry(widened.clone(), publisher.clone(), echo.clone())).await;
    let error = remote(&base, tempfile::tempdir().expect("dir").path()).component(&widened).await.expect_err("refused");
    assert!(matches!(error, SourceError::Verification(_)), "{error}");

    // The capabilities listed beside the signed manifest were rewritten.
    let mut rewritten = detail.clone();
    rewritten.capabilities.hosts = vec!["*".to_owned()];
    let base = serve(fake_registry(rewritten.clone(), publisher, echo.clone())).await;
    let error =
        remote(&base, tempfile::tempdir().expect("dir").path()).component(&rewritten).await.expect_err("refused");
    assert!(error.to_string().contains("differ from the signed manifest"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publishers_key_is_pinned_at_the_first_pull() {
    let echo = std::fs::read(trellis_plugin_artifacts::ECHO).expect("echo guest");
    let digest = ComponentDigest::of(&echo);
    // A whole answer that is consistent in itself: the detail, the key it
    // verifies with, the bytes. Only the key decides whether it is trusted.
    let answer = |key: &PublisherSecretKey, component: &[u8]| {
        let signature = key.sign(&ComponentDigest::of(component), MANIFEST.as_bytes());
        let manifest = trellis_marketplace::Manifest::parse(MANIFEST.as_bytes()).expect("manifest");
        let detail: VersionDetail = serde_json::from_value(serde_json::json!({
            "name": "acme/echo", "version": "1.0.0", "publisher": "acme", "description": "Echoes",
            "category": "utility", "license": "MIT", "capabilities": manifest.capabilities,
            "limits": manifest.limits, "digest": ComponentDigest::of(component).to_string(),
            "size": component.len(), "manifest": MANIFEST, "signature": signature, "kinds": [],
            "published_at": 0, "yanked_at": null,
        }))
        .expect("detail");
        let publisher: Publisher = serde_json::from_value(serde_json::json!({
            "name": "acme", "public_key": key.public_key().to_text(), "registered_at": 0, "approved_at": 0,
        }))
        .expect("publisher");
        (detail, publisher)
    };
    let dir = tempfile::tempdir().expect("dir");
    let acme = PublisherSecretKey::generate();
    let (detail, publisher) = answer(&acme, &echo);
    let base = serve(fake_registry(detail.clone(), publisher, echo.clone())).await;
    remote(&base, dir.path()).component(&detail).await.expect("the first pull pins acme's key");
    assert!(dir.path().join("keys/acme.pub").exists());

    // Later the registry answers with another key, and other bytes signed with it.
    let mut other = echo.clone();
    other.extend_from_slice(b"\0");
    let impostor = PublisherSecretKey::generate();
    let (forged, publisher) = answer(&impostor, &other);
    assert_ne!(forged.digest, digest.to_string());
    let base = serve(fake_registry(forged.clone(), publisher, other.clone())).await;
    let error = remote(&base, dir.path()).component(&forged).await.expect_err("refused");
    assert!(error.to_string().contains("not the one pinned"), "{error}");
    // A server that never pulled from acme has nothing to compare with.
    remote(&base, tempfile::tempdir().expect("dir").path()).component(&forged).await.expect("no pin yet");
    // The pin still holds the first key.
    let pinned = std::fs::read_to_string(dir.path().join("keys/acme.pub")).expect("pin");
    assert_eq!(pinned, acme.public_key().to_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_registry_cannot_vouch_for_another_publisher() {
    let echo = std::fs::read(trellis_plugin_artifacts::ECHO).expect("echo guest");
    let manifest = trellis_marketplace::Manifest::parse(MANIFEST.as_bytes()).expect("manifest");
    let evil = PublisherSecretKey::generate();
    // `acme/echo`, signed by `evil`, and a detail that says `evil` published it.
    let detail: VersionDetail = serde_json::from_value(serde_json::json!({
        "name": "acme/echo", "version": "1.0.0", "publisher": "evil", "description": "Echoes",
        "category": "utility", "license": "MIT", "capabilities": manifest.capabilities,
        "limits": manifest.limits, "digest": ComponentDigest::of(&echo).to_string(),
        "size": echo.len(), "manifest": MANIFEST,
        "signature": evil.sign(&ComponentDigest::of(&echo), MANIFEST.as_bytes()), "kinds": [],
        "published_at": 0, "yanked_at": null,
    }))
    .expect("detail");
    let as_evil: Publisher = serde_json::from_value(serde_json::json!({
        "name": "evil", "public_key": evil.public_key().to_text(), "registered_at": 0, "approved_at": 0,
    }))
    .expect("publisher");
    let base = serve(fake_registry(detail.clone(), as_evil.clone(), echo.clone())).await;
    let error = remote(&base, tempfile::tempdir().expect("dir").path()).component(&detail).await.expect_err("refused");
    assert!(error.to_string().contains("the name says `acme`"), "{error}");

    // The detail says `acme`, but the registry hands out evil's record for acme.
    let mut claimed = detail.clone();
    claimed.publisher = "acme".to_owned();
    let base = serve(fake_registry(claimed.clone(), as_evil, echo.clone())).await;
    let error = remote(&base, tempfile::tempdir().expect("dir").path()).component(&claimed).await.expect_err("refused");
    assert!(error.to_string().contains("answered `evil`"), "{error}");
}
