//! Plugin kv backed by the store, scoped to (tenant, plugin), counted
//! against the tenant's storage quota.

use async_trait::async_trait;
use trellis_host_api::capabilities::KvStore;

use crate::{StoreError, TenantStore};

/// The rows of a tenant's plugin kv.
#[async_trait]
pub trait PluginKvStore: Send + Sync {
    async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a value if the tenant's kv total stays within `quota_bytes`;
    /// returns the bytes in use otherwise.
    async fn kv_set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        quota_bytes: u64,
    ) -> Result<Result<(), u64>, StoreError>;
    async fn kv_delete(&self, plugin: &str, key: &str) -> Result<(), StoreError>;
}

/// One plugin's kv in one tenant, as the sandbox sees it.
pub struct StoreKv {
    store: TenantStore,
    plugin: String,
    quota_bytes: u64,
}

impl StoreKv {
    pub(crate) fn new(store: TenantStore, plugin: String, quota_bytes: u64) -> Self {
        StoreKv { store, plugin, quota_bytes }
    }
}

/// Database errors are reported to the plugin without internals.
fn unavailable(error: StoreError) -> String {
    tracing::error!(%error, "kv store error");
    "kv storage is unavailable right now".to_owned()
}

#[async_trait]
impl KvStore for StoreKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.store.kv_get(&self.plugin, key).await.map_err(unavailable)
    }

    async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), String> {
        match self.store.kv_set(&self.plugin, key, &value, self.quota_bytes).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(used)) => Err(format!(
                "kv storage quota exceeded: limit {} bytes, in use {used}, this write needs {}",
                self.quota_bytes,
                key.len() + value.len()
            )),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        self.store.kv_delete(&self.plugin, key).await.map_err(unavailable)
    }
}
