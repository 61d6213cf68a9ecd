use async_trait::async_trait;
use sqlx::Connection;
use sqlx::Row;

use super::SqliteBackend;
use crate::store::records::now_ms;
use crate::store::secrets::{PluginGrants, SecretBackend, SecretName};
use crate::store::{AuditEntry, StoreError, TenantId};

#[async_trait]
impl SecretBackend for SqliteBackend {
    async fn wrapped_key(&self, tenant: &TenantId) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = ?")
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn insert_wrapped_key(&self, tenant: &TenantId, wrapped: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut writer = self.writer.lock().await;
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

    async fn put_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        sealed: &[u8],
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().await;
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
        super::write_audit(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sealed_secret(&self, tenant: &TenantId, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT sealed FROM secrets WHERE tenant_id = ? AND name = ?")
            .bind(tenant.as_str())
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn secret_names(&self, tenant: &TenantId) -> Result<Vec<SecretName>, StoreError> {
        let rows = sqlx::query("SELECT name, updated_at FROM secrets WHERE tenant_id = ? ORDER BY name")
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| SecretName { name: r.get(0), updated_at: r.get(1) }).collect())
    }

    async fn delete_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        self.delete_audited("DELETE FROM secrets WHERE tenant_id = ? AND name = ?", tenant, name, audit).await
    }

    async fn plugin_grants(&self, tenant: &TenantId, plugin: &str) -> Result<PluginGrants, StoreError> {
        let row = sqlx::query("SELECT grants FROM plugin_grants WHERE tenant_id = ? AND plugin = ?")
            .bind(tenant.as_str())
            .bind(plugin)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(serde_json::from_str(row.get::<&str, _>(0))?),
            None => Ok(PluginGrants::default()),
        }
    }

    async fn put_plugin_grants(
        &self,
        tenant: &TenantId,
        plugin: &str,
        grants: &PluginGrants,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().await;
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
        super::write_audit(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
