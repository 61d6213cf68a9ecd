//! Plugin kv rows, with the tenant's kv quota checked in the write.

use async_trait::async_trait;
use trellis_store_api::{PluginKvStore, StoreError};

use crate::PgTenant;

#[async_trait]
impl PluginKvStore for PgTenant {
    async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut tx = self.begin().await?;
        let value = sqlx::query_scalar("SELECT value FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2 AND key = $3")
            .bind(self.tenant.as_str())
            .bind(plugin)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(value)
    }

    /// Writes of one tenant's kv are serialised by an advisory lock, so two
    /// processes cannot both fit under the quota with the same room.
    async fn kv_set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        quota_bytes: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("kv:{}", self.tenant.as_str()))
            .execute(&mut *tx)
            .await?;
        let used: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(octet_length(key) + octet_length(value)), 0)::BIGINT FROM plugin_kv
             WHERE tenant_id = $1 AND NOT (plugin = $2 AND key = $3)",
        )
        .bind(self.tenant.as_str())
        .bind(plugin)
        .bind(key)
        .fetch_one(&mut *tx)
        .await?;
        let used = u64::try_from(used).unwrap_or(0);
        if used + (key.len() + value.len()) as u64 > quota_bytes {
            return Ok(Err(used));
        }
        sqlx::query(
            "INSERT INTO plugin_kv (tenant_id, plugin, key, value) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, plugin, key) DO UPDATE SET value = excluded.value",
        )
        .bind(self.tenant.as_str())
        .bind(plugin)
        .bind(key)
        .bind(value)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    async fn kv_delete(&self, plugin: &str, key: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM plugin_kv WHERE tenant_id = $1 AND plugin = $2 AND key = $3")
            .bind(self.tenant.as_str())
            .bind(plugin)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
