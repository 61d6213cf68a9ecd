use async_trait::async_trait;

use crate::{RunRow, SqliteTenant, driver};
use serde_json::Value;
use sqlx::Row;
use trellis_store_api::{Admission, Lease, QuotaExceeded, QuotaStore, RunQuotas, RunRecord, StoreError, Usage};

const ADD_USAGE: &str = "INSERT INTO usage_daily (tenant_id, day, runs, node_executions, fuel, http_calls, llm_tokens)
     VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (tenant_id, day) DO UPDATE SET
       runs = runs + excluded.runs, node_executions = node_executions + excluded.node_executions,
       fuel = fuel + excluded.fuel, http_calls = http_calls + excluded.http_calls,
       llm_tokens = llm_tokens + excluded.llm_tokens";

pub(crate) fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// SQLite integers are signed; usage never comes near the top.
fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

// The checks of admission, written once for the insert that applies them
// and the read that explains a refusal. `?1` is the tenant, `?2` the run id.
macro_rules! run_exists {
    () => {
        "EXISTS (SELECT 1 FROM runs WHERE tenant_id = ?1 AND id = ?2)"
    };
}
macro_rules! active_runs {
    () => {
        "(SELECT COUNT(*) FROM runs WHERE tenant_id = ?1 AND status IN ('pending', 'running') AND parked_until IS NULL)"
    };
}
macro_rules! runs_on_day {
    ($day:literal) => {
        concat!("COALESCE((SELECT runs FROM usage_daily WHERE tenant_id = ?1 AND day = ", $day, "), 0)")
    };
}

pub(crate) fn add_usage(
    connection: &rusqlite::Connection,
    tenant: &str,
    day: &str,
    usage: &Usage,
) -> Result<(), StoreError> {
    connection
        .prepare_cached(ADD_USAGE)
        .map_err(driver)?
        .execute(rusqlite::params![
            tenant,
            day,
            int(usage.runs),
            int(usage.node_executions),
            int(usage.fuel),
            int(usage.http_calls),
            int(usage.llm_tokens)
        ])
        .map_err(driver)?;
    Ok(())
}

/// One statement inserts the run only if it is new and within both quotas
/// (the `runs_count_daily` trigger counts it in the same statement); when
/// it inserted nothing, a read in the same transaction says why.
fn admit(
    connection: &rusqlite::Connection,
    run: &RunRow,
    day: &str,
    quotas: RunQuotas,
    lease: Option<(String, i64)>,
) -> Result<Admission, StoreError> {
    let (claimed_by, lease_until) = lease.unzip();
    let inserted = connection
        .prepare_cached(concat!(
            "INSERT INTO runs (tenant_id, id, workflow_id, status, parent_run_id, parent_node_id, created_at,
                   updated_at, record, claimed_by, lease_until)
                 SELECT ?1, ?2, ?3, ?4, ?11, ?12, ?5, ?6, ?7, ?13, ?14
                 WHERE NOT ",
            run_exists!(),
            " AND ",
            active_runs!(),
            " < ?8 AND ",
            runs_on_day!("?9"),
            " < ?10"
        ))
        .map_err(driver)?
        .execute(rusqlite::params![
            run.tenant,
            run.id,
            run.workflow_id,
            run.status,
            run.created_at,
            run.updated_at,
            run.record,
            int(quotas.concurrent_runs),
            day,
            int(quotas.runs_per_day),
            run.parent_run_id,
            run.parent_node_id,
            claimed_by,
            lease_until
        ])
        .map_err(driver)?;
    if inserted == 1 {
        return Ok(Admission::Admitted);
    }
    let (exists, active, today): (bool, i64, i64) = connection
        .prepare_cached(concat!("SELECT ", run_exists!(), ", ", active_runs!(), ", ", runs_on_day!("?3")))
        .map_err(driver)?
        .query_row(rusqlite::params![run.tenant, run.id, day], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(driver)?;
    if exists {
        return Ok(Admission::Exists);
    }
    let checked = QuotaExceeded::check("concurrent_runs", quotas.concurrent_runs, count(active))
        .and_then(|()| QuotaExceeded::check("runs_per_day", quotas.runs_per_day, count(today)));
    Ok(match checked {
        Err(exceeded) => Admission::Refused(exceeded),
        // Unreachable inside one transaction; refuse rather than guess.
        Ok(()) => Admission::Refused(QuotaExceeded {
            quota: "concurrent_runs",
            limit: quotas.concurrent_runs,
            used: count(active),
        }),
    })
}

#[async_trait]
impl QuotaStore for SqliteTenant {
    async fn stored_plan(&self) -> Result<Option<Option<Value>>, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT plan FROM tenants WHERE id = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.db.pool)
            .await?;
        match row.map(|r| r.get::<Option<String>, _>(0)) {
            Some(Some(text)) => Ok(Some(Some(serde_json::from_str(&text)?))),
            Some(None) => Ok(Some(None)),
            None => Ok(None),
        }
    }

    async fn set_plan(&self, plan: &Value) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let result = sqlx::query("UPDATE tenants SET plan = ? WHERE id = ?")
            .bind(serde_json::to_string(plan)?)
            .bind(tenant.as_str())
            .execute(&mut *self.db.writer.lock().await)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn admit_run(
        &self,
        run: &RunRecord,
        day: &str,
        quotas: RunQuotas,
        lease: Option<Lease<'_>>,
    ) -> Result<Admission, StoreError> {
        let tenant = &self.tenant;
        let row = RunRow::new(tenant, run)?;
        let day = day.to_owned();
        let lease = lease.map(|lease| (lease.worker.to_owned(), lease.until));
        self.db.writes.write(move |connection| admit(connection, &row, &day, quotas, lease)).await
    }

    async fn usage(&self, from: &str, to: &str) -> Result<Vec<(String, Usage)>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query(
            "SELECT day, runs, node_executions, fuel, http_calls, llm_tokens FROM usage_daily
             WHERE tenant_id = ? AND day >= ? AND day <= ? ORDER BY day",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.db.pool)
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

    async fn add_usage(&self, day: &str, usage: &Usage) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let (tenant, day, usage) = (tenant.as_str().to_owned(), day.to_owned(), *usage);
        self.db.writes.write(move |connection| add_usage(connection, &tenant, &day, &usage)).await
    }
}
