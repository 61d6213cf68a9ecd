//! The PostgreSQL store, for several `trellis` processes sharing one
//! database: its migrations (`migrations/postgres/`), the pool the server
//! works through (as `trellis_app`, under row-level security), and the
//! store contract on top of them.
//!
//! Every tenant handle's transaction names its tenant first
//! ([`begin_tenant`]), so the database filters a second time beside each
//! query's own `tenant_id`. What runs before a tenant is known calls the
//! `SECURITY DEFINER` functions of `0003_untenanted_lookups.sql`.

mod access;
mod audit;
mod installs;
mod kv;
mod llm;
mod notices;
mod quota;
mod runs;
mod scope;
mod secrets;
mod triggers;
mod workflows;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection, Postgres, Transaction};
use trellis_store_api::{
    AuditEntry, Database, Notice, StoreError, TenantId, TenantScope, TenantSeed, TenantStore, now_ms,
};

pub use scope::begin_tenant;

/// The role the server works as: it owns no table, has no BYPASSRLS, and
/// sees only the rows of the tenant its transaction names.
pub const APP_ROLE: &str = "trellis_app";

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

/// Brings the database to the newest schema, as the connecting role (which
/// then owns the tables). Run by `trellis migrate`; idempotent.
pub async fn migrate(options: &PgConnectOptions) -> Result<(), StoreError> {
    let mut connection = PgConnection::connect_with(options).await?;
    MIGRATOR.run(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

/// The server's pool: every connection switches to [`APP_ROLE`] before
/// use, so row-level security applies whatever the login role.
pub async fn app_pool(options: PgConnectOptions, max_connections: u32) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|connection, _| {
            Box::pin(async move {
                connection.execute(format!("SET ROLE {APP_ROLE}").as_str()).await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await?;
    Ok(pool)
}

/// The PostgreSQL backend.
pub struct PostgresBackend {
    pool: PgPool,
    notices: notices::Notices,
}

impl PostgresBackend {
    /// Connects as [`APP_ROLE`]; the schema must be migrated ([`migrate`]).
    pub async fn connect(options: PgConnectOptions, max_connections: u32) -> Result<Self, StoreError> {
        let pool = app_pool(options, max_connections).await?;
        let notices = notices::Notices::listen(&pool).await?;
        Ok(PostgresBackend { pool, notices })
    }
}

/// One tenant's handle: every transaction it begins names the tenant.
struct PgTenant {
    pool: PgPool,
    tenant: TenantId,
    audit: Option<Arc<AuditEntry>>,
}

impl PgTenant {
    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        begin_tenant(&self.pool, self.tenant.as_str()).await
    }
}

impl TenantScope for PgTenant {
    fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    fn with_audit(&self, entry: AuditEntry) -> TenantStore {
        Arc::new(PgTenant { pool: self.pool.clone(), tenant: self.tenant.clone(), audit: Some(Arc::new(entry)) })
    }
}

/// Counts are BIGINT; usage never comes near the top of either type.
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn decode<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    Ok(serde_json::from_str(text)?)
}

#[async_trait]
impl Database for PostgresBackend {
    fn tenant(&self, tenant: TenantId) -> TenantStore {
        Arc::new(PgTenant { pool: self.pool.clone(), tenant, audit: None })
    }

    async fn has_tenants(&self) -> Result<bool, StoreError> {
        Ok(sqlx::query_scalar("SELECT trellis_has_tenants()").fetch_one(&self.pool).await?)
    }

    async fn notify(&self, notice: &Notice) -> Result<(), StoreError> {
        self.notices.notify(&self.pool, notice).await
    }

    fn notices(&self) -> tokio::sync::broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }

    fn shared(&self) -> bool {
        true
    }

    /// In the new tenant's own scope: row security admits exactly its rows.
    /// The owner's email is unique across tenants; a taken one inserts no
    /// member, and the transaction is dropped.
    async fn create_tenant(&self, seed: &TenantSeed<'_>) -> Result<bool, StoreError> {
        let TenantSeed { tenant, name, owner, password_hash, key, key_hash, installs } = *seed;
        let mut tx = begin_tenant(&self.pool, tenant.as_str()).await?;
        let now = now_ms();
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(tenant.as_str())
            .bind(name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO members (tenant_id, id, email, role, password_hash, created_at, password_change_required)
             VALUES ($1, $2, $3, $4, $5, $6, TRUE) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(&owner.id)
        .bind(&owner.email)
        .bind(owner.role.as_str())
        .bind(password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(false);
        }
        access::insert_key(&mut tx, tenant, key, key_hash).await?;
        for (install, grants) in installs {
            installs::write_install(&mut tx, tenant, install, grants).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
