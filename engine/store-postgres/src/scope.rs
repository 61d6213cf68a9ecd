//! A transaction bound to one tenant: what row-level security keys on.

use sqlx::{PgPool, Postgres, Transaction};
use trellis_store_api::StoreError;

/// Begins a transaction that sees and writes only `tenant`'s rows.
///
/// `set_config(…, true)` is `SET LOCAL` with a bound parameter: the setting
/// ends with the transaction, so a pooled connection never carries one
/// tenant's scope into another's work.
pub async fn begin_tenant(pool: &PgPool, tenant: &str) -> Result<Transaction<'static, Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('trellis.tenant_id', $1, true)").bind(tenant).execute(&mut *tx).await?;
    Ok(tx)
}
