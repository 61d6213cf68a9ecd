//! Audit entries, written in the transaction of the change they record.

use async_trait::async_trait;
use sqlx::{PgConnection, Row};
use trellis_store_api::{AuditEntry, AuditStore, StoreError, TenantId};

use crate::{PgTenant, decode};

/// Writes an audit entry, when there is one, on `connection` (a change's
/// own transaction).
pub(crate) async fn write_audit(
    connection: &mut PgConnection,
    tenant: &TenantId,
    entry: Option<&AuditEntry>,
) -> Result<(), StoreError> {
    let Some(entry) = entry else { return Ok(()) };
    sqlx::query(
        "INSERT INTO audit_log (tenant_id, id, at, principal, action, target, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
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

/// An entry with one more detail (the id of what the change made).
pub(crate) fn with_detail(entry: Option<&AuditEntry>, key: &str, value: serde_json::Value) -> Option<AuditEntry> {
    entry.map(|entry| {
        let mut entry = entry.clone();
        if let Some(details) = entry.details.as_object_mut() {
            details.insert(key.to_owned(), value);
        }
        entry
    })
}

impl PgTenant {
    /// Runs `delete` (bound to the tenant, then `key`) and, when it removed
    /// a row, writes the audit entry in the same transaction.
    pub(crate) async fn delete_audited(&self, delete: &str, key: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query(delete).bind(self.tenant.as_str()).bind(key).execute(&mut *tx).await?.rows_affected();
        if deleted > 0 {
            write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        }
        tx.commit().await?;
        Ok(deleted > 0)
    }
}

#[async_trait]
impl AuditStore for PgTenant {
    async fn insert_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        write_audit(&mut tx, &self.tenant, Some(entry)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_audit(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT id, at, principal, action, target, details FROM audit_log
             WHERE tenant_id = $1 AND ($2::TEXT IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(self.tenant.as_str())
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
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
