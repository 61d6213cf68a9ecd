//! Sealing and opening tenant secrets, and the [`SecretSource`] the server
//! gives its engine.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use trellis_host_api::capabilities::SecretStore;

use super::seal::{self, Key};
use super::{MasterKey, SecretError, SecretSource};
use crate::store::{TenantId, TenantStore};
use crate::ttl_cache::TtlCache;

/// Longest secret value accepted.
pub const MAX_VALUE_BYTES: usize = 64 << 10;

/// How long a process trusts grants it read; writes through this vault
/// take effect at once, writes by another server process within this time.
const GRANTS_TTL: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Vault {
    master: MasterKey,
    /// Secret names granted, by (tenant, plugin).
    grants: TtlCache<(TenantId, String), BTreeSet<String>>,
}

fn key_context(tenant: &TenantId) -> Vec<u8> {
    format!("trellis data key\0{}", tenant.as_str()).into_bytes()
}

fn secret_context(tenant: &TenantId, name: &str) -> Vec<u8> {
    format!("trellis secret\0{}\0{name}", tenant.as_str()).into_bytes()
}

fn llm_key_context(tenant: &TenantId, provider: &str) -> Vec<u8> {
    format!("trellis llm key\0{}\0{provider}", tenant.as_str()).into_bytes()
}

impl Vault {
    pub fn new(master: MasterKey) -> Self {
        Vault { master, grants: TtlCache::new(GRANTS_TTL) }
    }

    /// The tenant's data key, made and stored (wrapped) on first use.
    async fn data_key(&self, store: &TenantStore) -> Result<Key, SecretError> {
        let context = key_context(store.tenant());
        let wrapped = match store.wrapped_key().await? {
            Some(wrapped) => wrapped,
            None => {
                let fresh = seal::random_key();
                store.insert_wrapped_key(&seal::seal(self.master.key(), &context, &fresh)).await?
            }
        };
        let bytes = seal::open(self.master.key(), &context, &wrapped)
            .ok_or_else(|| SecretError::Undecryptable("the tenant's data key".to_owned()))?;
        bytes.try_into().map_err(|_| SecretError::Undecryptable("the tenant's data key".to_owned()))
    }

    /// Stores a secret value, sealed. The caller checked name and size.
    pub async fn write(&self, store: &TenantStore, name: &str, value: &str) -> Result<(), SecretError> {
        let key = self.data_key(store).await?;
        let sealed = seal::seal(&key, &secret_context(store.tenant(), name), value.as_bytes());
        store.put_secret(name, &sealed).await?;
        Ok(())
    }

    pub async fn read(&self, store: &TenantStore, name: &str) -> Result<Option<String>, SecretError> {
        let Some(sealed) = store.sealed_secret(name).await? else { return Ok(None) };
        let key = self.data_key(store).await?;
        let undecryptable = || SecretError::Undecryptable(format!("secret `{name}`"));
        let bytes = seal::open(&key, &secret_context(store.tenant(), name), &sealed).ok_or_else(undecryptable)?;
        String::from_utf8(bytes).map(Some).map_err(|_| undecryptable())
    }

    /// An LLM provider's API key sealed with the tenant's data key, bound
    /// to the provider's name so a sealed key cannot be moved to another.
    pub async fn seal_llm_key(&self, store: &TenantStore, provider: &str, key: &str) -> Result<Vec<u8>, SecretError> {
        let data_key = self.data_key(store).await?;
        Ok(seal::seal(&data_key, &llm_key_context(store.tenant(), provider), key.as_bytes()))
    }

    pub async fn open_llm_key(
        &self,
        store: &TenantStore,
        provider: &str,
        sealed: &[u8],
    ) -> Result<String, SecretError> {
        let data_key = self.data_key(store).await?;
        let undecryptable = || SecretError::Undecryptable(format!("the API key of LLM provider `{provider}`"));
        let bytes =
            seal::open(&data_key, &llm_key_context(store.tenant(), provider), sealed).ok_or_else(undecryptable)?;
        String::from_utf8(bytes).map_err(|_| undecryptable())
    }

    /// Secret names granted to a plugin, cached briefly: this is read once
    /// per node execution.
    async fn granted(&self, store: &TenantStore, plugin: &str) -> Result<BTreeSet<String>, SecretError> {
        let cache_key = (store.tenant().clone(), plugin.to_owned());
        if let Some(names) = self.grants.get(&cache_key) {
            return Ok(names);
        }
        let names = store.plugin_grants(plugin).await?.secrets;
        self.grants.insert(cache_key, names.clone());
        Ok(names)
    }
}

#[async_trait]
impl SecretSource for Vault {
    async fn for_node(
        &self,
        store: &TenantStore,
        plugin: &str,
    ) -> Result<(Arc<dyn SecretStore>, BTreeSet<String>), SecretError> {
        let granted = self.granted(store, plugin).await?;
        Ok((Arc::new(TenantSecrets { vault: self.clone(), store: store.clone() }), granted))
    }

    fn forget_grants(&self, tenant: Option<&TenantId>) {
        match tenant {
            Some(tenant) => self.grants.forget_where(|(of, _)| of == tenant),
            None => self.grants.clear(),
        }
    }
}

/// One tenant's secrets as the sandbox reads them (after its grant check).
struct TenantSecrets {
    vault: Vault,
    store: TenantStore,
}

#[async_trait]
impl SecretStore for TenantSecrets {
    async fn get(&self, name: &str) -> Result<Option<String>, String> {
        self.vault.read(&self.store, name).await.map_err(|error| {
            tracing::error!(%error, "reading a secret failed");
            "secret storage is unavailable right now".to_owned()
        })
    }
}
