//! The default store: one SQLite file in the data directory, WAL mode,
//! created and migrated on first open.
//!
//! `synchronous = NORMAL` in WAL mode: every commit survives a process
//! crash (`kill -9`); a power loss can drop the last commits. That is the
//! usual trade for an embedded default; PostgreSQL is the answer for more.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};

mod access;
mod audit;
mod group_writer;
mod hot_reads;
mod installs;
mod kv;
mod llm;
mod notices;
mod quota;
mod runs;
mod secrets;
mod triggers;
mod workflows;

pub(crate) use access::insert_key;
pub(crate) use audit::{write_audit, write_audit_now};

use trellis_store_api::{
    AuditEntry, Database, NodeRecord, Notice, RunRecord, StoreError, TenantId, TenantScope, TenantSeed, TenantStore,
    now_ms,
};

/// The SQLite database: what every tenant handle shares.
struct Db {
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
    /// Point reads on every request's path, on the caller's thread.
    hot_reads: hot_reads::HotReads,
}

/// The default backend.
pub struct SqliteBackend {
    db: Arc<Db>,
    notices: Arc<notices::Notices>,
}

/// One tenant's handle: the tenant and the audit entry its writes carry
/// are fixed when it is made.
struct SqliteTenant {
    db: Arc<Db>,
    tenant: TenantId,
    audit: Option<Arc<AuditEntry>>,
}

impl TenantScope for SqliteTenant {
    fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    fn with_audit(&self, entry: AuditEntry) -> TenantStore {
        Arc::new(SqliteTenant { db: self.db.clone(), tenant: self.tenant.clone(), audit: Some(Arc::new(entry)) })
    }
}

impl SqliteBackend {
    /// Opens (creating and migrating) the database in `data_dir`.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(SqliteBackend { db: Arc::new(Db::open(data_dir).await?), notices: Arc::new(notices::Notices::new()) })
    }
}

impl Db {
    async fn open(data_dir: &Path) -> Result<Self, StoreError> {
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
            match sqlx::migrate!("../../migrations/sqlite").run(&pool).await {
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
        let hot_reads = hot_reads::HotReads::open(&path)?;
        Ok(Db { pool, writer, writes, hot_reads })
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
            )
            .map_err(driver)?
            .execute(rusqlite::params![self.status, self.updated_at, self.record, self.tenant, self.id])
            .map_err(driver)?;
        Ok(())
    }

    /// Inserts the run unless its id exists; returns whether it did.
    fn insert(&self, connection: &rusqlite::Connection) -> Result<bool, StoreError> {
        let inserted = connection
            .prepare_cached(
                "INSERT INTO runs (tenant_id, id, workflow_id, status, parent_run_id, parent_node_id, created_at,
                   updated_at, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (tenant_id, id) DO NOTHING",
            )
            .map_err(driver)?
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
            ])
            .map_err(driver)?;
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
    let mut statement = connection
        .prepare_cached(
            "INSERT INTO node_runs (tenant_id, run_id, node_id, status, attempt, updated_at, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (tenant_id, run_id, node_id) DO UPDATE SET
           status = excluded.status, attempt = excluded.attempt,
           updated_at = excluded.updated_at, record = excluded.record",
        )
        .map_err(driver)?;
    let now = now_ms();
    for row in rows {
        statement
            .execute(rusqlite::params![tenant, run_id, row.node_id, row.status, row.attempt, now, row.record])
            .map_err(driver)?;
    }
    Ok(())
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(text)?)
}

#[async_trait]
impl Database for SqliteBackend {
    fn tenant(&self, tenant: TenantId) -> TenantStore {
        Arc::new(SqliteTenant { db: self.db.clone(), tenant, audit: None })
    }

    fn commits(&self) -> (u64, u64) {
        self.db.writes.commits()
    }

    async fn has_tenants(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 FROM tenants LIMIT 1").fetch_optional(&self.db.pool).await?.is_some())
    }

    async fn notify(&self, notice: &Notice) -> Result<(), StoreError> {
        self.notices.send(&self.db, notice).await
    }

    fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice> {
        self.notices.subscribe(&self.db)
    }

    fn shared(&self) -> bool {
        false
    }

    async fn create_tenant(&self, seed: &TenantSeed<'_>) -> Result<bool, StoreError> {
        let TenantSeed { tenant, name, owner, password_hash, key, key_hash, installs } = *seed;
        let mut writer = self.db.writer.lock().await;
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
            crate::installs::write_install(&mut tx, tenant, install, grants).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// An error of the hot-path writer's driver (rusqlite), kept as the source.
pub(crate) fn driver(error: rusqlite::Error) -> StoreError {
    StoreError::Driver(Box::new(error))
}
