//! Plugins installed in a tenant, as the store keeps them: the range the
//! tenant asked for and the version (and digest) it is pinned to.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{PluginGrants, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginInstall {
    /// `publisher/plugin`.
    pub plugin: String,
    /// The semver range the tenant installed (`^1.2`); upgrades stay in it.
    pub requirement: String,
    /// The version in use, until an explicit upgrade.
    pub version: String,
    /// `sha256:<hex>` of that version's component.
    pub digest: String,
    pub installed_at: i64,
    pub updated_at: i64,
}

#[async_trait]
pub trait InstallStore: Send + Sync {
    async fn installs(&self) -> Result<Vec<PluginInstall>, StoreError>;
    /// Every install with its grants (what a tenant's catalog is built from).
    async fn installs_with_grants(&self) -> Result<Vec<(PluginInstall, PluginGrants)>, StoreError>;
    /// Writes an install and its grants in one transaction (install,
    /// upgrade), with the audit entry, when given, whose details get the
    /// install written as `install`.
    async fn put_install(&self, install: &PluginInstall, grants: &PluginGrants) -> Result<(), StoreError>;
    /// Removes an install and its grants; `false` when it was not installed.
    async fn delete_install(&self, plugin: &str) -> Result<bool, StoreError>;
}
