//! Every publish check refuses what it should, in order, naming itself;
//! a good package passes them all. Real components from `plugins/`.

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;
use trellis_host_api::{Runtime, RuntimeConfig};
use trellis_marketplace::publish::{Check, Refusal, RegistryView, Upload, check_package};
use trellis_marketplace::{ComponentDigest, PublisherKey, PublisherSecretKey};

const MANIFEST: &str = r#"
name = "acme/echo"
version = "1.0.0"
description = "Echoes its input"
license = "Apache-2.0"
category = "utility"
"#;

#[derive(Default)]
struct Registry {
    keys: BTreeMap<String, PublisherKey>,
    published: BTreeSet<(String, Version)>,
}

impl RegistryView for Registry {
    async fn publisher_key(&self, publisher: &str) -> Result<Option<PublisherKey>, String> {
        Ok(self.keys.get(publisher).cloned())
    }

    async fn is_published(&self, name: &str, version: &Version) -> Result<bool, String> {
        Ok(self.published.contains(&(name.to_owned(), version.clone())))
    }
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig { pooling: false, ..RuntimeConfig::default() }).expect("runtime")
}

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).expect("built guest")
}

fn sign(key: &PublisherSecretKey, component: &[u8], manifest: &str) -> String {
    key.sign(&ComponentDigest::of(component), manifest.as_bytes())
}

async fn refused(runtime: &Runtime, registry: &Registry, upload: Upload<'_>) -> Refusal {
    check_package(runtime, registry, &upload).await.expect_err("refused")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_package_passes_and_each_check_refuses_its_failure() {
    let runtime = runtime();
    let key = PublisherSecretKey::generate();
    let mut registry = Registry::default();
    registry.keys.insert("acme".to_owned(), key.public_key());
    let echo = read(trellis_plugin_artifacts::ECHO);
    let signature = sign(&key, &echo, MANIFEST);

    let upload = Upload { component: &echo, manifest: MANIFEST.as_bytes(), signature: &signature };
    let accepted = check_package(&runtime, &registry, &upload).await.expect("a good package");
    assert_eq!(accepted.manifest.name, "acme/echo");
    assert_eq!(accepted.digest, ComponentDigest::of(&echo));
    assert!(!accepted.kinds.is_empty(), "describe's result is kept");

    // Size: refused before anything else is looked at (even the signature).
    let huge = vec![0u8; runtime.config().max_component_bytes + 1];
    let refusal =
        refused(&runtime, &registry, Upload { component: &huge, manifest: MANIFEST.as_bytes(), signature: "x" }).await;
    assert_eq!(refusal.check, Check::Size, "{refusal}");

    // Manifest schema.
    let bad_manifest = MANIFEST.replace("utility", "toys");
    let refusal = refused(
        &runtime,
        &registry,
        Upload { component: &echo, manifest: bad_manifest.as_bytes(), signature: &sign(&key, &echo, &bad_manifest) },
    )
    .await;
    assert_eq!(refusal.check, Check::Manifest, "{refusal}");

    // Altered bytes, altered manifest, another key, an unknown publisher.
    let mut altered = echo.clone();
    let last = altered.len() - 1;
    altered[last] ^= 0xff;
    let refusal = refused(
        &runtime,
        &registry,
        Upload { component: &altered, manifest: MANIFEST.as_bytes(), signature: &signature },
    )
    .await;
    assert_eq!(refusal.check, Check::Signature, "{refusal}");
    let bumped = MANIFEST.replace("1.0.0", "1.0.1");
    let refusal =
        refused(&runtime, &registry, Upload { component: &echo, manifest: bumped.as_bytes(), signature: &signature })
            .await;
    assert_eq!(refusal.check, Check::Signature, "{refusal}");
    let stranger = PublisherSecretKey::generate();
    let refusal = refused(
        &runtime,
        &registry,
        Upload { component: &echo, manifest: MANIFEST.as_bytes(), signature: &sign(&stranger, &echo, MANIFEST) },
    )
    .await;
    assert_eq!(refusal.check, Check::Signature, "{refusal}");
    let unknown = MANIFEST.replace("acme/echo", "initech/echo");
    let refusal = refused(
        &runtime,
        &registry,
        Upload { component: &echo, manifest: unknown.as_bytes(), signature: &sign(&key, &echo, &unknown) },
    )
    .await;
    assert_eq!(refusal.check, Check::Signature, "{refusal}");
    assert!(refusal.message.contains("`initech` is not registered"), "{refusal}");

    // A version already published is immutable.
    registry.published.insert(("acme/echo".to_owned(), Version::new(1, 0, 0)));
    let refusal =
        refused(&runtime, &registry, Upload { component: &echo, manifest: MANIFEST.as_bytes(), signature: &signature })
            .await;
    assert_eq!(refusal.check, Check::Version, "{refusal}");
    assert!(refusal.message.contains("already published"), "{refusal}");

    // Signed correctly, each refused by the check it fails: a component
    // importing wasi:filesystem and one of another world by the world
    // check; one of the right world whose describe lists one kind name
    // twice by running describe in the sandbox.
    for (path, check, needle) in [
        (trellis_plugin_artifacts::ESCAPE, Check::World, "wasi:filesystem"),
        (trellis_plugin_artifacts::WRONG_WORLD, Check::World, ""),
        (trellis_plugin_artifacts::BAD_DESCRIBE, Check::Describe, "listed twice"),
    ] {
        let component = read(path);
        let manifest = MANIFEST.replace("1.0.0", "2.0.0");
        let signature = sign(&key, &component, &manifest);
        let refusal = refused(
            &runtime,
            &registry,
            Upload { component: &component, manifest: manifest.as_bytes(), signature: &signature },
        )
        .await;
        assert_eq!(refusal.check, check, "{refusal}");
        assert!(refusal.to_string().contains(needle), "{refusal}");
    }
}
