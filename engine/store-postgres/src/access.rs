//! Members, API keys and refresh tokens, and the sign-in lookups made
//! before a tenant is known (through the definer functions).

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use trellis_store_api::{AccessStore, ApiKey, Member, RefreshUse, Role, SignIn, StoreError, TenantId, now_ms};

use crate::audit::write_audit;
use crate::{PgTenant, PostgresBackend, count};

pub(crate) async fn insert_key(
    connection: &mut PgConnection,
    tenant: &TenantId,
    key: &ApiKey,
    key_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (tenant_id, id, name, role, key_hash, expires_at, revoked_at, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(tenant.as_str())
    .bind(&key.id)
    .bind(&key.name)
    .bind(key.role.as_str())
    .bind(key_hash)
    .bind(key.expires_at)
    .bind(key.revoked_at)
    .bind(key.created_at)
    .bind(&key.created_by)
    .execute(connection)
    .await?;
    Ok(())
}

/// A member from the columns `id, email, role, password_change_required`
/// starting at `first`.
fn member_at(row: &PgRow, first: usize) -> Option<Member> {
    Some(Member {
        id: row.get(first),
        email: row.get(first + 1),
        role: Role::parse(row.get::<&str, _>(first + 2))?,
        password_change_required: row.get(first + 3),
    })
}

/// A key from the columns `id, name, role, expires_at, revoked_at,
/// created_at, created_by` starting at `first`.
fn key_at(row: &PgRow, first: usize) -> Option<ApiKey> {
    Some(ApiKey {
        id: row.get(first),
        name: row.get(first + 1),
        role: Role::parse(row.get::<&str, _>(first + 2))?,
        expires_at: row.get(first + 3),
        revoked_at: row.get(first + 4),
        created_at: row.get(first + 5),
        created_by: row.get(first + 6),
    })
}

/// Signs a member out of every session: their refresh tokens stop working.
async fn revoke_refresh_tokens(
    connection: &mut PgConnection,
    tenant: &TenantId,
    member_id: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE tenant_id = $1 AND member_id = $2")
        .bind(tenant.as_str())
        .bind(member_id)
        .execute(connection)
        .await?;
    Ok(())
}

/// Where a revocation starts: one key, or every key a member created.
enum Lineage<'a> {
    Key(&'a str),
    Member(&'a str),
}

/// Revokes the keys `from` names and every key created by one of them, down
/// the chain, so no key outlives the key (or member) that created it.
async fn revoke_key_lineage(
    connection: &mut PgConnection,
    tenant: &TenantId,
    from: Lineage<'_>,
    now: i64,
) -> Result<(), StoreError> {
    let (seed, value) = match from {
        Lineage::Key(id) => ("id = $2", id.to_owned()),
        Lineage::Member(id) => ("created_by = $2", format!("member:{id}")),
    };
    let statement = format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $3)
         WHERE tenant_id = $1 AND id IN (
           WITH RECURSIVE lineage(id) AS (
             SELECT id FROM api_keys WHERE tenant_id = $1 AND {seed}
             UNION
             SELECT k.id FROM api_keys k JOIN lineage l ON k.created_by = 'key:' || l.id WHERE k.tenant_id = $1)
           SELECT id FROM lineage)"
    );
    sqlx::query(&statement).bind(tenant.as_str()).bind(value).bind(now).execute(connection).await?;
    Ok(())
}

