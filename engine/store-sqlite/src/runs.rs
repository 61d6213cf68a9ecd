//! Runs and node records (through the group writer), and the untenanted
//! work queue: unfinished runs and due crons.

use async_trait::async_trait;
use rusqlite::OptionalExtension;
use sqlx::Row;

use crate::{NodeRow, RunRow, SqliteBackend, SqliteTenant, decode, driver, upsert_nodes, write_audit_now};
use trellis_store_api::{
    CronSchedule, NodeRecord, RunFilter, RunRecord, RunStatus, RunStore, StoreError, TenantId, Usage, WorkQueue,
};

#[async_trait]
impl RunStore for SqliteTenant {
    async fn insert_run(&self, run: &RunRecord) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let row = RunRow::new(tenant, run)?;
        self.db.writes.write(move |connection| row.insert(connection)).await
    }

    async fn update_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let row = RunRow::new(tenant, run)?;
        let audit = audit.map(|entry| {
            let mut entry = entry.clone();
            if let Some(details) = entry.details.as_object_mut() {
                details.insert("run".to_owned(), run.id.clone().into());
            }
            entry
        });
        self.db
            .writes
            .write(move |connection| {
                row.update(connection)?;
                write_audit_now(connection, &row.tenant, audit.as_ref())
            })
            .await
    }

    async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT record FROM runs WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        row.map(|r| decode(r.get::<&str, _>(0))).transpose()
    }

    async fn child_runs(&self, parent_run: &str, parent_node: &str) -> Result<Vec<RunRecord>, StoreError> {
        let tenant = &self.tenant;
        // Sorted here: `ORDER BY id` in SQL makes SQLite walk the tenant's
        // every run in primary-key order instead of using `runs_by_parent`.
        let rows =
            sqlx::query("SELECT record FROM runs WHERE tenant_id = ? AND parent_run_id = ? AND parent_node_id = ?")
                .bind(tenant.as_str())
                .bind(parent_run)
                .bind(parent_node)
                .fetch_all(&self.db.pool)
                .await?;
        let mut runs: Vec<RunRecord> = rows.iter().map(|r| decode(r.get::<&str, _>(0))).collect::<Result<_, _>>()?;
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(runs)
    }

    async fn put_node(&self, run_id: &str, node: &NodeRecord) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let rows = NodeRow::all(&[node])?;
        let (tenant, run_id) = (tenant.as_str().to_owned(), run_id.to_owned());
        let audit = audit.cloned();
        self.db
            .writes
            .write(move |connection| {
                upsert_nodes(connection, &tenant, &run_id, &rows)?;
                write_audit_now(connection, &tenant, audit.as_ref())
            })
            .await
    }

    async fn put_nodes(&self, run_id: &str, nodes: &[&NodeRecord]) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let rows = NodeRow::all(nodes)?;
        let (tenant, run_id) = (tenant.as_str().to_owned(), run_id.to_owned());
        self.db.writes.write(move |connection| upsert_nodes(connection, &tenant, &run_id, &rows)).await
    }

    async fn put_nodes_and_run(
        &self,
        run: &RunRecord,
        nodes: &[&NodeRecord],
        usage: Option<(&str, &Usage)>,
    ) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let rows = NodeRow::all(nodes)?;
        let run = RunRow::new(tenant, run)?;
        let usage = usage.map(|(day, usage)| (day.to_owned(), *usage));
        self.db
            .writes
            .write(move |connection| {
                upsert_nodes(connection, &run.tenant, &run.id, &rows)?;
                run.update(connection)?;
                match usage {
                    Some((day, usage)) => crate::quota::add_usage(connection, &run.tenant, &day, &usage),
                    None => Ok(()),
                }
            })
            .await
    }

    async fn nodes(&self, run_id: &str) -> Result<Vec<NodeRecord>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query("SELECT record FROM node_runs WHERE tenant_id = ? AND run_id = ?")
            .bind(tenant.as_str())
            .bind(run_id)
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter().map(|r| decode(r.get::<&str, _>(0))).collect()
    }

    async fn set_aside_run(&self, run_id: &str, worker: &str, until: i64) -> Result<bool, StoreError> {
        let (tenant, run_id, worker) = (self.tenant.as_str().to_owned(), run_id.to_owned(), worker.to_owned());
        // One writer: nothing is written between these reads and the update.
        self.db
            .writes
            .write(move |connection| {
                let held: Option<String> = connection
                    .prepare_cached(
                        "SELECT record FROM runs WHERE tenant_id = ?1 AND id = ?2 AND claimed_by = ?3
                           AND status IN ('pending', 'running')",
                    )
                    .map_err(driver)?
                    .query_row(rusqlite::params![tenant, run_id, worker], |row| row.get(0))
                    .optional()
                    .map_err(driver)?;
                let Some(held) = held else { return Ok(false) };
                let run: RunRecord = decode(&held)?;
                let decided: bool = connection
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM node_runs WHERE tenant_id = ?1 AND run_id = ?2
                           AND status = 'waiting' AND json_extract(record, '$.signal') IS NOT NULL)",
                    )
                    .map_err(driver)?
                    .query_row(rusqlite::params![tenant, run_id], |row| row.get(0))
                    .map_err(driver)?;
                if run.cancel_requested || decided {
                    return Ok(false);
                }
                connection
                    .prepare_cached(
                        "UPDATE runs SET parked_until = ?3, claimed_by = NULL, lease_until = NULL
                          WHERE tenant_id = ?1 AND id = ?2",
                    )
                    .map_err(driver)?
                    .execute(rusqlite::params![tenant, run_id, until])
                    .map_err(driver)?;
                Ok(true)
            })
            .await
    }

    async fn wake_run(&self, run_id: &str) -> Result<(), StoreError> {
        let (tenant, run_id) = (self.tenant.as_str().to_owned(), run_id.to_owned());
        self.db
            .writes
            .write(move |connection| {
                connection
                    .prepare_cached(
                        "UPDATE runs SET parked_until = 0
                          WHERE tenant_id = ?1 AND id = ?2 AND parked_until IS NOT NULL",
                    )
                    .map_err(driver)?
                    .execute(rusqlite::params![tenant, run_id])
                    .map_err(driver)?;
                Ok(())
            })
            .await
    }

    async fn list_runs(
        &self,
        filter: &RunFilter<'_>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let tenant = &self.tenant;
        let status = filter.status.map(RunStatus::as_str);
        let rows = sqlx::query(
            "SELECT record FROM runs WHERE tenant_id = ?1 AND parent_run_id IS NULL
             AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR workflow_id = ?3) AND (?4 IS NULL OR id < ?4)
             ORDER BY id DESC LIMIT ?5",
        )
        .bind(tenant.as_str())
        .bind(status)
        .bind(filter.workflow)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(|r| decode(r.get::<&str, _>(0))).collect()
    }
}

