use async_trait::async_trait;
use sqlx::Connection;
use sqlx::Row;

use sqlx::{Sqlite, Transaction};

use super::SqliteBackend;
use crate::store::members::MemberBackend;
use crate::store::{AuditEntry, Role, StoreError, TenantId};

#[async_trait]
impl MemberBackend for SqliteBackend {
    async fn set_member_role(
        &self,
        tenant: &TenantId,
        id: &str,
        role: Role,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query("UPDATE members SET role = ? WHERE tenant_id = ? AND id = ?")
            .bind(role.as_str())
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let changed = result.rows_affected() == 1;
        if changed {
            super::write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn delete_member(&self, tenant: &TenantId, id: &str, audit: Option<&AuditEntry>) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query("DELETE FROM members WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        revoke_refresh_tokens(&mut tx, tenant, id).await?;
        revoke_key_lineage(&mut tx, tenant, Lineage::Member(id), crate::store::now_ms()).await?;
        if result.rows_affected() == 1 {
            super::write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(result.rows_affected() == 1)
    }

    async fn password_hash(&self, tenant: &TenantId, id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT password_hash FROM members WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_password(
        &self,
        tenant: &TenantId,
        id: &str,
        password_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query(
            "UPDATE members SET password_hash = ?, password_change_required = 0 WHERE tenant_id = ? AND id = ?",
        )
        .bind(password_hash)
        .bind(tenant.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let changed = result.rows_affected() == 1;
        if changed {
            revoke_refresh_tokens(&mut tx, tenant, id).await?;
            super::write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn count_owners(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM members WHERE tenant_id = ? AND role = 'owner'")
            .bind(tenant.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0))
    }
}

/// Signs a member out of every session: their refresh tokens stop working.
async fn revoke_refresh_tokens(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    member_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE tenant_id = ? AND member_id = ?")
        .bind(tenant.as_str())
        .bind(member_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Where a revocation starts: one key, or every key a member created.
pub(super) enum Lineage<'a> {
    Key(&'a str),
    Member(&'a str),
}

/// Revokes the keys `from` names and every key created by one of them, down
/// the chain, so no key outlives the key (or member) that created it.
pub(super) async fn revoke_key_lineage(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    from: Lineage<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let (seed, value) = match from {
        Lineage::Key(id) => ("id = ?2", id.to_owned()),
        Lineage::Member(id) => ("created_by = ?2", format!("member:{id}")),
    };
    let statement = format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?3)
         WHERE tenant_id = ?1 AND id IN (
           WITH RECURSIVE lineage(id) AS (
             SELECT id FROM api_keys WHERE tenant_id = ?1 AND {seed}
             UNION
             SELECT k.id FROM api_keys k JOIN lineage l ON k.created_by = 'key:' || l.id WHERE k.tenant_id = ?1)
           SELECT id FROM lineage)"
    );
    sqlx::query(&statement).bind(tenant.as_str()).bind(value).bind(now).execute(&mut **tx).await?;
    Ok(())
}
