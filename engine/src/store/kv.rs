//! Plugin kv backed by the store, scoped to (tenant, plugin), counted
//! against the tenant's storage quota.

use std::sync::Arc;

use async_trait::async_trait;
use trellis_host_api::capabilities::KvStore;

use super::{Backend, TenantId};

pub struct StoreKv {
    backend: Arc<dyn Backend>,
    tenant: TenantId,
    plugin: String,
    quota_bytes: u64,
}

impl StoreKv {
    pub(super) fn new(backend: Arc<dyn Backend>, tenant: TenantId, plugin: String, quota_bytes: u64) -> Self {
        StoreKv { backend, tenant, plugin, quota_bytes }
    }
}

/// Database errors are reported to the plugin without internals.
fn unavailable(error: super::StoreError) -> String {
    tracing::error!(%error, "kv store error");
    "kv storage is unavailable right now".to_owned()
}

#[async_trait]
impl KvStore for StoreKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.backend.kv_get(&self.tenant, &self.plugin, key).await.map_err(unavailable)
    }

    async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), String> {
        match self.backend.kv_set(&self.tenant, &self.plugin, key, &value, self.quota_bytes).await {
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
        self.backend.kv_delete(&self.tenant, &self.plugin, key).await.map_err(unavailable)
    }
}
