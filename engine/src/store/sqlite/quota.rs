use async_trait::async_trait;
use serde_json::Value;
use sqlx::Row;

use super::SqliteBackend;
use crate::quota::{QuotaExceeded, Usage};
use crate::store::quota::{Admission, QuotaBackend, RunQuotas};
use crate::store::{RunRecord, StoreError, TenantId};

const ADD_USAGE: &str = "INSERT INTO usage_daily (tenant_id, day, runs, node_executions, fuel, http_calls, llm_tokens)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (tenant_id, day) DO UPDATE SET
       runs = runs + excluded.runs, node_executions = node_executions + excluded.node_executions,
       fuel = fuel + excluded.fuel, http_calls = http_calls + excluded.http_calls,
       llm_tokens = llm_tokens + excluded.llm_tokens";

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// SQLite integers are signed; usage never comes near the top.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[async_trait]
impl QuotaBackend for SqliteBackend {
    async fn plan(&self, tenant: &TenantId) -> Result<Option<Option<Value>>, StoreError> {
        let row = sqlx::query("SELECT plan FROM tenants WHERE id = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await?;
        match row.map(|r| r.get::<Option<String>, _>(0)) {
            Some(Some(text)) => Ok(Some(Some(serde_json::from_str(&text)?))),
            Some(None) => Ok(Some(None)),
            None => Ok(None),
        }
    }

    async fn set_plan(&self, tenant: &TenantId, plan: &Value) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE tenants SET plan = ? WHERE id = ?")
            .bind(serde_json::to_string(plan)?)
            .bind(tenant.as_str())
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn admit_run(
        &self,
        tenant: &TenantId,
        run: &RunRecord,
        day: &str,
        quotas: RunQuotas,
    ) -> Result<Admission, StoreError> {
        let mut tx = self.begin_write().await?;
        let exists = sqlx::query("SELECT 1 FROM runs WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(&run.id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if exists {
            return Ok(Admission::Exists);
        }
        let active: i64 = sqlx::query(
            "SELECT COUNT(*) FROM runs WHERE tenant_id = ? AND status IN ('pending', 'running')
             AND parent_run_id IS NULL",
        )
        .bind(tenant.as_str())
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        if let Err(exceeded) = QuotaExceeded::check("concurrent_runs", quotas.concurrent_runs, count(active)) {
            return Ok(Admission::Refused(exceeded));
        }
        let today: Option<i64> = sqlx::query("SELECT runs FROM usage_daily WHERE tenant_id = ? AND day = ?")
            .bind(tenant.as_str())
            .bind(day)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.get(0));
        if let Err(exceeded) = QuotaExceeded::check("runs_per_day", quotas.runs_per_day, count(today.unwrap_or(0))) {
            return Ok(Admission::Refused(exceeded));
        }
        super::insert_run_row(&mut *tx, tenant, run).await?;
        sqlx::query(ADD_USAGE)
            .bind(tenant.as_str())
            .bind(day)
            .bind(1_i64)
            .bind(0_i64)
            .bind(0_i64)
            .bind(0_i64)
            .bind(0_i64)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Admission::Admitted)
    }

    async fn add_usage(&self, tenant: &TenantId, day: &str, usage: &Usage) -> Result<(), StoreError> {
        sqlx::query(ADD_USAGE)
            .bind(tenant.as_str())
            .bind(day)
            .bind(int(usage.runs))
            .bind(int(usage.node_executions))
            .bind(int(usage.fuel))
            .bind(int(usage.http_calls))
            .bind(int(usage.llm_tokens))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn usage(&self, tenant: &TenantId, from: &str, to: &str) -> Result<Vec<(String, Usage)>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, runs, node_executions, fuel, http_calls, llm_tokens FROM usage_daily
             WHERE tenant_id = ? AND day >= ? AND day <= ? ORDER BY day",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let usage = Usage {
                    runs: count(r.get(1)),
                    node_executions: count(r.get(2)),
                    fuel: count(r.get(3)),
                    http_calls: count(r.get(4)),
                    llm_tokens: count(r.get(5)),
                };
                (r.get(0), usage)
            })
            .collect())
    }

    async fn workflow_count(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(DISTINCT workflow_id) FROM workflow_versions WHERE tenant_id = ?")
            .bind(tenant.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(count(row.get(0)))
    }
}
