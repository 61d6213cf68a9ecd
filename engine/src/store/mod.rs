//! Durable state. The contract (records, the tenant-bound traits, the
//! error) is the `trellis-store-api` crate; the databases are sibling
//! crates. This module opens one and adds what needs the engine's own
//! types: workflows as [`Workflow`] and plans as [`Plan`].

use std::sync::Arc;

pub use trellis_store_api::*;
pub use trellis_store_sqlite::SqliteBackend;

use crate::quota::Plan;
use crate::workflow::Workflow;

/// The traits for method calls on a [`Store`] or a [`TenantStore`].
pub mod prelude {
    pub use super::{StorePlans, TenantDocuments};
    pub use trellis_store_api::prelude::*;
}

/// Opens (creating and migrating) the SQLite database in `data_dir`.
pub async fn open_sqlite(data_dir: &std::path::Path) -> Result<Store, StoreError> {
    Ok(Arc::new(SqliteBackend::open(data_dir).await?))
}

/// Connects to a migrated PostgreSQL database (`trellis migrate`) as the
/// server's role, under row-level security.
pub async fn open_postgres(
    options: sqlx::postgres::PgConnectOptions,
    max_connections: u32,
) -> Result<Store, StoreError> {
    Ok(Arc::new(trellis_store_postgres::PostgresBackend::connect(options, max_connections).await?))
}

/// The store the engine's and API's test suites run on: SQLite in `dir`,
/// or, with `TRELLIS_TEST_STORE=postgres`, a new schema of its own on the
/// server of `TRELLIS_TEST_POSTGRES_URL`, migrated and reached as the
/// server's role. Without that URL it says so and uses SQLite.
pub async fn open_for_tests(dir: &std::path::Path) -> Result<Store, StoreError> {
    use sqlx::{Connection, Executor};
    let wanted = std::env::var("TRELLIS_TEST_STORE").unwrap_or_default();
    let url = std::env::var("TRELLIS_TEST_POSTGRES_URL").ok();
    let (true, Some(url)) = (wanted == "postgres", url) else {
        if wanted == "postgres" {
            eprintln!("TRELLIS_TEST_POSTGRES_URL is not set: this suite runs on SQLite");
        }
        return open_sqlite(dir).await;
    };
    let now = now_ms() / 1000;
    let schema = format!("suite_{now}_{}", uuid::Uuid::new_v4().simple());
    let base: sqlx::postgres::PgConnectOptions = url.parse()?;
    let mut admin = sqlx::PgConnection::connect_with(&base).await?;
    // Schemas of earlier runs (named with their creation second) are
    // dropped once an hour old, so the test database does not grow.
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::TEXT FROM pg_namespace
          WHERE nspname ~ '^(suite|conformance|rls|cli|bench)_[0-9]+_' AND split_part(nspname, '_', 2)::BIGINT < $1",
    )
    .bind(now - 3600)
    .fetch_all(&mut admin)
    .await?;
    for old in stale {
        // Another suite may be dropping the same one.
        let _ = admin.execute(format!("DROP SCHEMA IF EXISTS {old} CASCADE").as_str()).await;
    }
    admin.execute(format!("CREATE SCHEMA {schema}").as_str()).await?;
    admin.close().await?;
    let options = base.options([("search_path", schema.as_str())]);
    trellis_store_postgres::migrate(&options).await?;
    open_postgres(options, 16).await
}

