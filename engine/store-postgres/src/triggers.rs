//! Webhook tokens and cron schedules.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use trellis_store_api::{CronSchedule, StoreError, TenantId, TriggerPlan, TriggerStore, now_ms};

use crate::PgTenant;

/// A schedule from a row whose `trigger_index` is read as BIGINT.
pub(crate) fn schedule(row: &PgRow) -> Result<CronSchedule, StoreError> {
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
    connection: &mut PgConnection,
    tenant: &TenantId,
    workflow_id: &str,
) -> Result<(), StoreError> {
    for table in ["webhooks", "cron_schedules"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND workflow_id = $2"))
            .bind(tenant.as_str())
            .bind(workflow_id)
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
}

/// Makes a workflow's triggers those of `plan` (inside the caller's
/// transaction).
pub(crate) async fn apply(
    connection: &mut PgConnection,
    tenant: &TenantId,
    workflow_id: &str,
    plan: &TriggerPlan,
) -> Result<(), StoreError> {
    match &plan.webhook_token {
        Some(token) => {
            sqlx::query(
                "INSERT INTO webhooks (token, tenant_id, workflow_id, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant_id, workflow_id) DO NOTHING",
            )
            .bind(token)
            .bind(tenant.as_str())
            .bind(workflow_id)
            .bind(now_ms())
            .execute(&mut *connection)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM webhooks WHERE tenant_id = $1 AND workflow_id = $2")
                .bind(tenant.as_str())
                .bind(workflow_id)
                .execute(&mut *connection)
                .await?;
        }
    }
    sqlx::query("DELETE FROM cron_schedules WHERE tenant_id = $1 AND workflow_id = $2 AND trigger_index >= $3")
        .bind(tenant.as_str())
        .bind(workflow_id)
        .bind(plan.crons.len() as i64)
        .execute(&mut *connection)
        .await?;
    for cron in &plan.crons {
        // Same expression: the stored next fire stands, so saving a new
        // version neither skips nor repeats a fire.
        sqlx::query(
            "INSERT INTO cron_schedules (tenant_id, workflow_id, trigger_index, expression, input, next_fire_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, workflow_id, trigger_index) DO UPDATE SET
               input = excluded.input,
               next_fire_at = CASE WHEN cron_schedules.expression = excluded.expression
                                   THEN cron_schedules.next_fire_at ELSE excluded.next_fire_at END,
               expression = excluded.expression",
        )
        .bind(tenant.as_str())
        .bind(workflow_id)
        .bind(i32::try_from(cron.index).unwrap_or(i32::MAX))
        .bind(&cron.expression)
        .bind(serde_json::to_string(&cron.input)?)
        .bind(cron.next_fire_at)
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl TriggerStore for PgTenant {
    async fn webhook_token(&self, workflow_id: &str) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin().await?;
        let token = sqlx::query_scalar("SELECT token FROM webhooks WHERE tenant_id = $1 AND workflow_id = $2")
            .bind(self.tenant.as_str())
            .bind(workflow_id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn cron_schedules(&self, workflow_id: &str) -> Result<Vec<CronSchedule>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT workflow_id, trigger_index::BIGINT AS trigger_index, expression, input, next_fire_at
               FROM cron_schedules WHERE tenant_id = $1 AND workflow_id = $2 ORDER BY trigger_index",
        )
        .bind(self.tenant.as_str())
        .bind(workflow_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(schedule).collect()
    }

    async fn advance_cron(&self, workflow_id: &str, index: i64, from: i64, to: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let moved = sqlx::query(
            "UPDATE cron_schedules SET next_fire_at = $1
             WHERE tenant_id = $2 AND workflow_id = $3 AND trigger_index = $4 AND next_fire_at = $5",
        )
        .bind(to)
        .bind(self.tenant.as_str())
        .bind(workflow_id)
        .bind(index)
        .bind(from)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(moved == 1)
    }
}
