use async_trait::async_trait;

use crate::{SqliteTenant, write_audit};
use sqlx::Row;
use trellis_store_api::{InstallStore, PluginGrants, PluginInstall, StoreError, TenantId};

const COLUMNS: &str = "i.plugin, i.requirement, i.version, i.digest, i.installed_at, i.updated_at";

fn install_of(row: &sqlx::sqlite::SqliteRow) -> PluginInstall {
    PluginInstall {
        plugin: row.get("plugin"),
        requirement: row.get("requirement"),
        version: row.get("version"),
        digest: row.get("digest"),
        installed_at: row.get("installed_at"),
        updated_at: row.get("updated_at"),
    }
}

/// Inserts or replaces an install and its grants inside a transaction
/// (also used when a tenant is created with the first-party plugins).
pub(crate) async fn write_install(
    tx: &mut sqlx::SqliteConnection,
    tenant: &TenantId,
    install: &PluginInstall,
    grants: &PluginGrants,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO plugin_installs (tenant_id, plugin, requirement, version, digest, installed_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (tenant_id, plugin) DO UPDATE SET requirement = excluded.requirement,
             version = excluded.version, digest = excluded.digest, updated_at = excluded.updated_at",
    )
    .bind(tenant.as_str())
    .bind(&install.plugin)
    .bind(&install.requirement)
    .bind(&install.version)
    .bind(&install.digest)
    .bind(install.installed_at)
    .bind(install.updated_at)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO plugin_grants (tenant_id, plugin, grants, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (tenant_id, plugin) DO UPDATE SET grants = excluded.grants, updated_at = excluded.updated_at",
    )
    .bind(tenant.as_str())
    .bind(&install.plugin)
    .bind(serde_json::to_string(grants)?)
    .bind(install.updated_at)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[async_trait]
impl InstallStore for SqliteTenant {
    async fn installs(&self) -> Result<Vec<PluginInstall>, StoreError> {
        let tenant = &self.tenant;
        let rows =
            sqlx::query(&format!("SELECT {COLUMNS} FROM plugin_installs i WHERE i.tenant_id = ? ORDER BY i.plugin"))
                .bind(tenant.as_str())
                .fetch_all(&self.db.pool)
                .await?;
        Ok(rows.iter().map(install_of).collect())
    }

    async fn installs_with_grants(&self) -> Result<Vec<(PluginInstall, PluginGrants)>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, g.grants FROM plugin_installs i
             LEFT JOIN plugin_grants g ON g.tenant_id = i.tenant_id AND g.plugin = i.plugin
             WHERE i.tenant_id = ? ORDER BY i.plugin"
        ))
        .bind(tenant.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let grants = match row.get::<Option<&str>, _>("grants") {
                    Some(text) => serde_json::from_str(text)?,
                    None => PluginGrants::default(),
                };
                Ok((install_of(row), grants))
            })
            .collect()
    }

    async fn put_install(&self, install: &PluginInstall, grants: &PluginGrants) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut *writer).await?;
        write_install(&mut tx, tenant, install, grants).await?;
        if let Some(entry) = audit {
            let mut entry = entry.clone();
            if let Some(details) = entry.details.as_object_mut() {
                details.insert("install".to_owned(), serde_json::to_value(install)?);
            }
            write_audit(&mut tx, tenant, Some(&entry)).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_install(&self, plugin: &str) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = sqlx::Connection::begin(&mut *writer).await?;
        let deleted = sqlx::query("DELETE FROM plugin_installs WHERE tenant_id = ? AND plugin = ?")
            .bind(tenant.as_str())
            .bind(plugin)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM plugin_grants WHERE tenant_id = ? AND plugin = ?")
            .bind(tenant.as_str())
            .bind(plugin)
            .execute(&mut *tx)
            .await?;
        if deleted > 0 {
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }
}
