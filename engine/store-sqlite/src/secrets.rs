use async_trait::async_trait;

use crate::{SqliteTenant, write_audit};
use sqlx::{Connection, Row};
use trellis_store_api::{PluginGrants, SecretName, SecretStore, StoreError, now_ms};

#[async_trait]
impl SecretStore for SqliteTenant {
    async fn wrapped_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn insert_wrapped_key(&self, wrapped: &[u8]) -> Result<Vec<u8>, StoreError> {
        let tenant = &self.tenant;
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO tenant_keys (tenant_id, wrapped_key, created_at) VALUES (?, ?, ?)
             ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(wrapped)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let stored: Vec<u8> = sqlx::query("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = ?")
            .bind(tenant.as_str())
            .fetch_one(&mut *tx)
            .await?
            .get(0);
        tx.commit().await?;
        Ok(stored)
    }

    async fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO secrets (tenant_id, name, sealed, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (tenant_id, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(name)
        .bind(sealed)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sealed_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT sealed FROM secrets WHERE tenant_id = ? AND name = ?")
            .bind(tenant.as_str())
            .bind(name)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn secret_names(&self) -> Result<Vec<SecretName>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query("SELECT name, updated_at FROM secrets WHERE tenant_id = ? ORDER BY name")
            .bind(tenant.as_str())
            .fetch_all(&self.db.pool)
            .await?;
        Ok(rows.into_iter().map(|r| SecretName { name: r.get(0), updated_at: r.get(1) }).collect())
    }

    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        self.db.delete_audited("DELETE FROM secrets WHERE tenant_id = ? AND name = ?", tenant, name, audit).await
    }

    async fn plugin_grants(&self, plugin: &str) -> Result<PluginGrants, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT grants FROM plugin_grants WHERE tenant_id = ? AND plugin = ?")
            .bind(tenant.as_str())
            .bind(plugin)
            .fetch_optional(&self.db.pool)
            .await?;
        match row {
            Some(row) => Ok(serde_json::from_str(row.get::<&str, _>(0))?),
            None => Ok(PluginGrants::default()),
        }
    }

    async fn put_plugin_grants(&self, plugin: &str, grants: &PluginGrants) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO plugin_grants (tenant_id, plugin, grants, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (tenant_id, plugin) DO UPDATE SET grants = excluded.grants, updated_at = excluded.updated_at",
        )
        .bind(tenant.as_str())
        .bind(plugin)
        .bind(serde_json::to_string(grants)?)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
