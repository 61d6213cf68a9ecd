//! Plans, run admission and daily usage.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::{PgConnection, Row};
use trellis_store_api::{
    Admission, Lease, QuotaExceeded, QuotaStore, RunQuotas, RunRecord, StoreError, TenantId, Usage,
};

use crate::{PgTenant, count, int};

pub(crate) async fn add_usage(
    connection: &mut PgConnection,
    tenant: &TenantId,
    day: &str,
    usage: &Usage,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO usage_daily (tenant_id, day, runs, node_executions, fuel, http_calls, llm_tokens)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (tenant_id, day) DO UPDATE SET
           runs = usage_daily.runs + excluded.runs,
           node_executions = usage_daily.node_executions + excluded.node_executions,
           fuel = usage_daily.fuel + excluded.fuel, http_calls = usage_daily.http_calls + excluded.http_calls,
           llm_tokens = usage_daily.llm_tokens + excluded.llm_tokens",
    )
    .bind(tenant.as_str())
    .bind(day)
    .bind(int(usage.runs))
    .bind(int(usage.node_executions))
    .bind(int(usage.fuel))
    .bind(int(usage.http_calls))
    .bind(int(usage.llm_tokens))
    .execute(connection)
    .await?;
    Ok(())
}

#[async_trait]
impl QuotaStore for PgTenant {
    async fn stored_plan(&self) -> Result<Option<Option<Value>>, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT plan FROM tenants WHERE id = $1")
            .bind(self.tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        match row.map(|r| r.get::<Option<String>, _>(0)) {
            Some(Some(text)) => Ok(Some(Some(serde_json::from_str(&text)?))),
            Some(None) => Ok(Some(None)),
            None => Ok(None),
        }
    }

    async fn set_plan(&self, plan: &Value) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query("UPDATE tenants SET plan = $1 WHERE id = $2")
            .bind(serde_json::to_string(plan)?)
            .bind(self.tenant.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Admissions of one tenant are serialised by a transaction-scoped
    /// advisory lock, so processes admitting at once cannot both take the
    /// last slot; other tenants' admissions do not wait.
    async fn admit_run(
        &self,
        run: &RunRecord,
        day: &str,
        quotas: RunQuotas,
        lease: Option<Lease<'_>>,
    ) -> Result<Admission, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("admit:{}", self.tenant.as_str()))
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE tenant_id = $1 AND id = $2),
                    (SELECT COUNT(*) FROM runs WHERE tenant_id = $1 AND status IN ('pending', 'running') AND parked_until IS NULL),
                    COALESCE((SELECT runs FROM usage_daily WHERE tenant_id = $1 AND day = $3), 0)",
        )
        .bind(self.tenant.as_str())
        .bind(&run.id)
        .bind(day)
        .fetch_one(&mut *tx)
        .await?;
        let (exists, active, today): (bool, i64, i64) = (row.get(0), row.get(1), row.get(2));
        if exists {
            return Ok(Admission::Exists);
        }
        let checked = QuotaExceeded::check("concurrent_runs", quotas.concurrent_runs, count(active))
            .and_then(|()| QuotaExceeded::check("runs_per_day", quotas.runs_per_day, count(today)));
        if let Err(exceeded) = checked {
            return Ok(Admission::Refused(exceeded));
        }
        // The `runs_after_insert` trigger counts it in the day's usage.
        crate::runs::insert_run(&mut tx, &self.tenant, run, lease).await?;
        tx.commit().await?;
        Ok(Admission::Admitted)
    }

    async fn usage(&self, from: &str, to: &str) -> Result<Vec<(String, Usage)>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT day, runs, node_executions, fuel, http_calls, llm_tokens FROM usage_daily
             WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY day",
        )
        .bind(self.tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
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

    async fn add_usage(&self, day: &str, usage: &Usage) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        add_usage(&mut tx, &self.tenant, day, usage).await?;
        tx.commit().await?;
        Ok(())
    }
}
