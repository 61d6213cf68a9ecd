use async_trait::async_trait;
use serde_json::Value;
use sqlx::Connection;
use sqlx::{Row, Sqlite, Transaction};

use super::SqliteBackend;
use crate::store::records::now_ms;
use crate::store::triggers::{CronSchedule, TriggerBackend, TriggerPlan};
use crate::store::{AuditEntry, StoreError, TenantId};

fn schedule(row: &sqlx::sqlite::SqliteRow) -> Result<CronSchedule, StoreError> {
    Ok(CronSchedule {
        workflow_id: row.get("workflow_id"),
        index: row.get("trigger_index"),
        expression: row.get("expression"),
        input: serde_json::from_str(row.get::<&str, _>("input"))?,
        next_fire_at: row.get("next_fire_at"),
    })
}

/// Deletes a workflow's triggers (inside the caller's transaction).
pub(super) async fn delete_triggers(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    workflow_id: &str,
) -> Result<(), StoreError> {
    for table in ["webhooks", "cron_schedules"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = ? AND workflow_id = ?"))
            .bind(tenant.as_str())
            .bind(workflow_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn apply(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    workflow_id: &str,
    plan: &TriggerPlan,
) -> Result<(), StoreError> {
    match &plan.webhook_token {
        Some(token) => {
            sqlx::query(
                "INSERT INTO webhooks (token, tenant_id, workflow_id, created_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (tenant_id, workflow_id) DO NOTHING",
            )
            .bind(token)
            .bind(tenant.as_str())
            .bind(workflow_id)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM webhooks WHERE tenant_id = ? AND workflow_id = ?")
                .bind(tenant.as_str())
                .bind(workflow_id)
                .execute(&mut **tx)
                .await?;
        }
    }
    sqlx::query("DELETE FROM cron_schedules WHERE tenant_id = ? AND workflow_id = ? AND trigger_index >= ?")
        .bind(tenant.as_str())
        .bind(workflow_id)
        .bind(plan.crons.len() as i64)
        .execute(&mut **tx)
        .await?;
    for cron in &plan.crons {
        // Same expression: the stored next fire stands, so saving a new
        // version neither skips nor repeats a fire.
        sqlx::query(
            "INSERT INTO cron_schedules (tenant_id, workflow_id, trigger_index, expression, input, next_fire_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, workflow_id, trigger_index) DO UPDATE SET
               input = excluded.input,
               next_fire_at = CASE WHEN cron_schedules.expression = excluded.expression
                                   THEN cron_schedules.next_fire_at ELSE excluded.next_fire_at END,
               expression = excluded.expression",
        )
        .bind(tenant.as_str())
        .bind(workflow_id)
        .bind(cron.index)
        .bind(&cron.expression)
        .bind(serde_json::to_string(&cron.input)?)
        .bind(cron.next_fire_at)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl TriggerBackend for SqliteBackend {
    async fn save_workflow(
        &self,
        tenant: &TenantId,
        workflow: &Value,
        triggers: &TriggerPlan,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, StoreError> {
        let id = workflow["id"].as_str().unwrap_or_default().to_owned();
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let version = super::insert_version(&mut tx, tenant, &id, workflow).await?;
        apply(&mut tx, tenant, &id, triggers).await?;
        if let Some(entry) = audit {
            let mut entry = entry.clone();
            if let Some(details) = entry.details.as_object_mut() {
                details.insert("version".to_owned(), version.into());
            }
            super::write_audit(&mut tx, tenant, Some(&entry)).await?;
        }
        tx.commit().await?;
        Ok(version)
    }

    async fn webhook_token(&self, tenant: &TenantId, workflow_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT token FROM webhooks WHERE tenant_id = ? AND workflow_id = ?")
            .bind(tenant.as_str())
            .bind(workflow_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn webhook_by_token(&self, token: &str) -> Result<Option<(TenantId, String)>, StoreError> {
        let row = sqlx::query("SELECT tenant_id, workflow_id FROM webhooks WHERE token = ?")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (TenantId::new(r.get::<String, _>(0)), r.get(1))))
    }

    async fn cron_schedules(&self, tenant: &TenantId, workflow_id: &str) -> Result<Vec<CronSchedule>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM cron_schedules WHERE tenant_id = ? AND workflow_id = ? ORDER BY trigger_index")
                .bind(tenant.as_str())
                .bind(workflow_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(schedule).collect()
    }

    async fn due_crons(&self, now: i64, limit: u32) -> Result<Vec<(TenantId, CronSchedule)>, StoreError> {
        let rows = sqlx::query("SELECT * FROM cron_schedules WHERE next_fire_at <= ? ORDER BY next_fire_at LIMIT ?")
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok((TenantId::new(r.get::<String, _>("tenant_id")), schedule(r)?))).collect()
    }

    async fn advance_cron(
        &self,
        tenant: &TenantId,
        workflow_id: &str,
        index: i64,
        from: i64,
        to: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE cron_schedules SET next_fire_at = ?
             WHERE tenant_id = ? AND workflow_id = ? AND trigger_index = ? AND next_fire_at = ?",
        )
        .bind(to)
        .bind(tenant.as_str())
        .bind(workflow_id)
        .bind(index)
        .bind(from)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
