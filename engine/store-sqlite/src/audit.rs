//! Audit entries, written on the connection of the change they record.

use async_trait::async_trait;

use crate::{Db, SqliteTenant, decode, driver};
use sqlx::{Connection, Row, SqliteConnection};
use trellis_store_api::{AuditEntry, AuditStore, StoreError, TenantId};

const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (tenant_id, id, at, principal, action, target, details) VALUES (?, ?, ?, ?, ?, ?, ?)";

/// Writes an audit entry, when there is one, on `connection` (a change's
/// own transaction).
pub(crate) async fn write_audit(
    connection: &mut SqliteConnection,
    tenant: &TenantId,
    entry: Option<&AuditEntry>,
) -> Result<(), StoreError> {
    let Some(entry) = entry else { return Ok(()) };
    sqlx::query(INSERT_AUDIT)
        .bind(tenant.as_str())
        .bind(&entry.id)
        .bind(entry.at)
        .bind(&entry.principal)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(entry.details.to_string())
        .execute(connection)
        .await?;
    Ok(())
}

/// `write_audit` for the group writer's connection (hot-path writes).
pub(crate) fn write_audit_now(
    connection: &rusqlite::Connection,
    tenant: &str,
    entry: Option<&AuditEntry>,
) -> Result<(), StoreError> {
    let Some(entry) = entry else { return Ok(()) };
    connection
        .prepare_cached(INSERT_AUDIT)
        .map_err(driver)?
        .execute(rusqlite::params![
            tenant,
            entry.id,
            entry.at,
            entry.principal,
            entry.action,
            entry.target,
            entry.details.to_string()
        ])
        .map_err(driver)?;
    Ok(())
}

impl Db {
    /// Runs `delete` (bound to the tenant, then `key`) and, when it removed
    /// a row, writes the audit entry in the same transaction.
    pub(super) async fn delete_audited(
        &self,
        delete: &str,
        tenant: &TenantId,
        key: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query(delete).bind(tenant.as_str()).bind(key).execute(&mut *tx).await?;
        let deleted = result.rows_affected() > 0;
        if deleted {
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}

#[async_trait]
impl AuditStore for SqliteTenant {
    async fn insert_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        write_audit(&mut *self.db.writer.lock().await, tenant, Some(entry)).await
    }

    async fn list_audit(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query(
            "SELECT id, at, principal, action, target, details FROM audit_log
             WHERE tenant_id = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(tenant.as_str())
        .bind(before)
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.get(0),
                    at: r.get(1),
                    principal: r.get(2),
                    action: r.get(3),
                    target: r.get(4),
                    details: decode(r.get::<&str, _>(5))?,
                })
            })
            .collect()
    }
}
