//! Workflow versions; saving one applies its triggers in the same
//! transaction.

use async_trait::async_trait;

use crate::{SqliteTenant, decode, write_audit};
use serde_json::Value;
use sqlx::{Connection, Row, Sqlite, Transaction};
use trellis_store_api::{StoreError, TenantId, TriggerPlan, WorkflowStore, now_ms};

#[async_trait]
impl WorkflowStore for SqliteTenant {
    async fn workflow_document(&self, id: &str, version: Option<i64>) -> Result<Option<(i64, Value)>, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query(
            "SELECT version, document FROM workflow_versions WHERE tenant_id = ? AND workflow_id = ?
             AND (? IS NULL OR version = ?) ORDER BY version DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(version)
        .bind(version)
        .fetch_optional(&self.db.pool)
        .await?;
        row.map(|r| Ok((r.get::<i64, _>(0), decode(r.get::<&str, _>(1))?))).transpose()
    }

    async fn list_workflows(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query(
            "SELECT workflow_id, MAX(version) FROM workflow_versions WHERE tenant_id = ? GROUP BY workflow_id
             ORDER BY workflow_id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect())
    }

    async fn workflow_versions(&self, id: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query(
            "SELECT version, created_at FROM workflow_versions WHERE tenant_id = ? AND workflow_id = ? ORDER BY version",
        )
        .bind(tenant.as_str())
        .bind(id)
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1))).collect())
    }

    async fn delete_workflow(&self, id: &str) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query("DELETE FROM workflow_versions WHERE tenant_id = ? AND workflow_id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        crate::triggers::delete_triggers(&mut tx, tenant, id).await?;
        let deleted = result.rows_affected() > 0;
        if deleted {
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn workflow_count(&self) -> Result<u64, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT COUNT(DISTINCT workflow_id) FROM workflow_versions WHERE tenant_id = ?")
            .bind(tenant.as_str())
            .fetch_one(&self.db.pool)
            .await?;
        Ok(crate::quota::count(row.get(0)))
    }

    async fn save_workflow_document(&self, workflow: &Value, triggers: &TriggerPlan) -> Result<i64, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let id = workflow["id"].as_str().unwrap_or_default().to_owned();
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let version = insert_version(&mut tx, tenant, &id, workflow).await?;
        crate::triggers::apply(&mut tx, tenant, &id, triggers).await?;
        if let Some(entry) = audit {
            let mut entry = entry.clone();
            if let Some(details) = entry.details.as_object_mut() {
                details.insert("version".to_owned(), version.into());
            }
            write_audit(&mut tx, tenant, Some(&entry)).await?;
        }
        tx.commit().await?;
        Ok(version)
    }
}

/// Inserts the next version of a workflow; returns its number.
pub(crate) async fn insert_version(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    id: &str,
    workflow: &Value,
) -> Result<i64, StoreError> {
    let next: i64 = sqlx::query(
        "SELECT COALESCE(MAX(version), 0) + 1 FROM workflow_versions WHERE tenant_id = ? AND workflow_id = ?",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_one(&mut **tx)
    .await?
    .get(0);
    sqlx::query(
        "INSERT INTO workflow_versions (tenant_id, workflow_id, version, document, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(tenant.as_str())
    .bind(id)
    .bind(next)
    .bind(serde_json::to_string(workflow)?)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(next)
}
