//! The store's contract: what Trellis keeps (runs, node records,
//! workflows, tenants, secrets, plugins, usage) and the traits a database
//! implements to keep it.
//!
//! A backend is a [`Database`]. Everything a tenant owns is reached through
//! [`Database::tenant`], which hands out a [`TenantStore`]: a handle with
//! the tenant fixed once, so no method takes a tenant and no caller can
//! name another tenant's rows. The few lookups that happen before a tenant
//! is known (sign-in, API keys, refresh tokens, hook tokens) are the
//! [`SignIn`] surface; finding work across tenants (recovery, cron) is the
//! [`WorkQueue`] surface. Both are small on purpose: each is a place where
//! tenant scoping is decided by the row found, not by the caller.
//!
//! One trait per area on the handle: [`RunStore`], [`WorkflowStore`],
//! [`TriggerStore`], [`AccessStore`], [`AuditStore`], [`SecretStore`],
//! [`InstallStore`], [`QuotaStore`], [`LlmStore`], [`PluginKvStore`].
//! `use trellis_store_api::prelude::*` brings them all into scope.

mod access;
mod agent;
#[cfg(feature = "conformance")]
pub mod conformance;
mod installs;
mod kv;
mod llm;
mod notices;
mod quota;
mod records;
mod runs;
mod secrets;
mod tenancy;
mod triggers;
mod workflows;

use std::sync::Arc;

use async_trait::async_trait;
use thiserror::Error;

pub use access::{AccessStore, SignIn};
pub use agent::{AgentRecord, AgentStep, ModelTurn, ToolStatus, ToolStep};
pub use installs::{InstallStore, PluginInstall};
pub use kv::{PluginKvStore, StoreKv};
pub use llm::{LlmProviderRow, LlmStore, ModelUsage};
pub use notices::{Area, Notice};
pub use quota::{Admission, Lease, QuotaExceeded, QuotaStore, RunQuotas, Usage};
pub use records::{AttemptRecord, Document, NodeRecord, NodeStatus, ParentRef, RerunOf, RunRecord, RunStatus, now_ms};
pub use runs::{NEVER_DUE, RunFilter, RunStore, WorkQueue};
pub use secrets::{PluginGrants, SecretName, SecretStore};
pub use tenancy::{ApiKey, AuditEntry, AuditStore, Member, RefreshUse, Role};
pub use triggers::{CronSchedule, TriggerPlan, TriggerStore};
pub use workflows::WorkflowStore;

/// The traits, for method calls on a [`Store`] or a [`TenantStore`].
pub mod prelude {
    pub use crate::{
        AccessStore, AuditStore, Database, InstallStore, LlmStore, PluginKvStore, QuotaStore, RunStore, SecretStore,
        SignIn, TenantScope, TenantStoreExt, TriggerStore, WorkQueue, WorkflowStore,
    };
}

/// What any backend can fail with. Drivers' errors are kept as their
/// source; nothing here names a database.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A driver outside sqlx (SQLite's write thread uses rusqlite).
    #[error("database error: {0}")]
    Driver(Box<dyn std::error::Error + Send + Sync>),
    /// A write could not be taken or finished (a writer thread gone).
    #[error("database write failed: {0}")]
    Writer(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored record is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// A tenant's id. Constructed by the authentication layer (or the CLI's
/// single local tenant), never from request paths.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(String);

impl TenantId {
    pub fn new(id: impl Into<String>) -> Self {
        TenantId(id.into())
    }

    /// The tenant of local, single-user use (`trellis run`).
    pub fn local() -> Self {
        TenantId("local".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a new tenant is created with, in one transaction.
pub struct TenantSeed<'a> {
    pub tenant: &'a TenantId,
    pub name: &'a str,
    pub owner: &'a Member,
    pub password_hash: &'a str,
    pub key: &'a ApiKey,
    pub key_hash: &'a str,
    /// The plugins it starts with (the first-party ones) and their grants.
    pub installs: &'a [(PluginInstall, PluginGrants)],
}

/// A database shared by all tenants.
pub type Store = Arc<dyn Database>;

/// The store seen by one tenant.
pub type TenantStore = Arc<dyn TenantScope>;

/// A backend: hands out tenant handles, creates tenants, and offers the
/// two untenanted surfaces.
#[async_trait]
pub trait Database: SignIn + WorkQueue + Send + Sync {
    /// A handle bound to `tenant`: every call through it reads and writes
    /// that tenant's rows only.
    fn tenant(&self, tenant: TenantId) -> TenantStore;
    /// Transactions the hot-path writer committed and the writes they
    /// carried (zero for a backend that does not share commits).
    fn commits(&self) -> (u64, u64) {
        (0, 0)
    }
    /// Operator action: a tenant with its owner, first API key and first
    /// installs, in one transaction; `false` when the owner's email is
    /// already taken.
    async fn create_tenant(&self, seed: &TenantSeed<'_>) -> Result<bool, StoreError>;
    /// Whether any tenant exists (what `trellis serve` tells at start).
    async fn has_tenants(&self) -> Result<bool, StoreError>;
    /// Tells every process sharing this store, this one included.
    async fn notify(&self, notice: &Notice) -> Result<(), StoreError>;
    /// The notices of every process sharing this store, from now on. A
    /// receiver that falls behind loses the oldest; it should then act as
    /// on [`Notice::Resync`].
    fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice>;
    /// Whether other processes may share this store (and so write
    /// approvals, cancels and changes this one learns only by notice).
    fn shared(&self) -> bool;
}

/// Everything one tenant's handle does, one trait per area.
pub trait TenantScope:
    RunStore
    + WorkflowStore
    + TriggerStore
    + AccessStore
    + AuditStore
    + SecretStore
    + InstallStore
    + QuotaStore
    + LlmStore
    + PluginKvStore
{
    fn tenant(&self) -> &TenantId;
    /// This handle with its writes audited as `entry`: each write that
    /// changes something writes the entry in its own transaction.
    fn with_audit(&self, entry: AuditEntry) -> TenantStore;
}

/// What every handle offers on top of its backend's methods.
pub trait TenantStoreExt {
    /// This handle, with its writes audited as `action` on `target` by
    /// `principal`, in the transaction of each write.
    fn audited(&self, principal: &str, action: &str, target: &str, details: serde_json::Value) -> TenantStore;
    /// A kv namespace for one plugin in this tenant, for the sandbox.
    fn kv(&self, plugin: &str, quota_bytes: u64) -> StoreKv;
}

impl TenantStoreExt for TenantStore {
    fn audited(&self, principal: &str, action: &str, target: &str, details: serde_json::Value) -> TenantStore {
        self.with_audit(AuditEntry::now(principal, action, target, details))
    }

    fn kv(&self, plugin: &str, quota_bytes: u64) -> StoreKv {
        StoreKv::new(self.clone(), plugin.to_owned(), quota_bytes)
    }
}
