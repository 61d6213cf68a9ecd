//! Plugin kv rows, with the tenant's kv quota checked in the write.

use async_trait::async_trait;

use crate::SqliteTenant;
use sqlx::{Connection, Row};
use trellis_store_api::{PluginKvStore, StoreError};

#[async_trait]
impl PluginKvStore for SqliteTenant {
    async fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT value FROM plugin_kv WHERE tenant_id = ? AND plugin = ? AND key = ?")
            .bind(tenant.as_str())
            .bind(plugin)
            .bind(key)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.get::<Vec<u8>, _>(0)))
    }

    async fn kv_set(
        &self,
        plugin: &str,
        key: &str,
        value: &[u8],
        quota_bytes: u64,
    ) -> Result<Result<(), u64>, StoreError> {
        let tenant = &self.tenant;
        let mut writer = self.db.writer.lock().await;
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

    async fn kv_delete(&self, plugin: &str, key: &str) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        sqlx::query("DELETE FROM plugin_kv WHERE tenant_id = ? AND plugin = ? AND key = ?")
            .bind(tenant.as_str())
            .bind(plugin)
            .bind(key)
            .execute(&mut *self.db.writer.lock().await)
            .await?;
        Ok(())
    }
}
