use async_trait::async_trait;
use sqlx::Connection;
use sqlx::Row;

use super::SqliteBackend;
use crate::store::members::MemberBackend;
use crate::store::{Role, StoreError, TenantId};

#[async_trait]
impl MemberBackend for SqliteBackend {
    async fn set_member_role(&self, tenant: &TenantId, id: &str, role: Role) -> Result<bool, StoreError> {
        let result = sqlx::query("UPDATE members SET role = ? WHERE tenant_id = ? AND id = ?")
            .bind(role.as_str())
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *self.writer.lock().await)
            .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn delete_member(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query("DELETE FROM members WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE tenant_id = ? AND member_id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(result.rows_affected() == 1)
    }

    async fn count_owners(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM members WHERE tenant_id = ? AND role = 'owner'")
            .bind(tenant.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0))
    }
}
