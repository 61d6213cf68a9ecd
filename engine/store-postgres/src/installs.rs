//! Plugins installed in a tenant, with their grants.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use trellis_store_api::{InstallStore, PluginGrants, PluginInstall, StoreError, TenantId};

use crate::PgTenant;
use crate::audit::{with_detail, write_audit};

const COLUMNS: &str = "i.plugin, i.requirement, i.version, i.digest, i.installed_at, i.updated_at";

fn install_of(row: &PgRow) -> PluginInstall {
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
    connection: &mut PgConnection,
    tenant: &TenantId,
    install: &PluginInstall,
    grants: &PluginGrants,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO plugin_installs (tenant_id, plugin, requirement, version, digest, installed_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
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
    .execute(&mut *connection)
    .await?;
    sqlx::query(
        "INSERT INTO plugin_grants (tenant_id, plugin, grants, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, plugin) DO UPDATE SET grants = excluded.grants, updated_at = excluded.updated_at",
    )
    .bind(tenant.as_str())
    .bind(&install.plugin)
    .bind(serde_json::to_string(grants)?)
    .bind(install.updated_at)
    .execute(&mut *connection)
    .await?;
    Ok(())
}

#[async_trait]
impl InstallStore for PgTenant {
    async fn installs(&self) -> Result<Vec<PluginInstall>, StoreError> {
        let mut tx = self.begin().await?;
        let rows =
            sqlx::query(&format!("SELECT {COLUMNS} FROM plugin_installs i WHERE i.tenant_id = $1 ORDER BY i.plugin"))
                .bind(self.tenant.as_str())
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(rows.iter().map(install_of).collect())
    }

    async fn installs_with_grants(&self) -> Result<Vec<(PluginInstall, PluginGrants)>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS}, g.grants FROM plugin_installs i
             LEFT JOIN plugin_grants g ON g.tenant_id = i.tenant_id AND g.plugin = i.plugin
             WHERE i.tenant_id = $1 ORDER BY i.plugin"
        ))
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
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
        let mut tx = self.begin().await?;
        write_install(&mut tx, &self.tenant, install, grants).await?;
        let audit = with_detail(self.audit.as_deref(), "install", serde_json::to_value(install)?);
        write_audit(&mut tx, &self.tenant, audit.as_ref()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_install(&self, plugin: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM plugin_installs WHERE tenant_id = $1 AND plugin = $2")
            .bind(self.tenant.as_str())
            .bind(plugin)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM plugin_grants WHERE tenant_id = $1 AND plugin = $2")
            .bind(self.tenant.as_str())
            .bind(plugin)
            .execute(&mut *tx)
            .await?;
        if deleted > 0 {
            write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }
}
