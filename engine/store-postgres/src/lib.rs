//! The PostgreSQL store, for several `trellis` processes sharing one
//! database: its migrations (`migrations/postgres/`), the pool the server
//! works through (as `trellis_app`, under row-level security) and the
//! tenant scope each transaction carries.

mod scope;

use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, Executor, PgConnection};
use thiserror::Error;

pub use scope::begin_tenant;

/// The role the server works as: it owns no table, has no BYPASSRLS, and
/// sees only the rows of the tenant its transaction names.
pub const APP_ROLE: &str = "trellis_app";

static MIGRATOR: Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Debug, Error)]
pub enum PgStoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] MigrateError),
}

/// Brings the database to the newest schema, as the connecting role (which
/// then owns the tables). Run by `trellis migrate`; idempotent.
pub async fn migrate(options: &PgConnectOptions) -> Result<(), PgStoreError> {
    let mut connection = PgConnection::connect_with(options).await?;
    MIGRATOR.run(&mut connection).await?;
    connection.close().await?;
    Ok(())
}

/// The server's pool: every connection switches to [`APP_ROLE`] before
/// use, so row-level security applies whatever the login role.
pub async fn app_pool(options: PgConnectOptions, max_connections: u32) -> Result<PgPool, PgStoreError> {
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