/// A tenant's workflows and plan as the engine's types.
#[async_trait::async_trait]
pub trait TenantDocuments {
    /// A saved workflow: the given version, or the latest.
    async fn get_workflow(&self, id: &str, version: Option<i64>) -> Result<Option<(i64, Workflow)>, StoreError>;
    /// Saves a new version of a (validated) workflow and makes the
    /// workflow's triggers those of it, in one transaction; returns the
    /// version's number.
    async fn save_workflow(&self, workflow: &Workflow, triggers: &TriggerPlan) -> Result<i64, StoreError>;
    /// The tenant's plan: the default plan when none was set, no limits at
    /// all for a tenant without a record (the local user of `trellis run`,
    /// bound only by the engine's own limits).
    async fn plan(&self) -> Result<Plan, StoreError>;
    /// The tenant's plan, each quota it leaves out taken from `defaults`
    /// (the operator's).
    async fn plan_over(&self, defaults: &Plan) -> Result<Plan, StoreError>;
    async fn install(&self, plugin: &str) -> Result<Option<PluginInstall>, StoreError>;
    /// Appends to the tenant's audit log.
    async fn audit(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError>;
}

#[async_trait::async_trait]
impl TenantDocuments for TenantStore {
    async fn get_workflow(&self, id: &str, version: Option<i64>) -> Result<Option<(i64, Workflow)>, StoreError> {
        match self.workflow_document(id, version).await? {
            Some((version, document)) => Ok(Some((version, serde_json::from_value(document)?))),
            None => Ok(None),
        }
    }

    async fn save_workflow(&self, workflow: &Workflow, triggers: &TriggerPlan) -> Result<i64, StoreError> {
        self.save_workflow_document(&serde_json::to_value(workflow)?, triggers).await
    }

    async fn plan(&self) -> Result<Plan, StoreError> {
        self.plan_over(&Plan::default()).await
    }

    async fn plan_over(&self, defaults: &Plan) -> Result<Plan, StoreError> {
        match self.stored_plan().await? {
            Some(Some(serde_json::Value::Object(own))) => {
                let mut merged = serde_json::to_value(defaults)?;
                if let Some(fields) = merged.as_object_mut() {
                    fields.extend(own);
                }
                Ok(serde_json::from_value(merged)?)
            }
            Some(Some(plan)) => Ok(serde_json::from_value(plan)?),
            Some(None) => Ok(defaults.clone()),
            None => Ok(Plan::unlimited()),
        }
    }

    async fn install(&self, plugin: &str) -> Result<Option<PluginInstall>, StoreError> {
        Ok(self.installs().await?.into_iter().find(|i| i.plugin == plugin))
    }

    async fn audit(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        details: serde_json::Value,
    ) -> Result<(), StoreError> {
        self.insert_audit(&AuditEntry::now(principal, action, target, details)).await
    }
}

/// The operator's plan changes, as the engine's [`Plan`].
#[async_trait::async_trait]
pub trait StorePlans {
    /// Replaces a tenant's plan; `false` when there is no such tenant.
    async fn set_plan(&self, tenant: &TenantId, plan: &Plan) -> Result<bool, StoreError>;
    /// Changes only the quotas `changes` names in the tenant's own plan;
    /// the others keep following the operator's defaults. `Ok(None)` when
    /// there is no such tenant; the plan as it now applies otherwise.
    async fn change_plan(
        &self,
        tenant: &TenantId,
        changes: serde_json::Map<String, serde_json::Value>,
        defaults: &Plan,
    ) -> Result<Option<Plan>, StoreError>;
}

#[async_trait::async_trait]
impl StorePlans for Store {
    async fn set_plan(&self, tenant: &TenantId, plan: &Plan) -> Result<bool, StoreError> {
        let set = self.tenant(tenant.clone()).set_plan(&serde_json::to_value(plan)?).await?;
        self.notify(&Notice::Changed { tenant: tenant.clone(), area: Area::Plan }).await?;
        Ok(set)
    }

    async fn change_plan(
        &self,
        tenant: &TenantId,
        changes: serde_json::Map<String, serde_json::Value>,
        defaults: &Plan,
    ) -> Result<Option<Plan>, StoreError> {
        let store = self.tenant(tenant.clone());
        let mut own = match store.stored_plan().await? {
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
        let applied: Plan = serde_json::from_value(applied)?;
        store.set_plan(&own).await?;
        // The servers sharing the database apply it at their next request.
        self.notify(&Notice::Changed { tenant: tenant.clone(), area: Area::Plan }).await?;
        Ok(Some(applied))
    }
}
