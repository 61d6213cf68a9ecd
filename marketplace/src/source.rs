//! Where a server gets plugin versions and components to install: its own
//! registry, or a central one over HTTP. Either way a
//! component is handed out only after its digest and its publisher's
//! signature over digest and manifest check out.

use async_trait::async_trait;
use bytes::Bytes;
use semver::Version;
use thiserror::Error;

use crate::manifest::Manifest;
use crate::registry::{Registry, RegistryError, VersionDetail, VersionSummary};
use crate::signing::{ComponentDigest, PublisherKey};

#[derive(Debug, Error)]
pub enum SourceError {
    #[error("{0} not found in the marketplace")]
    NotFound(String),
    /// The bytes or the signature do not match what was published.
    #[error("{0}")]
    Verification(String),
    #[error("the marketplace is unavailable: {0}")]
    Unavailable(String),
}

impl From<RegistryError> for SourceError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::NotFound(what) => SourceError::NotFound(what),
            other => SourceError::Unavailable(other.to_string()),
        }
    }
}

#[async_trait]
pub trait PluginSource: Send + Sync {
    /// Every version of a plugin, newest first, yanked ones marked.
    async fn versions(&self, name: &str) -> Result<Vec<VersionSummary>, SourceError>;
    async fn version(&self, name: &str, version: &Version) -> Result<VersionDetail, SourceError>;
    /// The component of a version, verified.
    async fn component(&self, detail: &VersionDetail) -> Result<Bytes, SourceError>;
}

/// Checks pulled bytes against the version's digest and its publisher's
/// signature over digest and manifest.
pub fn verify_pulled(detail: &VersionDetail, component: &[u8], key: &PublisherKey) -> Result<(), SourceError> {
    let what = format!("{}@{}", detail.name, detail.version);
    // Identity comes from the name, never from the registry's word: the
    // publisher is the name's first part, and its key verifies.
    let owner = detail.name.split('/').next().unwrap_or_default();
    if detail.publisher != owner {
        return Err(SourceError::Verification(format!(
            "{what}: the registry names `{}` as its publisher, the name says `{owner}`",
            detail.publisher
        )));
    }
    let digest = ComponentDigest::of(component);
    if digest.to_string() != detail.digest {
        return Err(SourceError::Verification(format!(
            "{what}: the component's digest is {digest}, the registry lists {}",
            detail.digest
        )));
    }
    key.verify(&digest, detail.manifest.as_bytes(), &detail.signature)
        .map_err(|e| SourceError::Verification(format!("{what}: {e} (publisher `{}`)", detail.publisher)))?;
    // Grants are checked against the detail's capabilities: they must be
    // the signed manifest's, not a registry's rewrite of them.
    let manifest = Manifest::parse(detail.manifest.as_bytes())
        .map_err(|e| SourceError::Verification(format!("{what}: the signed manifest: {e}")))?;
    if manifest.name != detail.name
        || manifest.version != detail.version
        || manifest.capabilities != detail.capabilities
        || manifest.limits != detail.limits
    {
        return Err(SourceError::Verification(format!(
            "{what}: the registry's name, version, capabilities or limits differ from the signed manifest's"
        )));
    }
    Ok(())
}

#[async_trait]
impl PluginSource for Registry {
    async fn versions(&self, name: &str) -> Result<Vec<VersionSummary>, SourceError> {
        Ok(Registry::versions(self, name).await?)
    }

    async fn version(&self, name: &str, version: &Version) -> Result<VersionDetail, SourceError> {
        Ok(Registry::version(self, name, version).await?)
    }

    async fn component(&self, detail: &VersionDetail) -> Result<Bytes, SourceError> {
        let digest = ComponentDigest::parse(&detail.digest).map_err(|e| SourceError::Verification(e.to_string()))?;
        let bytes = self.blob(&digest).await?;
        let publisher = self
            .publisher(&detail.publisher)
            .await?
            .ok_or_else(|| SourceError::NotFound(format!("publisher `{}`", detail.publisher)))?;
        let key =
            PublisherKey::from_text(&publisher.public_key).map_err(|e| SourceError::Verification(e.to_string()))?;
        verify_pulled(detail, &bytes, &key)?;
        Ok(bytes)
    }
}
