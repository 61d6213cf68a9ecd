//! Audit entries, written on the connection of the change they record.

use sqlx::SqliteConnection;

use crate::store::{AuditEntry, StoreError, TenantId};

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
pub(super) fn write_audit_now(
    connection: &rusqlite::Connection,
    tenant: &str,
    entry: Option<&AuditEntry>,
) -> Result<(), StoreError> {
    let Some(entry) = entry else { return Ok(()) };
    connection.prepare_cached(INSERT_AUDIT)?.execute(rusqlite::params![
        tenant,
        entry.id,
        entry.at,
        entry.principal,
        entry.action,
        entry.target,
        entry.details.to_string()
    ])?;
    Ok(())
}
