//! Workflow versions; saving one applies its triggers in the same
//! transaction.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::Row;
use trellis_store_api::{StoreError, TriggerPlan, WorkflowStore, now_ms};

use crate::audit::{with_detail, write_audit};
use crate::{PgTenant, count, decode};

#[async_trait]
impl WorkflowStore for PgTenant {
    async fn workflow_document(&self, id: &str, version: Option<i64>) -> Result<Option<(i64, Value)>, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT version, document FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2
             AND ($3::BIGINT IS NULL OR version = $3) ORDER BY version DESC LIMIT 1",
        )
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|r| Ok((r.get::<i64, _>(0), decode(r.get::<&str, _>(1))?))).transpose()
    }

    async fn save_workflow_document(&self, workflow: &Value, triggers: &TriggerPlan) -> Result<i64, StoreError> {
        let id = workflow["id"].as_str().unwrap_or_default();
        let mut tx = self.begin().await?;
        // Saves of one workflow are serialised by the lock on its latest
        // version's row; the first version has none, and a concurrent first
        // save fails on the primary key instead of sharing a number.
        let latest: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2
             ORDER BY version DESC LIMIT 1 FOR UPDATE",
        )
        .bind(self.tenant.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let version = latest.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO workflow_versions (tenant_id, workflow_id, version, document, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(self.tenant.as_str())
        .bind(id)
        .bind(version)
        .bind(serde_json::to_string(workflow)?)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        crate::triggers::apply(&mut tx, &self.tenant, id, triggers).await?;
        let audit = with_detail(self.audit.as_deref(), "version", version.into());
        write_audit(&mut tx, &self.tenant, audit.as_ref()).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn list_workflows(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT workflow_id, MAX(version) FROM workflow_versions WHERE tenant_id = $1 GROUP BY workflow_id
             ORDER BY workflow_id",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect())
    }

    async fn workflow_versions(&self, id: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT version, created_at FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2
             ORDER BY version",
        )
        .bind(self.tenant.as_str())
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1))).collect())
    }

    async fn delete_workflow(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM workflow_versions WHERE tenant_id = $1 AND workflow_id = $2")
            .bind(self.tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        crate::triggers::delete_triggers(&mut tx, &self.tenant, id).await?;
        if deleted > 0 {
            write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }

    async fn workflow_count(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let workflows: i64 =
            sqlx::query_scalar("SELECT COUNT(DISTINCT workflow_id) FROM workflow_versions WHERE tenant_id = $1")
                .bind(self.tenant.as_str())
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(count(workflows))
    }
}
