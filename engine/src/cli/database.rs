//! `--database URL`: the PostgreSQL store a command works in instead of the
//! data directory's SQLite.

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use trellis_engine::store::Store;

/// Connections a process keeps to the database.
const POOL: u32 = 32;

pub fn options(url: &str) -> anyhow::Result<PgConnectOptions> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        anyhow::bail!("--database must be a postgres:// URL (without it, the store is SQLite in the data directory)");
    }
    url.parse().context("--database is not a usable PostgreSQL URL")
}

/// The store in a database `trellis migrate` has brought up.
pub async fn open(url: &str) -> anyhow::Result<Store> {
    trellis_engine::store::open_postgres(options(url)?, POOL)
        .await
        .context("opening --database (has `trellis migrate` brought it up?)")
}