#[async_trait]
impl WorkQueue for SqliteBackend {
    async fn unfinished_runs(&self) -> Result<Vec<(TenantId, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, id FROM runs WHERE status IN ('pending', 'running') AND parent_run_id IS NULL
             ORDER BY created_at",
        )
        .fetch_all(&self.db.pool)
        .await?;
        Ok(runs_of(&rows))
    }

    async fn due_crons(&self, now: i64, limit: u32) -> Result<Vec<(TenantId, CronSchedule)>, StoreError> {
        let rows = sqlx::query("SELECT * FROM cron_schedules WHERE next_fire_at <= ? ORDER BY next_fire_at LIMIT ?")
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.db.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((TenantId::new(r.get::<String, _>("tenant_id")), crate::triggers::schedule(r)?)))
            .collect()
    }

    /// Through the group writer, like the runs' other writes: claims never
    /// interleave (no locking keeps two claimers' sets apart), and a claim
    /// shares a commit instead of contending for the write lock.
    async fn claim_runs(
        &self,
        worker: &str,
        now: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<(TenantId, String)>, StoreError> {
        let worker = worker.to_owned();
        self.db
            .writes
            .write(move |connection| {
                let mut statement = connection
                    .prepare_cached(
                        "UPDATE runs SET claimed_by = ?1, lease_until = ?2, parked_until = NULL
                          WHERE (tenant_id, id) IN (
                            SELECT tenant_id, id FROM (
                              SELECT tenant_id, id FROM runs
                               WHERE status IN ('pending', 'running') AND parent_run_id IS NULL
                                 AND parked_until IS NULL AND (lease_until IS NULL OR lease_until < ?3)
                               ORDER BY created_at LIMIT ?4)
                            UNION ALL
                            SELECT tenant_id, id FROM (
                              SELECT tenant_id, id FROM runs WHERE parked_until <= ?3 ORDER BY parked_until LIMIT ?4)
                            LIMIT ?4)
                         RETURNING tenant_id, id",
                    )
                    .map_err(driver)?;
                let rows = statement
                    .query_map(rusqlite::params![worker, until, now, i64::from(limit)], |row| {
                        Ok((TenantId::new(row.get::<_, String>(0)?), row.get::<_, String>(1)?))
                    })
                    .map_err(driver)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(driver)
            })
            .await
    }

    async fn claim_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        worker: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let (tenant, run_id, worker) = (tenant.as_str().to_owned(), run_id.to_owned(), worker.to_owned());
        self.db
            .writes
            .write(move |connection| {
                let claimed = connection
                    .prepare_cached(
                        "UPDATE runs SET claimed_by = ?1, lease_until = ?2, parked_until = NULL
                          WHERE tenant_id = ?3 AND id = ?4 AND status IN ('pending', 'running')
                            AND (lease_until IS NULL OR lease_until < ?5 OR claimed_by = ?1)",
                    )
                    .map_err(driver)?
                    .execute(rusqlite::params![worker, until, tenant, run_id, now])
                    .map_err(driver)?;
                Ok(claimed == 1)
            })
            .await
    }

    async fn renew_leases(&self, worker: &str, until: i64) -> Result<Vec<(TenantId, String)>, StoreError> {
        let rows = sqlx::query(
            "UPDATE runs SET lease_until = ?1 WHERE claimed_by = ?2 AND status IN ('pending', 'running')
             RETURNING tenant_id, id",
        )
        .bind(until)
        .bind(worker)
        .fetch_all(&mut *self.db.writer.lock().await)
        .await?;
        Ok(runs_of(&rows))
    }

    async fn release_run(&self, tenant: &TenantId, run_id: &str, worker: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET claimed_by = NULL, lease_until = NULL WHERE tenant_id = ? AND id = ? AND claimed_by = ?",
        )
        .bind(tenant.as_str())
        .bind(run_id)
        .bind(worker)
        .execute(&mut *self.db.writer.lock().await)
        .await?;
        Ok(())
    }

    async fn release_leases_except(&self, worker: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE runs SET claimed_by = NULL, lease_until = NULL
              WHERE status IN ('pending', 'running') AND claimed_by IS NOT NULL AND claimed_by <> ?",
        )
        .bind(worker)
        .execute(&mut *self.db.writer.lock().await)
        .await?;
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar("SELECT min(parked_until) FROM runs WHERE parked_until < ?")
            .bind(trellis_store_api::NEVER_DUE)
            .fetch_one(&self.db.pool)
            .await?)
    }
}

/// `(tenant_id, id)` rows as the runs they name.
fn runs_of(rows: &[sqlx::sqlite::SqliteRow]) -> Vec<(TenantId, String)> {
    rows.iter().map(|r| (TenantId::new(r.get::<String, _>(0)), r.get::<String, _>(1))).collect()
}
