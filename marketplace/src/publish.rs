//! The checks a package passes before the registry stores it, in the
//! order below; the first that fails refuses the package and is
//! named in the refusal. Nothing is stored by these checks: the caller
//! stores the blob and records the result only once they all passed.

use std::future::Future;

use semver::Version;
use thiserror::Error;
use trellis_host_api::{NodeKind, Runtime};

use crate::manifest::{MAX_MANIFEST_BYTES, Manifest};
use crate::signing::{ComponentDigest, PublisherKey};

/// The checks, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Size,
    Manifest,
    Signature,
    Version,
    World,
    Describe,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Size => "size",
            Check::Manifest => "manifest",
            Check::Signature => "signature",
            Check::Version => "version",
            Check::World => "world",
            Check::Describe => "describe",
        }
    }
}

#[derive(Debug, Error)]
#[error("publish refused by the {} check: {message}", .check.as_str())]
pub struct Refusal {
    pub check: Check,
    pub message: String,
}

fn refuse(check: Check, message: impl Into<String>) -> Refusal {
    Refusal { check, message: message.into() }
}

/// What a publisher sends.
pub struct Upload<'a> {
    pub component: &'a [u8],
    pub manifest: &'a [u8],
    /// `ed25519:<base64>` over the component digest and the manifest.
    pub signature: &'a str,
}

/// What the registry knows that the checks ask about.
pub trait RegistryView {
    /// The key of a publisher the operator approved; `None` otherwise.
    fn publisher_key(&self, publisher: &str) -> impl Future<Output = Result<Option<PublisherKey>, String>> + Send;
    fn is_published(&self, name: &str, version: &Version) -> impl Future<Output = Result<bool, String>> + Send;
}

/// A package that passed every check.
#[derive(Debug)]
pub struct Accepted {
    pub manifest: Manifest,
    pub digest: ComponentDigest,
    /// What `describe` returned in the sandbox, recorded with the version.
    pub kinds: Vec<NodeKind>,
}

/// Runs every check in order.
pub async fn check_package(
    runtime: &Runtime,
    registry: &impl RegistryView,
    upload: &Upload<'_>,
) -> Result<Accepted, Refusal> {
    let limit = runtime.config().max_component_bytes;
    if upload.component.len() > limit {
        return Err(refuse(
            Check::Size,
            format!("the component is {} bytes, over the {limit}-byte limit", upload.component.len()),
        ));
    }
    if upload.manifest.len() > MAX_MANIFEST_BYTES {
        return Err(refuse(
            Check::Size,
            format!("the manifest is {} bytes, over the {MAX_MANIFEST_BYTES}-byte limit", upload.manifest.len()),
        ));
    }

    let manifest = Manifest::parse(upload.manifest).map_err(|e| refuse(Check::Manifest, e.to_string()))?;

    let publisher = manifest.publisher();
    let key = registry
        .publisher_key(publisher)
        .await
        .map_err(|e| refuse(Check::Signature, format!("looking up the publisher failed: {e}")))?
        .ok_or_else(|| {
            refuse(Check::Signature, format!("publisher `{publisher}` is not registered (or not yet approved)"))
        })?;
    let digest = ComponentDigest::of(upload.component);
    key.verify(&digest, upload.manifest, upload.signature).map_err(|e| {
        refuse(Check::Signature, format!("{e} (publisher `{publisher}`, component {digest}, the manifest as sent)"))
    })?;

    let published = registry
        .is_published(&manifest.name, &manifest.version)
        .await
        .map_err(|e| refuse(Check::Version, format!("looking up published versions failed: {e}")))?;
    if published {
        return Err(refuse(
            Check::Version,
            format!(
                "{}@{} is already published; versions are immutable, publish a new one",
                manifest.name, manifest.version
            ),
        ));
    }

    let kinds = check_component(runtime, upload.component).await?;
    Ok(Accepted { manifest, digest, kinds })
}

/// The checks that need nothing but the component: it implements a
/// supported world and imports nothing outside it, and `describe` runs in
/// the sandbox and returns schemas that compile. `trellis plugin build`
/// runs these too, so an author sees a refusal before publishing.
pub async fn check_component(runtime: &Runtime, component: &[u8]) -> Result<Vec<NodeKind>, Refusal> {
    let plugin = runtime.load(component).map_err(|e| refuse(Check::World, e.to_string()))?;

    let kinds = runtime.describe(&plugin).await.map_err(|e| refuse(Check::Describe, e.to_string()))?;
    if kinds.is_empty() {
        return Err(refuse(Check::Describe, "describe returned no node kinds"));
    }
    for kind in &kinds {
        for (field, schema) in [
            ("config-schema", &kind.config_schema),
            ("input-schema", &kind.input_schema),
            ("output-schema", &kind.output_schema),
        ] {
            jsonschema::validator_for(schema)
                .map_err(|e| refuse(Check::Describe, format!("kind `{}`: {field} does not compile: {e}", kind.name)))?;
        }
    }
    Ok(kinds)
}
