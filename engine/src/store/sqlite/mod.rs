//! The default store: one SQLite file in the data directory, WAL mode,
//! created and migrated on first open.
//!
//! `synchronous = NORMAL` in WAL mode: every commit survives a process
//! crash (`kill -9`); a power loss can drop the last commits. That is the
//! usual trade for an embedded default; PostgreSQL is the answer for more.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Row, Sqlite, SqliteConnection, Transaction};

mod audit;
mod group_writer;
mod installs;
mod llm;
mod members;
mod quota;
mod secrets;
mod triggers;

use super::records::{NodeRecord, RunRecord, RunStatus, now_ms};
use super::tenancy::{ApiKey, AuditEntry, Member, RefreshUse, Role};
use super::{RunFilter, StoreBackend, StoreError, TenantId, TenantSeed};
pub(crate) use audit::write_audit;
use audit::write_audit_now;

pub struct SqliteBackend {
    /// Reads: WAL readers never wait for the writer.
    pool: SqlitePool,
    /// Writes of the rarer kinds (tenants, members, keys, secrets,
    /// workflows, triggers, kv) go through this one connection, in order.
    /// They could move to `writes` as well; until then SQLite's write lock
    /// orders the two connections (`writes` retries from a task while this
    /// one holds it, never sleeping on a runtime worker).
    writer: tokio::sync::Mutex<SqliteConnection>,
    /// The hot path: run admissions and updates, node records and usage,
    /// in commits shared across runs (see `group_writer`).
    writes: group_writer::GroupWriter,
}

impl SqliteBackend {
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        let path = data_dir.join("trellis.db");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // No ping before handing out a connection: an embedded database
        // cannot have dropped it, and the ping is a round trip to
        // SQLite's worker thread on every statement.
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // Two processes opening a new data directory at once both try to
        // migrate; SQLite has no migration lock, so the loser retries and
        // then finds the migrations applied.
        let mut attempt = 0;
        loop {
            match sqlx::migrate!("../migrations/sqlite").run(&pool).await {
                Ok(()) => break,
                Err(_) if attempt < 20 => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let writer = tokio::sync::Mutex::new(options.connect().await?);
        let writes = group_writer::GroupWriter::open(&path)?;
        Ok(SqliteBackend { pool, writer, writes })
    }
}

/// A run record's row, serialised on the caller's thread.
struct RunRow {
    tenant: String,
    id: String,
    workflow_id: String,
    status: &'static str,
    parent_run_id: Option<String>,
    parent_node_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    record: String,
}

impl RunRow {
    fn new(tenant: &TenantId, run: &RunRecord) -> Result<Self, StoreError> {
        Ok(RunRow {
            tenant: tenant.as_str().to_owned(),
            id: run.id.clone(),
            workflow_id: run.workflow_id.clone(),
            status: run.status.as_str(),
            parent_run_id: run.parent.as_ref().map(|p| p.run_id.clone()),
            parent_node_id: run.parent.as_ref().map(|p| p.node_id.clone()),
            created_at: run.created_at,
            updated_at: run.updated_at,
            record: serde_json::to_string(run)?,
        })
    }

    fn update(&self, connection: &rusqlite::Connection) -> Result<(), StoreError> {
        connection
            .prepare_cached(
                "UPDATE runs SET status = ?1, updated_at = ?2, record = ?3 WHERE tenant_id = ?4 AND id = ?5",
            )?
            .execute(rusqlite::params![self.status, self.updated_at, self.record, self.tenant, self.id])?;
        Ok(())
    }

    /// Inserts the run unless its id exists; returns whether it did.
    fn insert(&self, connection: &rusqlite::Connection) -> Result<bool, StoreError> {
        let inserted = connection
            .prepare_cached(
                "INSERT INTO runs (tenant_id, id, workflow_id, status, parent_run_id, parent_node_id, created_at,
                   updated_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (tenant_id, id) DO NOTHING",
            )?
            .execute(rusqlite::params![
                self.tenant,
                self.id,
                self.workflow_id,
                self.status,
                self.parent_run_id,
                self.parent_node_id,
                self.created_at,
                self.updated_at,
                self.record
            ])?;
        Ok(inserted == 1)
    }
}

/// A node record's row, serialised on the caller's thread.
struct NodeRow {
    node_id: String,
    status: &'static str,
    attempt: i64,
    record: String,
}

impl NodeRow {
    fn all(nodes: &[&NodeRecord]) -> Result<Vec<NodeRow>, StoreError> {
        nodes
            .iter()
            .map(|node| {
                Ok(NodeRow {
                    node_id: node.node_id.clone(),
                    status: node.status.as_str(),
                    attempt: i64::from(node.attempt),
                    record: serde_json::to_string(node)?,
                })
            })
            .collect()
    }
}

fn upsert_nodes(
    connection: &rusqlite::Connection,
    tenant: &str,
    run_id: &str,
    rows: &[NodeRow],
) -> Result<(), StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO node_runs (tenant_id, run_id, node_id, status, attempt, updated_at, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (tenant_id, run_id, node_id) DO UPDATE SET
           status = excluded.status, attempt = excluded.attempt,
           updated_at = excluded.updated_at, record = excluded.record",
    )?;
    let now = now_ms();
    for row in rows {
        statement.execute(rusqlite::params![tenant, run_id, row.node_id, row.status, row.attempt, now, row.record])?;
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(text)?)
}

