use async_trait::async_trait;

use crate::SqliteTenant;
use sqlx::{Row, Sqlite, Transaction};
use trellis_store_api::{CronSchedule, StoreError, TenantId, TriggerPlan, TriggerStore, now_ms};

pub(crate) fn schedule(row: &sqlx::sqlite::SqliteRow) -> Result<CronSchedule, StoreError> {
    Ok(CronSchedule {
        workflow_id: row.get("workflow_id"),
        index: row.get("trigger_index"),
        expression: row.get("expression"),
        input: serde_json::from_str(row.get::<&str, _>("input"))?,
        next_fire_at: row.get("next_fire_at"),
    })
}

/// Deletes a workflow's triggers (inside the caller's transaction).
pub(crate) async fn delete_triggers(
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

pub(crate) async fn apply(
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
impl TriggerStore for SqliteTenant {
    async fn webhook_token(&self, workflow_id: &str) -> Result<Option<String>, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT token FROM webhooks WHERE tenant_id = ? AND workflow_id = ?")
            .bind(tenant.as_str())
            .bind(workflow_id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn cron_schedules(&self, workflow_id: &str) -> Result<Vec<CronSchedule>, StoreError> {
        let tenant = &self.tenant;
        let rows =
            sqlx::query("SELECT * FROM cron_schedules WHERE tenant_id = ? AND workflow_id = ? ORDER BY trigger_index")
                .bind(tenant.as_str())
                .bind(workflow_id)
                .fetch_all(&self.db.pool)
                .await?;
        rows.iter().map(schedule).collect()
    }

    async fn advance_cron(&self, workflow_id: &str, index: i64, from: i64, to: i64) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let result = sqlx::query(
            "UPDATE cron_schedules SET next_fire_at = ?
             WHERE tenant_id = ? AND workflow_id = ? AND trigger_index = ? AND next_fire_at = ?",
        )
        .bind(to)
        .bind(tenant.as_str())
        .bind(workflow_id)
        .bind(index)
        .bind(from)
        .execute(&mut *self.db.writer.lock().await)
        .await?;
        Ok(result.rows_affected() == 1)
    }
}
