//! Sealed secrets, the tenant's wrapped data key and plugin grants; the
//! store only ever sees ciphertext.

use async_trait::async_trait;
use sqlx::Row;
use trellis_store_api::{PluginGrants, SecretName, SecretStore, StoreError, now_ms};

use crate::PgTenant;
use crate::audit::write_audit;

#[async_trait]
impl SecretStore for PgTenant {
    async fn wrapped_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let mut tx = self.begin().await?;
        let key = sqlx::query_scalar("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = $1")
            .bind(self.tenant.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn insert_wrapped_key(&self, wrapped: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO tenant_keys (tenant_id, wrapped_key, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (tenant_id) DO NOTHING",
        )
        .bind(self.tenant.as_str())
        .bind(wrapped)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let stored = sqlx::query_scalar("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = $1")
            .bind(self.tenant.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn put_secret(&self, name: &str, sealed: &[u8]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO secrets (tenant_id, name, sealed, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, name) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(self.tenant.as_str())
        .bind(name)
        .bind(sealed)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn sealed_secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut tx = self.begin().await?;
        let sealed = sqlx::query_scalar("SELECT sealed FROM secrets WHERE tenant_id = $1 AND name = $2")
            .bind(self.tenant.as_str())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(sealed)
    }

    async fn secret_names(&self) -> Result<Vec<SecretName>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query("SELECT name, updated_at FROM secrets WHERE tenant_id = $1 ORDER BY name")
            .bind(self.tenant.as_str())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| SecretName { name: r.get(0), updated_at: r.get(1) }).collect())
    }

    async fn delete_secret(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_audited("DELETE FROM secrets WHERE tenant_id = $1 AND name = $2", name).await
    }

    async fn plugin_grants(&self, plugin: &str) -> Result<PluginGrants, StoreError> {
        let mut tx = self.begin().await?;
        let grants: Option<String> =
            sqlx::query_scalar("SELECT grants FROM plugin_grants WHERE tenant_id = $1 AND plugin = $2")
                .bind(self.tenant.as_str())
                .bind(plugin)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        match grants {
            Some(text) => Ok(serde_json::from_str(&text)?),
            None => Ok(PluginGrants::default()),
        }
    }

    async fn put_plugin_grants(&self, plugin: &str, grants: &PluginGrants) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO plugin_grants (tenant_id, plugin, grants, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant_id, plugin) DO UPDATE SET grants = excluded.grants, updated_at = excluded.updated_at",
        )
        .bind(self.tenant.as_str())
        .bind(plugin)
        .bind(serde_json::to_string(grants)?)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        tx.commit().await?;
        Ok(())
    }
}
