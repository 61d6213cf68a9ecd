//! Sealed secrets, wrapped tenant data keys and plugin grants as the store
//! keeps them. Sealing and unsealing happen in the engine; the store
//! only ever sees ciphertext.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What a tenant lets one plugin do beyond the sandbox defaults: a subset
/// of what the plugin's manifest requests. Written whole: what a request
/// leaves out is not granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginGrants {
    /// Tenant secret names the plugin's nodes may read.
    #[serde(default)]
    pub secrets: BTreeSet<String>,
    /// Outbound host patterns its nodes may reach (within the operator's
    /// allowlist).
    #[serde(default)]
    pub hosts: BTreeSet<String>,
    /// Whether its nodes get the plugin's key-value store.
    #[serde(default)]
    pub kv: bool,
    /// Whether its nodes may call the LLM gateway.
    #[serde(default)]
    pub llm: bool,
}

/// A secret's name and when it was last written; never its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretName {
    pub name: String,
    pub updated_at: i64,
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn wrapped_key(&self) -> Result<Option<Vec<u8>>, StoreError>;
    /// Stores the tenant's wrapped data key unless one exists; returns the
    /// one that is stored afterwards (two first writers agree on one key).
    async fn insert_wrapped_key(&self, wrapped: &[u8]) -> Result<Vec<u8>, StoreError>;
    async fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<(), StoreError>;
    async fn sealed_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn secret_names(&self) -> Result<Vec<SecretName>, StoreError>;
    /// `false` when there was no such secret.
    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError>;
    async fn plugin_grants(&self, plugin: &str) -> Result<PluginGrants, StoreError>;
    async fn put_plugin_grants(&self, plugin: &str, grants: &PluginGrants) -> Result<(), StoreError>;
}
