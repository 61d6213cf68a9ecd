//! Durable state: runs, node records, plugin kv and workflow versions.
//!
//! [`StoreBackend`] is the one trait both databases implement (SQLite now,
//! PostgreSQL with scale-out). Callers never see it directly: they get a
//! [`TenantStore`] from [`Store::tenant`], which binds every query to one
//! tenant — tenant scoping lives there and nowhere else.

mod agent;
mod installs;
mod kv;
mod llm;
mod members;
mod quota;
mod records;
mod secrets;
mod sqlite;
mod tenancy;
mod triggers;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use thiserror::Error;

pub use agent::{AgentRecord, AgentStep, ModelTurn, ToolStatus, ToolStep};
pub use installs::{InstallBackend, PluginInstall};
pub use kv::StoreKv;
pub use llm::{LlmBackend, LlmProviderRow, ModelUsage};
pub use members::MemberBackend;
pub use quota::{Admission, QuotaBackend, RunQuotas};
pub use records::{AttemptRecord, Document, NodeRecord, NodeStatus, ParentRef, RerunOf, RunRecord, RunStatus, now_ms};
pub use secrets::{PluginGrants, SecretBackend, SecretName};
pub use sqlite::SqliteBackend;
pub use tenancy::{ApiKey, AuditEntry, Member, RefreshUse, Role};
pub use triggers::{CronSchedule, TriggerBackend, TriggerPlan};

use crate::workflow::Workflow;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The SQLite write thread could not take or finish a write.
    #[error("database write failed: {0}")]
    Writer(String),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored record is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// Which runs a listing keeps; `None` keeps all.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunFilter<'a> {
    pub status: Option<RunStatus>,
    pub workflow: Option<&'a str>,
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