/// Inserts the next version of a workflow; returns its number.
async fn insert_version(
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

#[async_trait]
impl StoreBackend for SqliteBackend {
    fn commits(&self) -> (u64, u64) {
        self.writes.commits()
    }

    async fn insert_run(&self, tenant: &TenantId, run: &RunRecord) -> Result<bool, StoreError> {
        let row = RunRow::new(tenant, run)?;
        self.writes.write(move |connection| row.insert(connection)).await
    }

    async fn update_run(
        &self,
        tenant: &TenantId,
        run: &RunRecord,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let row = RunRow::new(tenant, run)?;
        let audit = audit.map(|entry| {
            let mut entry = entry.clone();
            if let Some(details) = entry.details.as_object_mut() {
                details.insert("run".to_owned(), run.id.clone().into());
            }
            entry
        });
        self.writes
            .write(move |connection| {
                row.update(connection)?;
                write_audit_now(connection, &row.tenant, audit.as_ref())
            })
            .await
    }

    async fn get_run(&self, tenant: &TenantId, id: &str) -> Result<Option<RunRecord>, StoreError> {
        let row = sqlx::query("SELECT record FROM runs WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| decode(r.get::<&str, _>(0))).transpose()
    }

    async fn child_runs(
        &self,
        tenant: &TenantId,
        parent_run: &str,
        parent_node: &str,
    ) -> Result<Vec<RunRecord>, StoreError> {
        // Sorted here: `ORDER BY id` in SQL makes SQLite walk the tenant's
        // every run in primary-key order instead of using `runs_by_parent`.
        let rows =
            sqlx::query("SELECT record FROM runs WHERE tenant_id = ? AND parent_run_id = ? AND parent_node_id = ?")
                .bind(tenant.as_str())
                .bind(parent_run)
                .bind(parent_node)
                .fetch_all(&self.pool)
                .await?;
        let mut runs: Vec<RunRecord> = rows.iter().map(|r| decode(r.get::<&str, _>(0))).collect::<Result<_, _>>()?;
        runs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(runs)
    }

    async fn unfinished_runs(&self) -> Result<Vec<(TenantId, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant_id, id FROM runs WHERE status IN ('pending', 'running') AND parent_run_id IS NULL
             ORDER BY created_at",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (TenantId::new(r.get::<String, _>(0)), r.get::<String, _>(1))).collect())
    }

    async fn put_node(
        &self,
        tenant: &TenantId,
        run_id: &str,
        node: &NodeRecord,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let rows = NodeRow::all(&[node])?;
        let (tenant, run_id) = (tenant.as_str().to_owned(), run_id.to_owned());
        let audit = audit.cloned();
        self.writes
            .write(move |connection| {
                upsert_nodes(connection, &tenant, &run_id, &rows)?;
                write_audit_now(connection, &tenant, audit.as_ref())
            })
            .await
    }

    async fn put_nodes(&self, tenant: &TenantId, run_id: &str, nodes: &[&NodeRecord]) -> Result<(), StoreError> {
        let rows = NodeRow::all(nodes)?;
        let (tenant, run_id) = (tenant.as_str().to_owned(), run_id.to_owned());
        self.writes.write(move |connection| upsert_nodes(connection, &tenant, &run_id, &rows)).await
    }

    async fn put_nodes_and_run(
        &self,
        tenant: &TenantId,
        run: &RunRecord,
        nodes: &[&NodeRecord],
        usage: Option<(&str, &crate::quota::Usage)>,
    ) -> Result<(), StoreError> {
        let rows = NodeRow::all(nodes)?;
        let run = RunRow::new(tenant, run)?;
        let usage = usage.map(|(day, usage)| (day.to_owned(), *usage));
        self.writes
            .write(move |connection| {
                upsert_nodes(connection, &run.tenant, &run.id, &rows)?;
                run.update(connection)?;
                match usage {
                    Some((day, usage)) => quota::add_usage(connection, &run.tenant, &day, &usage),
                    None => Ok(()),
                }
            })
            .await
    }

    async fn nodes(&self, tenant: &TenantId, run_id: &str) -> Result<Vec<NodeRecord>, StoreError> {
        let rows = sqlx::query("SELECT record FROM node_runs WHERE tenant_id = ? AND run_id = ?")
            .bind(tenant.as_str())
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| decode(r.get::<&str, _>(0))).collect()
    }

    async fn kv_get(&self, tenant: &TenantId, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT value FROM plugin_kv WHERE tenant_id = ? AND plugin = ? AND key = ?")
            .bind(tenant.as_str())
            .bind(plugin)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<Vec<u8>, _>(0)))
    }

    async fn kv_set(
        &self,
        tenant: &TenantId,
        plugin: &str,
        key: &str,
        value: &[u8],
        quota_bytes: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let used: i64 = sqlx::query(
            "SELECT COALESCE(SUM(LENGTH(key) + LENGTH(value)), 0) FROM plugin_kv
             WHERE tenant_id = ? AND NOT (plugin = ? AND key = ?)",
        )
        .bind(tenant.as_str())
        .bind(plugin)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?
        .get(0);
        let used = used.max(0) as u64;
        if used + (key.len() + value.len()) as u64 > quota_bytes {
            return Ok(Err(used));
        }
        sqlx::query(
            "INSERT INTO plugin_kv (tenant_id, plugin, key, value) VALUES (?, ?, ?, ?)
             ON CONFLICT (tenant_id, plugin, key) DO UPDATE SET value = excluded.value",
        )
        .bind(tenant.as_str())
        .bind(plugin)
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn kv_delete(&self, tenant: &TenantId, plugin: &str, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM plugin_kv WHERE tenant_id = ? AND plugin = ? AND key = ?")
            .bind(tenant.as_str())
            .bind(plugin)
            .bind(key)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(())
    }

    async fn get_workflow(
        &self,
        tenant: &TenantId,
        id: &str,
        version: Option<i64>,
    ) -> Result<Option<(i64, Value)>, StoreError> {
        let row = sqlx::query(
            "SELECT version, document FROM workflow_versions WHERE tenant_id = ? AND workflow_id = ?
             AND (? IS NULL OR version = ?) ORDER BY version DESC LIMIT 1",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(version)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((r.get::<i64, _>(0), decode(r.get::<&str, _>(1))?))).transpose()
    }

    async fn list_workflows(&self, tenant: &TenantId) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT workflow_id, MAX(version) FROM workflow_versions WHERE tenant_id = ? GROUP BY workflow_id
             ORDER BY workflow_id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1))).collect())
    }

    async fn workflow_versions(&self, tenant: &TenantId, id: &str) -> Result<Vec<(i64, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, created_at FROM workflow_versions WHERE tenant_id = ? AND workflow_id = ? ORDER BY version",
        )
        .bind(tenant.as_str())
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1))).collect())
    }

    async fn delete_workflow(
        &self,
        tenant: &TenantId,
        id: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query("DELETE FROM workflow_versions WHERE tenant_id = ? AND workflow_id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        triggers::delete_triggers(&mut tx, tenant, id).await?;
        let deleted = result.rows_affected() > 0;
        if deleted {
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, role, expires_at, revoked_at, created_at, created_by FROM api_keys
             WHERE tenant_id = ? ORDER BY id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(ApiKey {
                    id: r.get(0),
                    name: r.get(1),
                    role: Role::parse(r.get::<&str, _>(2))?,
                    expires_at: r.get(3),
                    revoked_at: r.get(4),
                    created_at: r.get(5),
                    created_by: r.get(6),
                })
            })
            .collect())
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        id: &str,
        now: i64,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let found = sqlx::query("SELECT 1 FROM api_keys WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if found {
            members::revoke_key_lineage(&mut tx, tenant, members::Lineage::Key(id), now).await?;
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    async fn insert_member(
        &self,
        tenant: &TenantId,
        member: &Member,
        password_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query(
            "INSERT INTO members (tenant_id, id, email, role, password_hash, created_at, password_change_required)
             VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(&member.id)
        .bind(&member.email)
        .bind(member.role.as_str())
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let inserted = result.rows_affected() == 1;
        if inserted {
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn list_members(&self, tenant: &TenantId) -> Result<Vec<Member>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, email, role, password_change_required FROM members WHERE tenant_id = ? ORDER BY email",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().filter_map(|r| member_at(r, 0)).collect())
    }

    async fn insert_audit(&self, tenant: &TenantId, entry: &AuditEntry) -> Result<(), StoreError> {
        write_audit(&mut *self.writer.lock().await, tenant, Some(entry)).await
    }

    async fn list_audit(
        &self,
        tenant: &TenantId,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, principal, action, target, details FROM audit_log
             WHERE tenant_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(tenant.as_str())
        .bind(before)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.get(0),
                    at: r.get(1),
                    principal: r.get(2),
                    action: r.get(3),
                    target: r.get(4),
                    details: decode(r.get::<&str, _>(5))?,
                })
            })
            .collect()
    }

    async fn list_runs(
        &self,
        tenant: &TenantId,
        filter: &RunFilter<'_>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
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
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| decode(r.get::<&str, _>(0))).collect()
    }

    async fn has_tenants(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM tenants LIMIT 1").fetch_optional(&self.pool).await?.is_some())
    }

    async fn create_tenant(&self, seed: &TenantSeed<'_>) -> Result<bool, StoreError> {
        let TenantSeed { tenant, name, owner, password_hash, key, key_hash, installs } = *seed;
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let taken = sqlx::query("SELECT 1 FROM members WHERE email = ?")
            .bind(&owner.email)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if taken {
            return Ok(false);
        }
        let now = now_ms();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)")
            .bind(tenant.as_str())
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO members (tenant_id, id, email, role, password_hash, created_at, password_change_required)
             VALUES (?, ?, ?, ?, ?, ?, 1)",
        )
        .bind(tenant.as_str())
        .bind(&owner.id)
        .bind(&owner.email)
        .bind(owner.role.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_key(&mut tx, tenant, key, key_hash).await?;
        for (install, grants) in installs {
            installs::write_install(&mut tx, tenant, install, grants).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn member_by_email(&self, email: &str) -> Result<Option<(TenantId, Member, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, password_hash, id, email, role, password_change_required FROM members WHERE email = ?",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| {
            let member = member_at(&r, 2)?;
            Some((TenantId::new(r.get::<String, _>(0)), member, r.get::<String, _>(1)))
        }))
    }

    async fn member(&self, tenant: &TenantId, id: &str) -> Result<Option<Member>, StoreError> {
        let row =
            sqlx::query("SELECT id, email, role, password_change_required FROM members WHERE tenant_id = ? AND id = ?")
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.and_then(|r| member_at(&r, 0)))
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<(TenantId, ApiKey)>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, id, name, role, expires_at, revoked_at, created_at, created_by FROM api_keys
             WHERE key_hash = ?",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| {
            let key = ApiKey {
                id: r.get(1),
                name: r.get(2),
                role: Role::parse(r.get::<&str, _>(3))?,
                expires_at: r.get(4),
                revoked_at: r.get(5),
                created_at: r.get(6),
                created_by: r.get(7),
            };
            Some((TenantId::new(r.get::<String, _>(0)), key))
        }))
    }

    async fn insert_api_key(
        &self,
        tenant: &TenantId,
        key: &ApiKey,
        key_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        insert_key(&mut tx, tenant, key, key_hash).await?;
        write_audit(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_refresh_token(
        &self,
        tenant: &TenantId,
        member_id: &str,
        family: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, tenant_id, member_id, family, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(tenant.as_str())
        .bind(member_id)
        .bind(family)
        .bind(expires_at)
        .execute(&mut *self.writer.lock().await)
        .await?;
        Ok(())
    }

    async fn use_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshUse, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT tenant_id, member_id, family, expires_at, used, revoked FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(RefreshUse::Invalid) };
        let family: String = row.get(2);
        if row.get::<i64, _>(4) != 0 {
            sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family = ?")
                .bind(&family)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(RefreshUse::Reused);
        }
        if row.get::<i64, _>(5) != 0 || row.get::<i64, _>(3) < now {
            return Ok(RefreshUse::Invalid);
        }
        sqlx::query("UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RefreshUse::Fresh { tenant_id: row.get(0), member_id: row.get(1), family })
    }
}

async fn insert_key(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    key: &ApiKey,
    key_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (tenant_id, id, name, role, key_hash, expires_at, revoked_at, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(tenant.as_str())
    .bind(&key.id)
    .bind(&key.name)
    .bind(key.role.as_str())
    .bind(key_hash)
    .bind(key.expires_at)
    .bind(key.revoked_at)
    .bind(key.created_at)
    .bind(&key.created_by)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A member from the columns `id, email, role, password_change_required`
/// starting at `first`.
fn member_at(row: &sqlx::sqlite::SqliteRow, first: usize) -> Option<Member> {
    Some(Member {
        id: row.get(first),
        email: row.get(first + 1),
        role: Role::parse(row.get::<&str, _>(first + 2))?,
        password_change_required: row.get::<i64, _>(first + 3) != 0,
    })
}
