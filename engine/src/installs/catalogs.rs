//! Each tenant's catalog, built from its installs: components are fetched
//! (verified) from the plugin source and loaded once per digest, shared by
//! every tenant that installed them; first-party components come from the
//! binary itself. A loaded digest is reused only for a (name, version)
//! already verified with it: another name claiming the same digest is
//! verified on its own. A tenant's catalog is kept for a short time and dropped
//! when its installs change in this process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use trellis_host_api::Runtime;
use trellis_marketplace::source::PluginSource;

use crate::catalog::{Catalog, CatalogError, InstalledPlugin, Plugins};
use crate::store::{PluginInstall, TenantId, TenantStore};
use crate::ttl_cache::TtlCache;

/// How long another process's install changes may take to be seen here.
pub const CATALOG_TTL: Duration = Duration::from_secs(2);

pub struct InstalledPlugins {
    runtime: Runtime,
    source: Arc<dyn PluginSource>,
    /// Loaded components by digest.
    loaded: Mutex<HashMap<String, Arc<InstalledPlugin>>>,
    /// (name, version, digest) that the source verified.
    verified: Mutex<HashSet<(String, String, String)>>,
    tenants: TtlCache<TenantId, Arc<Catalog>>,
}

impl InstalledPlugins {
    pub fn new(runtime: Runtime, source: Arc<dyn PluginSource>) -> Self {
        InstalledPlugins {
            runtime,
            source,
            loaded: Mutex::default(),
            verified: Mutex::default(),
            tenants: TtlCache::new(CATALOG_TTL),
        }
    }

    pub fn source(&self) -> &Arc<dyn PluginSource> {
        &self.source
    }

    fn cached(&self, digest: &str) -> Option<Arc<InstalledPlugin>> {
        self.loaded.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(digest).cloned()
    }

    /// The loaded component of an install: from the cache, the binary (a
    /// first-party digest) or the source, verified there.
    pub async fn component(&self, install: &PluginInstall) -> Result<Arc<InstalledPlugin>, CatalogError> {
        let identity = (install.plugin.clone(), install.version.clone(), install.digest.clone());
        let known = self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(&identity);
        if known && let Some(found) = self.cached(&install.digest) {
            return Ok(found);
        }
        let unavailable =
            |message: String| CatalogError::Unavailable(format!("{}@{}: {message}", install.plugin, install.version));
        let version: semver::Version =
            install.version.parse().map_err(|e| unavailable(format!("stored version: {e}")))?;
        // The binary's own bytes are trusted under their own name only.
        let first_party = crate::first_party::by_digest(&install.digest).filter(|p| p.name == install.plugin);
        // The kinds are the registry's record of `describe` at publish: the
        // catalog never runs a plugin. The binary's own plugins, when the
        // source does not list them, are described once here.
        let (bytes, kinds) = match first_party {
            Some(first_party) => {
                let kinds = self.source.version(&install.plugin, &version).await.ok().map(|detail| detail.kinds);
                (bytes::Bytes::from_static(first_party.component), kinds)
            }
            None => {
                let detail =
                    self.source.version(&install.plugin, &version).await.map_err(|e| unavailable(e.to_string()))?;
                if detail.digest != install.digest {
                    return Err(unavailable(format!(
                        "the marketplace lists digest {}, the install pinned {}",
                        detail.digest, install.digest
                    )));
                }
                let bytes = self.source.component(&detail).await.map_err(|e| unavailable(e.to_string()))?;
                (bytes, Some(detail.kinds))
            }
        };
        // Verified: the compiled component of these bytes may be shared.
        let loaded = match self.cached(&install.digest) {
            Some(loaded) => loaded,
            None => {
                let loaded = Arc::new(match kinds {
                    Some(kinds) => InstalledPlugin::described(&self.runtime, &install.plugin, version, &bytes, kinds)?,
                    None => InstalledPlugin::load(&self.runtime, &install.plugin, version, &bytes).await?,
                });
                self.loaded
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .insert(install.digest.clone(), loaded.clone());
                loaded
            }
        };
        self.verified.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(identity);
        Ok(loaded)
    }
}

#[async_trait]
impl Plugins for InstalledPlugins {
    async fn for_tenant(&self, store: &TenantStore) -> Result<Arc<Catalog>, CatalogError> {
        if let Some(catalog) = self.tenants.get(store.tenant()) {
            return Ok(catalog);
        }
        let installs = store.installs_with_grants().await.map_err(|e| CatalogError::Unavailable(e.to_string()))?;
        let mut plugins = Vec::with_capacity(installs.len());
        for (install, grants) in installs {
            // One plugin that cannot be fetched or loaded leaves the others
            // usable; its nodes fail as not installed, and the log says why.
            match self.component(&install).await {
                Ok(loaded) => {
                    // One component may be published under several names
                    // and versions: the install says which this is.
                    // `component` parsed the install's version to load it.
                    let mut plugin = (*loaded).clone();
                    plugin.name = install.plugin.clone();
                    plugin.version = install.version.parse().unwrap_or_else(|_| loaded.version.clone());
                    plugin.grants = Some(grants);
                    plugins.push(Arc::new(plugin));
                }
                Err(error) => {
                    tracing::error!(%error, tenant = store.tenant().as_str(), "an installed plugin is unusable")
                }
            }
        }
        let catalog = Arc::new(Catalog::of(plugins));
        self.tenants.insert(store.tenant().clone(), catalog.clone());
        Ok(catalog)
    }

    fn forget(&self, tenant: Option<&TenantId>) {
        match tenant {
            Some(tenant) => self.tenants.forget(tenant),
            None => self.tenants.clear(),
        }
    }
}