#[async_trait]
pub trait StoreBackend: Send + Sync {
    /// Transactions the hot-path writer committed and the writes they
    /// carried (zero for a backend that does not share commits).
    fn commits(&self) -> (u64, u64) {
        (0, 0)
    }
    async fn insert_run(&self, tenant: &TenantId, run: &RunRecord) -> Result<bool, StoreError>;
    /// With an audit entry, it is written in the same transaction, the
    /// run's id added to its details as `run`.
    async fn update_run(
        &self,
        tenant: &TenantId,
        run: &RunRecord,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError>;
    async fn get_run(&self, tenant: &TenantId, id: &str) -> Result<Option<RunRecord>, StoreError>;
    async fn child_runs(
        &self,
        tenant: &TenantId,
        parent_run: &str,
        parent_node: &str,
    ) -> Result<Vec<RunRecord>, StoreError>;
    /// Top-level runs not finished, across tenants (for crash recovery).
    async fn unfinished_runs(&self) -> Result<Vec<(TenantId, String)>, StoreError>;
    async fn put_node(
        &self,
        tenant: &TenantId,
        run_id: &str,
        node: &NodeRecord,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError>;
    /// Writes several node records in one transaction.
    async fn put_nodes(&self, tenant: &TenantId, run_id: &str, nodes: &[&NodeRecord]) -> Result<(), StoreError>;
    /// Writes node records and the run record, and adds usage to a day's
    /// (when there is any), in one transaction: how a run ends.
    async fn put_nodes_and_run(
        &self,
        tenant: &TenantId,
        run: &RunRecord,
        nodes: &[&NodeRecord],
        usage: Option<(&str, &crate::quota::Usage)>,
    ) -> Result<(), StoreError>;
    async fn nodes(&self, tenant: &TenantId, run_id: &str) -> Result<Vec<NodeRecord>, StoreError>;
    async fn kv_get(&self, tenant: &TenantId, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets a value if the tenant's kv total stays within `quota_bytes`;
    /// returns the bytes in use otherwise.
    async fn kv_set(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
        value: &[u8],
        quota_bytes: u64,
    ) -> Result<Result<(), u64>, StoreError>;
    async fn kv_delete(&self, tenant: &TenantId, plugin: &str, key: &str) -> Result<(), StoreError>;
    async fn get_workflow(
        &self,
        tenant: &TenantId,
        id: &str,
        version: Option<i64>,
    ) -> Result<Option<(i64, Value)>, StoreError>;
    /// Workflow ids with their latest version.
    async fn list_workflows(&self, tenant: &TenantId) -> Result<Vec<(String, i64)>, StoreError>;
    /// Version numbers of a workflow with their creation times, oldest first.
    async fn workflow_versions(&self, tenant: &TenantId, id: &str) -> Result<Vec<(i64, i64)>, StoreError>;
    /// Deletes every version; runs keep the document they ran. `false` when
    /// there was no such workflow.
    async fn delete_workflow(
        &self,
        tenant: &TenantId,
        id: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError>;
    /// Top-level runs, newest first, as the filter says, after a cursor
    /// (the id of the last run of the previous page; ids are time-ordered).
    async fn list_runs(
        &self,
        tenant: &TenantId,
        filter: &RunFilter<'_>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError>;

    /// Creates a tenant with its owner, first API key and first installs
    /// in one transaction; `false` when the owner's email is already taken.
    async fn create_tenant(&self, seed: &TenantSeed<'_>) -> Result<bool, StoreError>;
    /// Whether any tenant exists (what `trellis serve` tells at start).
    async fn has_tenants(&self) -> Result<bool, StoreError>;
    /// Sign-in lookup, before any tenant is known.
    async fn member_by_email(&self, email: &str) -> Result<Option<(TenantId, Member, String)>, StoreError>;
    async fn member(&self, tenant: &TenantId, id: &str) -> Result<Option<Member>, StoreError>;
    /// API key lookup by hash, before any tenant is known.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<(TenantId, ApiKey)>, StoreError>;
    /// `audit`, when given, is written in the same transaction (as in every
    /// write that takes one).
    async fn insert_api_key(
        &self,
        tenant: &TenantId,
        key: &ApiKey,
        key_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError>;
    async fn insert_refresh_token(
        &self,
        tenant: &TenantId,
        member_id: &str,
        family: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// Marks a refresh token used; a second use revokes its whole family.
    async fn use_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshUse, StoreError>;
    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes a key and every key created with it, down the chain; `false`
    /// when the tenant has no such key.
    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        id: &str,
        now: i64,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError>;
    /// Adds a member; `false` when the email is taken.
    async fn insert_member(
        &self,
        tenant: &TenantId,
        member: &Member,
        password_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError>;
    async fn list_members(&self, tenant: &TenantId) -> Result<Vec<Member>, StoreError>;
    async fn insert_audit(&self, tenant: &TenantId, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first, before the cursor id.
    async fn list_audit(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

/// Everything a database behind the store implements, one trait per area.
pub trait Backend:
    StoreBackend + MemberBackend + SecretBackend + TriggerBackend + QuotaBackend + InstallBackend + LlmBackend
{
}

impl<T> Backend for T where
    T: StoreBackend + MemberBackend + SecretBackend + TriggerBackend + QuotaBackend + InstallBackend + LlmBackend
{
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

/// The database, shared by all tenants.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Store { backend }
    }

    /// Commits of the hot-path writer and the writes they carried.
    pub fn commits(&self) -> (u64, u64) {
        self.backend.commits()
    }

    /// Opens (creating and migrating) the SQLite database in `data_dir`.
    pub async fn open_sqlite(data_dir: &std::path::Path) -> Result<Self, StoreError> {
        Ok(Store::new(Arc::new(SqliteBackend::open(data_dir).await?)))
    }

    pub fn tenant(&self, tenant: TenantId) -> TenantStore {
        TenantStore { backend: self.backend.clone(), tenant, audit: None }
    }

    /// Operator action: a new tenant with its owner, first API key and the
    /// plugins every tenant starts with.
    pub async fn create_tenant(&self, seed: &TenantSeed<'_>) -> Result<bool, StoreError> {
        self.backend.create_tenant(seed).await
    }

    pub async fn has_tenants(&self) -> Result<bool, StoreError> {
        self.backend.has_tenants().await
    }

    pub async fn member_by_email(&self, email: &str) -> Result<Option<(TenantId, Member, String)>, StoreError> {
        self.backend.member_by_email(email).await
    }

    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<(TenantId, ApiKey)>, StoreError> {
        self.backend.api_key_by_hash(key_hash).await
    }

    pub async fn use_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshUse, StoreError> {
        self.backend.use_refresh_token(token_hash, now).await
    }

    /// Operator action: replaces a tenant's plan; `false` when there is no such tenant.
    pub async fn set_plan(&self, tenant: &TenantId, plan: &crate::quota::Plan) -> Result<bool, StoreError> {
        self.backend.set_plan(tenant, &serde_json::to_value(plan)?).await
    }

    /// Changes only the quotas `changes` names in the tenant's own plan;
    /// the others keep following the operator's defaults. `Ok(None)` when
    /// there is no such tenant; the plan as it now applies otherwise.
    pub async fn change_plan(
        &self,
        tenant: &TenantId,
        changes: serde_json::Map<String, serde_json::Value>,
        defaults: &crate::quota::Plan,
    ) -> Result<Option<crate::quota::Plan>, StoreError> {
        let mut own = match self.backend.plan(tenant).await? {
            None => return Ok(None),
            Some(Some(serde_json::Value::Object(own))) => own,
            Some(_) => serde_json::Map::new(),
        };
        own.extend(changes);
        let own = serde_json::Value::Object(own);
        // Checked whole (unknown quotas, bad values) before anything is stored.
        let mut applied = serde_json::to_value(defaults)?;
        if let (Some(fields), Some(named)) = (applied.as_object_mut(), own.as_object()) {
            fields.extend(named.clone());
        }
        let applied: crate::quota::Plan = serde_json::from_value(applied)?;
        self.backend.set_plan(tenant, &own).await?;
        Ok(Some(applied))
    }

    /// The workflow a hook token starts, before any tenant is known.
    pub async fn webhook_by_token(&self, token: &str) -> Result<Option<(TenantId, String)>, StoreError> {
        self.backend.webhook_by_token(token).await
    }

    /// Cron schedules of every tenant due at `now` (for the scheduler).
    pub async fn due_crons(&self, now: i64, limit: u32) -> Result<Vec<(TenantId, CronSchedule)>, StoreError> {
        self.backend.due_crons(now, limit).await
    }

    /// Unfinished top-level runs of every tenant: what a restarted engine resumes.
    pub async fn unfinished_runs(&self) -> Result<Vec<(TenantId, String)>, StoreError> {
        self.backend.unfinished_runs().await
    }
}

/// The store seen by one tenant: every call is scoped to it.
#[derive(Clone)]
pub struct TenantStore {
    backend: Arc<dyn Backend>,
    tenant: TenantId,
    /// What the writes through this handle are audited as, written in each
    /// write's own transaction.
    audit: Option<Arc<AuditEntry>>,
}

impl TenantStore {
    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// This handle, with its writes audited as `action` on `target` by
    /// `principal`, in the transaction of each write.
    pub fn audited(&self, principal: &str, action: &str, target: &str, details: serde_json::Value) -> TenantStore {
        let entry = AuditEntry::now(principal, action, target, details);
        TenantStore { audit: Some(Arc::new(entry)), ..self.clone() }
    }

    fn audit_entry(&self) -> Option<&AuditEntry> {
        self.audit.as_deref()
    }

    /// Inserts a run unless one with its id exists; returns whether it did.
    pub async fn insert_run(&self, run: &RunRecord) -> Result<bool, StoreError> {
        self.backend.insert_run(&self.tenant, run).await
    }

    pub async fn update_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.backend.update_run(&self.tenant, run, self.audit_entry()).await
    }

    pub async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        self.backend.get_run(&self.tenant, id).await
    }

    pub async fn child_runs(&self, parent_run: &str, parent_node: &str) -> Result<Vec<RunRecord>, StoreError> {
        self.backend.child_runs(&self.tenant, parent_run, parent_node).await
    }

    pub async fn put_node(&self, run_id: &str, node: &NodeRecord) -> Result<(), StoreError> {
        self.backend.put_node(&self.tenant, run_id, node, self.audit_entry()).await
    }

    pub async fn put_nodes(&self, run_id: &str, nodes: &[&NodeRecord]) -> Result<(), StoreError> {
        self.backend.put_nodes(&self.tenant, run_id, nodes).await
    }

    pub async fn put_nodes_and_run(
        &self,
        run: &RunRecord,
        nodes: &[&NodeRecord],
        usage: Option<(&str, &crate::quota::Usage)>,
    ) -> Result<(), StoreError> {
        self.backend.put_nodes_and_run(&self.tenant, run, nodes, usage).await
    }

    pub async fn nodes(&self, run_id: &str) -> Result<Vec<NodeRecord>, StoreError> {
        self.backend.nodes(&self.tenant, run_id).await
    }

    /// A kv namespace for one plugin in this tenant, for the sandbox.
    pub fn kv(&self, plugin: &str, quota_bytes: u64) -> StoreKv {
        StoreKv::new(self.backend.clone(), self.tenant.clone(), plugin.to_owned(), quota_bytes)
    }

    /// Saves a new version of a (validated) workflow and makes the
    /// workflow's triggers those of it, in one transaction; returns the
    /// version's number.
    pub async fn save_workflow(&self, workflow: &Workflow, triggers: &TriggerPlan) -> Result<i64, StoreError> {
        self.backend.save_workflow(&self.tenant, &serde_json::to_value(workflow)?, triggers, self.audit_entry()).await
    }

    pub async fn webhook_token(&self, workflow_id: &str) -> Result<Option<String>, StoreError> {
        self.backend.webhook_token(&self.tenant, workflow_id).await
    }

    pub async fn cron_schedules(&self, workflow_id: &str) -> Result<Vec<CronSchedule>, StoreError> {
        self.backend.cron_schedules(&self.tenant, workflow_id).await
    }

    pub async fn advance_cron(&self, workflow_id: &str, index: i64, from: i64, to: i64) -> Result<bool, StoreError> {
        self.backend.advance_cron(&self.tenant, workflow_id, index, from, to).await
    }

    pub async fn list_workflows(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.backend.list_workflows(&self.tenant).await
    }

    pub async fn workflow_versions(&self, id: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        self.backend.workflow_versions(&self.tenant, id).await
    }

    pub async fn delete_workflow(&self, id: &str) -> Result<bool, StoreError> {
        self.backend.delete_workflow(&self.tenant, id, self.audit_entry()).await
    }

    pub async fn list_runs(
        &self,
        filter: &RunFilter<'_>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        self.backend.list_runs(&self.tenant, filter, before, limit).await
    }

    pub async fn member(&self, id: &str) -> Result<Option<Member>, StoreError> {
        self.backend.member(&self.tenant, id).await
    }

    pub async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError> {
        self.backend.insert_api_key(&self.tenant, key, key_hash, self.audit_entry()).await
    }

    pub async fn insert_refresh_token(
        &self,
        member_id: &str,
        family: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.backend.insert_refresh_token(&self.tenant, member_id, family, token_hash, expires_at).await
    }

    pub async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.backend.list_api_keys(&self.tenant).await
    }

    pub async fn revoke_api_key(&self, id: &str) -> Result<bool, StoreError> {
        self.backend.revoke_api_key(&self.tenant, id, now_ms(), self.audit_entry()).await
    }

    pub async fn insert_member(&self, member: &Member, password_hash: &str) -> Result<bool, StoreError> {
        self.backend.insert_member(&self.tenant, member, password_hash, self.audit_entry()).await
    }

    pub async fn list_members(&self) -> Result<Vec<Member>, StoreError> {
        self.backend.list_members(&self.tenant).await
    }

    pub async fn set_member_role(&self, id: &str, role: Role) -> Result<bool, StoreError> {
        self.backend.set_member_role(&self.tenant, id, role, self.audit_entry()).await
    }

    pub async fn add_usage(&self, day: &str, usage: &crate::quota::Usage) -> Result<(), StoreError> {
        self.backend.add_usage(&self.tenant, day, usage).await
    }

    pub async fn password_hash(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.backend.password_hash(&self.tenant, id).await
    }

    pub async fn set_password(&self, id: &str, password_hash: &str) -> Result<bool, StoreError> {
        self.backend.set_password(&self.tenant, id, password_hash, self.audit_entry()).await
    }

    pub async fn delete_member(&self, id: &str) -> Result<bool, StoreError> {
        self.backend.delete_member(&self.tenant, id, self.audit_entry()).await
    }

    pub async fn count_owners(&self) -> Result<u64, StoreError> {
        self.backend.count_owners(&self.tenant).await
    }

    /// Appends to the tenant's audit log.
    pub async fn audit(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.backend.insert_audit(&self.tenant, &AuditEntry::now(principal, action, target, details)).await
    }

    pub async fn wrapped_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.wrapped_key(&self.tenant).await
    }

    pub async fn insert_wrapped_key(&self, wrapped: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.backend.insert_wrapped_key(&self.tenant, wrapped).await
    }

    pub async fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<(), StoreError> {
        self.backend.put_secret(&self.tenant, name, sealed, self.audit_entry()).await
    }

    pub async fn sealed_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.sealed_secret(&self.tenant, name).await
    }

    pub async fn secret_names(&self) -> Result<Vec<SecretName>, StoreError> {
        self.backend.secret_names(&self.tenant).await
    }

    pub async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        self.backend.delete_secret(&self.tenant, name, self.audit_entry()).await
    }

    pub async fn plugin_grants(&self, plugin: &str) -> Result<PluginGrants, StoreError> {
        self.backend.plugin_grants(&self.tenant, plugin).await
    }

    pub async fn put_plugin_grants(&self, plugin: &str, grants: &PluginGrants) -> Result<(), StoreError> {
        self.backend.put_plugin_grants(&self.tenant, plugin, grants, self.audit_entry()).await
    }

    pub async fn installs(&self) -> Result<Vec<PluginInstall>, StoreError> {
        self.backend.installs(&self.tenant).await
    }

    pub async fn install(&self, plugin: &str) -> Result<Option<PluginInstall>, StoreError> {
        Ok(self.backend.installs(&self.tenant).await?.into_iter().find(|i| i.plugin == plugin))
    }

    pub async fn installs_with_grants(&self) -> Result<Vec<(PluginInstall, PluginGrants)>, StoreError> {
        self.backend.installs_with_grants(&self.tenant).await
    }

    pub async fn put_install(&self, install: &PluginInstall, grants: &PluginGrants) -> Result<(), StoreError> {
        self.backend.put_install(&self.tenant, install, grants, self.audit_entry()).await
    }

    pub async fn delete_install(&self, plugin: &str) -> Result<bool, StoreError> {
        self.backend.delete_install(&self.tenant, plugin, self.audit_entry()).await
    }

    /// The tenant's plan: the default plan when none was set, no limits at
    /// all for a tenant without a record (the local user of `trellis run`,
    /// bound only by the engine's own limits).
    pub async fn plan(&self) -> Result<crate::quota::Plan, StoreError> {
        self.plan_over(&crate::quota::Plan::default()).await
    }

    /// The tenant's plan, each quota it leaves out taken from `defaults`
    /// (the operator's).
    pub async fn plan_over(&self, defaults: &crate::quota::Plan) -> Result<crate::quota::Plan, StoreError> {
        match self.backend.plan(&self.tenant).await? {
            Some(Some(serde_json::Value::Object(own))) => {
                let mut merged = serde_json::to_value(defaults)?;
                if let Some(fields) = merged.as_object_mut() {
                    fields.extend(own);
                }
                Ok(serde_json::from_value(merged)?)
            }
            Some(Some(plan)) => Ok(serde_json::from_value(plan)?),
            Some(None) => Ok(defaults.clone()),
            None => Ok(crate::quota::Plan::unlimited()),
        }
    }

    /// Records a new top-level run if the run quotas allow it.
    pub async fn admit_run(&self, run: &RunRecord, day: &str, quotas: RunQuotas) -> Result<Admission, StoreError> {
        self.backend.admit_run(&self.tenant, run, day, quotas).await
    }

    pub async fn usage(&self, from: &str, to: &str) -> Result<Vec<(String, crate::quota::Usage)>, StoreError> {
        self.backend.usage(&self.tenant, from, to).await
    }

    pub async fn llm_providers(&self) -> Result<Vec<LlmProviderRow>, StoreError> {
        self.backend.llm_providers(&self.tenant).await
    }

    pub async fn put_llm_provider(&self, row: &LlmProviderRow, keep_key: bool) -> Result<(), StoreError> {
        self.backend.put_llm_provider(&self.tenant, row, keep_key, self.audit_entry()).await
    }

    pub async fn delete_llm_provider(&self, name: &str) -> Result<bool, StoreError> {
        self.backend.delete_llm_provider(&self.tenant, name, self.audit_entry()).await
    }

    pub async fn add_llm_usage(&self, day: &str, call: &ModelUsage) -> Result<(), StoreError> {
        self.backend.add_llm_usage(&self.tenant, day, call).await
    }

    pub async fn llm_usage(&self, from: &str, to: &str) -> Result<Vec<ModelUsage>, StoreError> {
        self.backend.llm_usage(&self.tenant, from, to).await
    }

    pub async fn workflow_count(&self) -> Result<u64, StoreError> {
        self.backend.workflow_count(&self.tenant).await
    }

    pub async fn list_audit(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.backend.list_audit(&self.tenant, before, limit).await
    }

    /// A saved workflow: the given version, or the latest.
    pub async fn get_workflow(&self, id: &str, version: Option<i64>) -> Result<Option<(i64, Workflow)>, StoreError> {
        match self.backend.get_workflow(&self.tenant, id, version).await? {
            Some((version, document)) => Ok(Some((version, serde_json::from_value(document)?))),
            None => Ok(None),
        }
    }
}
