//! Runs and node records, and the work queue across tenants.

use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use trellis_store_api::{
    CronSchedule, Lease, NodeRecord, RunFilter, RunRecord, RunStatus, RunStore, StoreError, TenantId, Usage, WorkQueue,
};

use crate::audit::{with_detail, write_audit};
use crate::{PgTenant, PostgresBackend, decode};

/// Inserts a run (held by `lease`'s worker, when given) unless its id
/// exists; returns whether it did.
pub(crate) async fn insert_run(
    connection: &mut PgConnection,
    tenant: &TenantId,
    run: &RunRecord,
    lease: Option<Lease<'_>>,
) -> Result<bool, StoreError> {
    let parent = run.parent.as_ref();
    let inserted = sqlx::query(
        "INSERT INTO runs (tenant_id, id, workflow_id, status, parent_run_id, parent_node_id, created_at,
           updated_at, record, claimed_by, lease_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (tenant_id, id) DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(&run.id)
    .bind(&run.workflow_id)
    .bind(run.status.as_str())
    .bind(parent.map(|p| p.run_id.as_str()))
    .bind(parent.map(|p| p.node_id.as_str()))
    .bind(run.created_at)
    .bind(run.updated_at)
    .bind(serde_json::to_string(run)?)
    .bind(lease.map(|l| l.worker))
    .bind(lease.map(|l| l.until))
    .execute(connection)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}

async fn update_run(connection: &mut PgConnection, tenant: &TenantId, run: &RunRecord) -> Result<(), StoreError> {
    sqlx::query("UPDATE runs SET status = $1, updated_at = $2, record = $3 WHERE tenant_id = $4 AND id = $5")
        .bind(run.status.as_str())
        .bind(run.updated_at)
        .bind(serde_json::to_string(run)?)
        .bind(tenant.as_str())
        .bind(&run.id)
        .execute(connection)
        .await?;
    Ok(())
}

async fn upsert_nodes(
    connection: &mut PgConnection,
    tenant: &TenantId,
    run_id: &str,
    nodes: &[&NodeRecord],
) -> Result<(), StoreError> {
    if nodes.is_empty() {
        return Ok(());
    }
    let mut ids = Vec::with_capacity(nodes.len());
    let mut statuses = Vec::with_capacity(nodes.len());
    let mut attempts = Vec::with_capacity(nodes.len());
    let mut records = Vec::with_capacity(nodes.len());
    for node in nodes {
        ids.push(node.node_id.as_str());
        statuses.push(node.status.as_str());
        attempts.push(i32::try_from(node.attempt).unwrap_or(i32::MAX));
        records.push(serde_json::to_string(node)?);
    }
    // One statement for the whole batch: a round trip per commit, not per node.
    sqlx::query(
        "INSERT INTO node_runs (tenant_id, run_id, node_id, status, attempt, updated_at, record)
         SELECT $1, $2, n.node_id, n.status, n.attempt, $3, n.record
           FROM UNNEST($4::TEXT[], $5::TEXT[], $6::INTEGER[], $7::TEXT[]) AS n(node_id, status, attempt, record)
         ON CONFLICT (tenant_id, run_id, node_id) DO UPDATE SET
           status = excluded.status, attempt = excluded.attempt,
           updated_at = excluded.updated_at, record = excluded.record",
    )
    .bind(tenant.as_str())
    .bind(run_id)
    .bind(trellis_store_api::now_ms())
    .bind(&ids)
    .bind(&statuses)
    .bind(&attempts)
    .bind(&records)
    .execute(connection)
    .await?;
    Ok(())
}

#[async_trait]
impl RunStore for PgTenant {
    async fn insert_run(&self, run: &RunRecord) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let inserted = insert_run(&mut tx, &self.tenant, run, None).await?;
        tx.commit().await?;
        Ok(inserted)
    }

    async fn update_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        update_run(&mut tx, &self.tenant, run).await?;
        let audit = with_detail(self.audit.as_deref(), "run", run.id.clone().into());
        write_audit(&mut tx, &self.tenant, audit.as_ref()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT record FROM runs WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row.map(|r| decode(r.get::<&str, _>(0))).transpose()
    }

    async fn child_runs(&self, parent_run: &str, parent_node: &str) -> Result<Vec<RunRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT record FROM runs WHERE tenant_id = $1 AND parent_run_id = $2 AND parent_node_id = $3 ORDER BY id",
        )
        .bind(self.tenant.as_str())
        .bind(parent_run)
        .bind(parent_node)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(|r| decode(r.get::<&str, _>(0))).collect()
    }

    async fn put_node(&self, run_id: &str, node: &NodeRecord) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        upsert_nodes(&mut tx, &self.tenant, run_id, &[node]).await?;
        write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_nodes(&self, run_id: &str, nodes: &[&NodeRecord]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        upsert_nodes(&mut tx, &self.tenant, run_id, nodes).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn put_nodes_and_run(
        &self,
        run: &RunRecord,
        nodes: &[&NodeRecord],
        usage: Option<(&str, &Usage)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        upsert_nodes(&mut tx, &self.tenant, &run.id, nodes).await?;
        update_run(&mut tx, &self.tenant, run).await?;
        if let Some((day, usage)) = usage {
            crate::quota::add_usage(&mut tx, &self.tenant, day, usage).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn nodes(&self, run_id: &str) -> Result<Vec<NodeRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query("SELECT record FROM node_runs WHERE tenant_id = $1 AND run_id = $2")
            .bind(self.tenant.as_str())
            .bind(run_id)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        rows.iter().map(|r| decode(r.get::<&str, _>(0))).collect()
    }

    async fn set_aside_run(&self, run_id: &str, worker: &str, until: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // The row lock first: a signal's writer commits its record before
        // it wakes the run, which waits on this lock; so either the reads
        // below see the signal, or the wake comes after this commit.
        let held = sqlx::query(
            "SELECT record FROM runs WHERE tenant_id = $1 AND id = $2 AND claimed_by = $3
               AND status IN ('pending', 'running') FOR UPDATE",
        )
        .bind(self.tenant.as_str())
        .bind(run_id)
        .bind(worker)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(held) = held else { return Ok(false) };
        let run: RunRecord = decode(held.get::<&str, _>(0))?;
        let decided: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM node_runs WHERE tenant_id = $1 AND run_id = $2 AND status = 'waiting'
               AND (record::jsonb ->> 'signal') IS NOT NULL)",
        )
        .bind(self.tenant.as_str())
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await?;
        if run.cancel_requested || decided {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE runs SET parked_until = $3, claimed_by = NULL, lease_until = NULL WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant.as_str())
        .bind(run_id)
        .bind(until)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn wake_run(&self, run_id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // Due at once (0) if set aside; the row is written either way, so
        // that this waits for a set-aside in progress.
        sqlx::query(
            "UPDATE runs SET parked_until = CASE WHEN parked_until IS NULL THEN NULL ELSE 0 END
              WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant.as_str())
        .bind(run_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_runs(
        &self,
        filter: &RunFilter<'_>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT record FROM runs WHERE tenant_id = $1 AND parent_run_id IS NULL
             AND ($2::TEXT IS NULL OR status = $2) AND ($3::TEXT IS NULL OR workflow_id = $3)
             AND ($4::TEXT IS NULL OR id < $4)
             ORDER BY id DESC LIMIT $5",
        )
        .bind(self.tenant.as_str())
        .bind(filter.status.map(RunStatus::as_str))
        .bind(filter.workflow)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(|r| decode(r.get::<&str, _>(0))).collect()
    }
}

#[async_trait]
impl WorkQueue for PostgresBackend {
    async fn unfinished_runs(&self) -> Result<Vec<(TenantId, String)>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, id FROM trellis_unfinished_runs()").fetch_all(&self.pool).await?;
        Ok(runs_of(&rows))
    }

    async fn due_crons(&self, now: i64, limit: u32) -> Result<Vec<(TenantId, CronSchedule)>, StoreError> {
        let rows = sqlx::query("SELECT * FROM trellis_due_crons($1, $2)")
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((TenantId::new(r.get::<String, _>("tenant_id")), crate::triggers::schedule(r)?)))
            .collect()
    }

    async fn claim_runs(
        &self,
        worker: &str,
        now: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<(TenantId, String)>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, id FROM trellis_claim_runs($1, $2, $3, $4)")
            .bind(worker)
            .bind(now)
            .bind(until)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(runs_of(&rows))
    }

    async fn claim_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        worker: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar("SELECT trellis_claim_run($1, $2, $3, $4, $5)")
            .bind(tenant.as_str())
            .bind(run_id)
            .bind(worker)
            .bind(now)
            .bind(until)
            .fetch_one(&self.pool)
            .await?)
    }

    async fn renew_leases(&self, worker: &str, until: i64) -> Result<Vec<(TenantId, String)>, StoreError> {
        let rows = sqlx::query("SELECT tenant_id, id FROM trellis_renew_leases($1, $2)")
            .bind(worker)
            .bind(until)
            .fetch_all(&self.pool)
            .await?;
        Ok(runs_of(&rows))
    }

    async fn release_run(&self, tenant: &TenantId, run_id: &str, worker: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT trellis_release_run($1, $2, $3)")
            .bind(tenant.as_str())
            .bind(run_id)
            .bind(worker)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn release_leases_except(&self, worker: &str) -> Result<(), StoreError> {
        sqlx::query("SELECT trellis_release_leases_except($1)").bind(worker).execute(&self.pool).await?;
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT trellis_next_due()").fetch_one(&self.pool).await?)
    }
}

fn runs_of(rows: &[sqlx::postgres::PgRow]) -> Vec<(TenantId, String)> {
    rows.iter().map(|r| (TenantId::new(r.get::<String, _>(0)), r.get::<String, _>(1))).collect()
}
