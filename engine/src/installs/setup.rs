//! What `trellis serve` opens at start: the local registry (its database
//! and blobs in the data directory), the first-party plugins published into
//! it, and where installs fetch components from (this registry, or a
//! central one by URL).

use std::path::Path;
use std::sync::Arc;

use thiserror::Error;
use trellis_host_api::Runtime;
use trellis_marketplace::key_pins::KeyPins;
use trellis_marketplace::remote::RemoteRegistry;
use trellis_marketplace::source::{PluginSource, SourceError};
use trellis_marketplace::{BlobError, BlobStore, Registry, RegistryError};

use super::InstalledPlugins;

/// The registry this server serves under `/v1/marketplace`, and the
/// tenants' installs (which the engine is built with).
#[derive(Clone)]
pub struct Marketplace {
    pub registry: Arc<Registry>,
    pub installed: Arc<InstalledPlugins>,
}

#[derive(Debug, Error)]
pub enum SetupError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Blobs(#[from] BlobError),
    #[error("first-party key: {0}")]
    Key(#[from] std::io::Error),
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Where the registry keeps component blobs.
pub enum Blobs<'a> {
    /// `DATA_DIR/blobs`.
    Local,
    /// An object store URL (`s3://bucket/prefix`) with its options.
    Url(&'a str, Vec<(String, String)>),
}

impl Blobs<'_> {
    pub fn open(self, data_dir: &Path) -> Result<BlobStore, BlobError> {
        match self {
            Blobs::Local => BlobStore::local(&data_dir.join("blobs")),
            Blobs::Url(url, options) => BlobStore::from_url(url, options),
        }
    }
}

/// Opens the registry in `data_dir` and publishes the first-party
/// versions it lacks, signed with `DATA_DIR/first-party.key` (made on the
/// first start). What both `trellis serve` and `trellis marketplace serve`
/// start with.
pub async fn open_registry(data_dir: &Path, runtime: &Runtime, blobs: Blobs<'_>) -> Result<Arc<Registry>, SetupError> {
    let registry = Arc::new(Registry::open(data_dir, blobs.open(data_dir)?, runtime.clone()).await?);
    let key = crate::first_party::key(data_dir)?;
    crate::first_party::publish_all(&registry, &key).await?;
    Ok(registry)
}

impl Marketplace {
    /// Opens the registry (see [`open_registry`]) and installs from
    /// `central` when given, else from it.
    pub async fn open(
        data_dir: &Path,
        runtime: &Runtime,
        blobs: Blobs<'_>,
        central: Option<&str>,
    ) -> Result<Marketplace, SetupError> {
        let registry = open_registry(data_dir, runtime, blobs).await?;
        let source: Arc<dyn PluginSource> = match central {
            Some(url) => Arc::new(RemoteRegistry::new(
                url,
                BlobStore::local(&data_dir.join("pulled"))?,
                KeyPins::new(data_dir.join("pinned-keys")),
                runtime.config().max_component_bytes,
            )?),
            None => registry.clone(),
        };
        let installed = Arc::new(InstalledPlugins::new(runtime.clone(), source));
        Ok(Marketplace { registry, installed })
    }
}