#[async_trait]
impl AccessStore for PgTenant {
    async fn member(&self, id: &str) -> Result<Option<Member>, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "SELECT id, email, role, password_change_required FROM members WHERE tenant_id = $1 AND id = $2",
        )
        .bind(self.tenant.as_str())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.and_then(|r| member_at(&r, 0)))
    }

    async fn insert_member(&self, member: &Member, password_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        // Emails are unique across tenants: a taken one inserts nothing.
        let inserted = sqlx::query(
            "INSERT INTO members (tenant_id, id, email, role, password_hash, created_at, password_change_required)
             VALUES ($1, $2, $3, $4, $5, $6, TRUE) ON CONFLICT DO NOTHING",
        )
        .bind(self.tenant.as_str())
        .bind(&member.id)
        .bind(&member.email)
        .bind(member.role.as_str())
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted {
            write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn list_members(&self) -> Result<Vec<Member>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT id, email, role, password_change_required FROM members WHERE tenant_id = $1 ORDER BY email",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.iter().filter_map(|r| member_at(r, 0)).collect())
    }

    async fn set_member_role(&self, id: &str, role: Role) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query("UPDATE members SET role = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(role.as_str())
            .bind(self.tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if changed {
            write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn delete_member(&self, id: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM members WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        revoke_refresh_tokens(&mut tx, &self.tenant, id).await?;
        revoke_key_lineage(&mut tx, &self.tenant, Lineage::Member(id), now_ms()).await?;
        if deleted {
            write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn count_owners(&self) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let owners: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM members WHERE tenant_id = $1 AND role = 'owner'")
            .bind(self.tenant.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(count(owners))
    }

    async fn password_hash(&self, id: &str) -> Result<Option<String>, StoreError> {
        let mut tx = self.begin().await?;
        let hash = sqlx::query_scalar("SELECT password_hash FROM members WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(hash)
    }

    async fn set_password(&self, id: &str, password_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let changed = sqlx::query(
            "UPDATE members SET password_hash = $1, password_change_required = FALSE WHERE tenant_id = $2 AND id = $3",
        )
        .bind(password_hash)
        .bind(self.tenant.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if changed {
            revoke_refresh_tokens(&mut tx, &self.tenant, id).await?;
            write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn insert_refresh_token(
        &self,
        member_id: &str,
        family: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, tenant_id, member_id, family, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(self.tenant.as_str())
        .bind(member_id)
        .bind(family)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_key(&mut tx, &self.tenant, key, key_hash).await?;
        write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT id, name, role, expires_at, revoked_at, created_at, created_by FROM api_keys
             WHERE tenant_id = $1 ORDER BY id",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.iter().filter_map(|r| key_at(r, 0)).collect())
    }

    async fn revoke_api_key(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let found = sqlx::query("SELECT 1 FROM api_keys WHERE tenant_id = $1 AND id = $2")
            .bind(self.tenant.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if found {
            revoke_key_lineage(&mut tx, &self.tenant, Lineage::Key(id), now).await?;
            write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        }
        tx.commit().await?;
        Ok(found)
    }
}

#[async_trait]
impl SignIn for PostgresBackend {
    async fn member_by_email(&self, email: &str) -> Result<Option<(TenantId, Member, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, password_hash, id, email, role, password_change_required
               FROM trellis_member_by_email($1)",
        )
        .bind(email)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| {
            let member = member_at(&r, 2)?;
            Some((TenantId::new(r.get::<String, _>(0)), member, r.get::<String, _>(1)))
        }))
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<(TenantId, ApiKey)>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, id, name, role, expires_at, revoked_at, created_at, created_by
               FROM trellis_api_key_by_hash($1)",
        )
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.and_then(|r| Some((TenantId::new(r.get::<String, _>(0)), key_at(&r, 1)?))))
    }

    async fn use_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshUse, StoreError> {
        let row = sqlx::query("SELECT outcome, tenant_id, member_id, family FROM trellis_use_refresh_token($1, $2)")
            .bind(token_hash)
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(match row.get::<&str, _>(0) {
            "fresh" => RefreshUse::Fresh { tenant_id: row.get(1), member_id: row.get(2), family: row.get(3) },
            "reused" => RefreshUse::Reused,
            _ => RefreshUse::Invalid,
        })
    }

    async fn webhook_by_token(&self, token: &str) -> Result<Option<(TenantId, String)>, StoreError> {
        let row = sqlx::query("SELECT tenant_id, workflow_id FROM trellis_webhook_by_token($1)")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| (TenantId::new(r.get::<String, _>(0)), r.get(1))))
    }

    async fn sign_in_failures(&self, keys: &[&str], now: i64, window_ms: i64) -> Result<Vec<u32>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT key, failures FROM sign_in_failures WHERE key = ANY($1) AND window_start > $2")
                .bind(keys)
                .bind(now.saturating_sub(window_ms))
                .fetch_all(&self.pool)
                .await?;
        Ok(keys
            .iter()
            .map(|key| {
                let failures = rows.iter().find(|(k, _)| k == key).map_or(0, |(_, n)| *n);
                u32::try_from(failures).unwrap_or(u32::MAX)
            })
            .collect())
    }

    async fn count_sign_in_failure(&self, keys: &[&str], now: i64, window_ms: i64) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE window_start <= $1")
            .bind(now.saturating_sub(window_ms))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO sign_in_failures (key, window_start, failures) SELECT k, $2, 1 FROM UNNEST($1::TEXT[]) k
             ON CONFLICT (key) DO UPDATE SET failures = sign_in_failures.failures + 1",
        )
        .bind(keys)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
