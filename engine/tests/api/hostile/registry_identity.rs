//! A central registry's word is checked for every name, even when another
//! tenant already loaded the same component.

use std::sync::Arc;

use axum::Json;
use axum::routing::get;
use trellis_engine::installs::InstalledPlugins;
use trellis_engine::store::PluginInstall;
use trellis_marketplace::key_pins::KeyPins;
use trellis_marketplace::remote::RemoteRegistry;
use trellis_marketplace::{BlobStore, ComponentDigest, Manifest, PublisherSecretKey};

use crate::common::*;

fn manifest(name: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"1.0.0\"\ndescription = \"Echoes\"\nlicense = \"MIT\"\ncategory = \"utility\"\n"
    )
}

fn detail(name: &str, component: &[u8], signer: &PublisherSecretKey) -> Value {
    let manifest = manifest(name);
    let parsed = Manifest::parse(manifest.as_bytes()).unwrap();
    json!({
        "name": name, "version": "1.0.0", "publisher": name.split('/').next().unwrap(), "description": "Echoes",
        "category": "utility", "license": "MIT", "capabilities": parsed.capabilities, "limits": parsed.limits,
        "digest": ComponentDigest::of(component).to_string(), "size": component.len(), "manifest": manifest,
        "signature": signer.sign(&ComponentDigest::of(component), manifest.as_bytes()), "kinds": [],
        "published_at": 0, "yanked_at": null,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loaded_digest_does_not_vouch_for_another_name() {
    let s = server().await;
    let bystander = s.bystander().await;
    let echo = std::fs::read(trellis_plugin_artifacts::ECHO).unwrap();
    let (acme, evil) = (PublisherSecretKey::generate(), PublisherSecretKey::generate());
    // `acme/echo` is genuine; `evil/echo` lists the same digest under a
    // signature nobody registered for evil.
    let genuine = detail("acme/echo", &echo, &acme);
    let forged = detail("evil/echo", &echo, &PublisherSecretKey::generate());
    let keys = json!({"acme": acme.public_key().to_text(), "evil": evil.public_key().to_text()});
    let blob = echo.clone();
    let router = axum::Router::new()
        .route(
            "/v1/marketplace/plugins/{p}/{n}/{v}",
            get(move |axum::extract::Path((p, _, _)): axum::extract::Path<(String, String, String)>| {
                let answer = if p == "acme" { genuine.clone() } else { forged.clone() };
                async move { Json(answer) }
            }),
        )
        .route(
            "/v1/marketplace/publishers/{name}",
            get(move |axum::extract::Path(name): axum::extract::Path<String>| {
                let key = keys[&name].clone();
                async move { Json(json!({"name": name, "public_key": key, "registered_at": 0, "approved_at": 0})) }
            }),
        )
        .route("/v1/marketplace/blobs/{digest}", get(move || async move { blob }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let dir = tempfile::tempdir().unwrap();
    let source =
        RemoteRegistry::new(&base, BlobStore::local(dir.path()).unwrap(), KeyPins::new(dir.path().join("k")), 32 << 20)
            .unwrap();
    let plugins = InstalledPlugins::new(s.state.engine.runtime().clone(), Arc::new(source));
    let install = |plugin: &str| PluginInstall {
        plugin: plugin.to_owned(),
        requirement: "^1".to_owned(),
        version: "1.0.0".to_owned(),
        digest: ComponentDigest::of(&echo).to_string(),
        installed_at: 0,
        updated_at: 0,
    };
    plugins.component(&install("acme/echo")).await.expect("the genuine one loads");
    let evil = install("evil/echo");
    let forged = plugins.component(&evil);
    let refused = s.during(&bystander, forged).await.expect_err("the forged name is verified, and refused");
    assert!(refused.to_string().contains("does not verify"), "{refused}");
    // And the genuine one still comes from the cache.
    plugins.component(&install("acme/echo")).await.expect("still there");
}

#[tokio::test(flavor = "multi_thread")]
async fn building_a_catalog_runs_no_plugin_code() {
    let s = server().await;
    let before = s.state.engine.runtime().describes();
    // A new tenant gets the first-party plugins and the testing guests;
    // its catalog is built from the registry's records of `describe`.
    let acme = s.tenant("owner@acme.test").await;
    let (status, catalog) = s.call(Method::GET, "/v1/catalog", Some(&acme.api_key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(catalog.to_string().contains("local/hostile"), "{catalog}");
    assert_eq!(s.state.engine.runtime().describes(), before, "a plugin's describe ran to build a catalog");
}
