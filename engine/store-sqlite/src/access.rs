//! Members, API keys and refresh tokens, and the sign-in lookups made
//! before a tenant is known.

use async_trait::async_trait;

use crate::{SqliteBackend, SqliteTenant, write_audit};
use sqlx::{Connection, Row, Sqlite, Transaction};
use trellis_store_api::{AccessStore, ApiKey, Member, RefreshUse, Role, SignIn, StoreError, TenantId, now_ms};

#[async_trait]
impl AccessStore for SqliteTenant {
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query(
            "SELECT id, name, role, expires_at, revoked_at, created_at, created_by FROM api_keys
             WHERE tenant_id = ? ORDER BY id",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(ApiKey {
                    id: r.get(0),
                    name: r.get(1),
                    role: Role::parse(r.get::<&str, _>(2))?,
                    expires_at: r.get(3),
                    revoked_at: r.get(4),
                    created_at: r.get(5),
                    created_by: r.get(6),
                })
            })
            .collect())
    }

    async fn revoke_api_key(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let found = sqlx::query("SELECT 1 FROM api_keys WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if found {
            revoke_key_lineage(&mut tx, tenant, Lineage::Key(id), now).await?;
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    async fn insert_member(&self, member: &Member, password_hash: &str) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query(
            "INSERT INTO members (tenant_id, id, email, role, password_hash, created_at, password_change_required)
             VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(&member.id)
        .bind(&member.email)
        .bind(member.role.as_str())
        .bind(password_hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        let inserted = result.rows_affected() == 1;
        if inserted {
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    async fn list_members(&self) -> Result<Vec<Member>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query(
            "SELECT id, email, role, password_change_required FROM members WHERE tenant_id = ? ORDER BY email",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.db.pool)
        .await?;
        Ok(rows.iter().filter_map(|r| member_at(r, 0)).collect())
    }

    async fn member(&self, id: &str) -> Result<Option<Member>, StoreError> {
        let tenant = &self.tenant;
        let row =
            sqlx::query("SELECT id, email, role, password_change_required FROM members WHERE tenant_id = ? AND id = ?")
                .bind(tenant.as_str())
                .bind(id)
                .fetch_optional(&self.db.pool)
                .await?;
        Ok(row.and_then(|r| member_at(&r, 0)))
    }

    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        insert_key(&mut tx, tenant, key, key_hash).await?;
        write_audit(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn insert_refresh_token(
        &self,
        member_id: &str,
        family: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, tenant_id, member_id, family, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(tenant.as_str())
        .bind(member_id)
        .bind(family)
        .bind(expires_at)
        .execute(&mut *self.db.writer.lock().await)
        .await?;
        Ok(())
    }

    async fn set_member_role(&self, id: &str, role: Role) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query("UPDATE members SET role = ? WHERE tenant_id = ? AND id = ?")
            .bind(role.as_str())
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let changed = result.rows_affected() == 1;
        if changed {
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn delete_member(&self, id: &str) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let result = sqlx::query("DELETE FROM members WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        revoke_refresh_tokens(&mut tx, tenant, id).await?;
        revoke_key_lineage(&mut tx, tenant, Lineage::Member(id), now_ms()).await?;
        if result.rows_affected() == 1 {
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(result.rows_affected() == 1)
    }

    async fn password_hash(&self, id: &str) -> Result<Option<String>, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT password_hash FROM members WHERE tenant_id = ? AND id = ?")
            .bind(tenant.as_str())
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_password(&self, id: &str, password_hash: &str) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
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
            write_audit(&mut tx, tenant, audit).await?;
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn count_owners(&self) -> Result<u64, StoreError> {
        let tenant = &self.tenant;
        let row = sqlx::query("SELECT COUNT(*) FROM members WHERE tenant_id = ? AND role = 'owner'")
            .bind(tenant.as_str())
            .fetch_one(&self.db.pool)
            .await?;
        Ok(u64::try_from(row.get::<i64, _>(0)).unwrap_or(0))
    }
}

#[async_trait]
impl SignIn for SqliteBackend {
    async fn member_by_email(&self, email: &str) -> Result<Option<(TenantId, Member, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT tenant_id, password_hash, id, email, role, password_change_required FROM members WHERE email = ?",
        )
        .bind(email)
        .fetch_optional(&self.db.pool)
        .await?;
        Ok(row.and_then(|r| {
            let member = member_at(&r, 2)?;
            Some((TenantId::new(r.get::<String, _>(0)), member, r.get::<String, _>(1)))
        }))
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<(TenantId, ApiKey)>, StoreError> {
        // Read on every API request: on the caller's thread (`hot_reads`).
        self.db.hot_reads.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT tenant_id, id, name, role, expires_at, revoked_at, created_at, created_by FROM api_keys
                 WHERE key_hash = ?",
            )?;
            let mut rows = statement.query([key_hash])?;
            let Some(r) = rows.next()? else { return Ok(None) };
            let Some(role) = Role::parse(&r.get::<_, String>(3)?) else { return Ok(None) };
            let key = ApiKey {
                id: r.get(1)?,
                name: r.get(2)?,
                role,
                expires_at: r.get(4)?,
                revoked_at: r.get(5)?,
                created_at: r.get(6)?,
                created_by: r.get(7)?,
            };
            Ok(Some((TenantId::new(r.get::<_, String>(0)?), key)))
        })
    }

    async fn use_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshUse, StoreError> {
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT tenant_id, member_id, family, expires_at, used, revoked FROM refresh_tokens WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(RefreshUse::Invalid) };
        let family: String = row.get(2);
        if row.get::<i64, _>(4) != 0 {
            sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family = ?")
                .bind(&family)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(RefreshUse::Reused);
        }
        if row.get::<i64, _>(5) != 0 || row.get::<i64, _>(3) < now {
            return Ok(RefreshUse::Invalid);
        }
        sqlx::query("UPDATE refresh_tokens SET used = 1 WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RefreshUse::Fresh { tenant_id: row.get(0), member_id: row.get(1), family })
    }

    async fn webhook_by_token(&self, token: &str) -> Result<Option<(TenantId, String)>, StoreError> {
        let row = sqlx::query("SELECT tenant_id, workflow_id FROM webhooks WHERE token = ?")
            .bind(token)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(row.map(|r| (TenantId::new(r.get::<String, _>(0)), r.get(1))))
    }

    async fn sign_in_failures(&self, keys: &[&str], now: i64, window_ms: i64) -> Result<Vec<u32>, StoreError> {
        let mut counts = Vec::with_capacity(keys.len());
        for key in keys {
            let failures: Option<i64> =
                sqlx::query_scalar("SELECT failures FROM sign_in_failures WHERE key = ? AND window_start > ?")
                    .bind(key)
                    .bind(now.saturating_sub(window_ms))
                    .fetch_optional(&self.db.pool)
                    .await?;
            counts.push(u32::try_from(failures.unwrap_or(0)).unwrap_or(u32::MAX));
        }
        Ok(counts)
    }

    async fn count_sign_in_failure(&self, keys: &[&str], now: i64, window_ms: i64) -> Result<(), StoreError> {
        let ended = now.saturating_sub(window_ms);
        let mut writer = self.db.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE window_start <= ?").bind(ended).execute(&mut *tx).await?;
        for key in keys {
            sqlx::query(
                "INSERT INTO sign_in_failures (key, window_start, failures) VALUES (?, ?, 1)
                 ON CONFLICT (key) DO UPDATE SET failures = failures + 1",
            )
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

pub(crate) async fn insert_key(
    tx: &mut Transaction<'_, Sqlite>,
    tenant: &TenantId,
    key: &ApiKey,
    key_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (tenant_id, id, name, role, key_hash, expires_at, revoked_at, created_at, created_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A member from the columns `id, email, role, password_change_required`
/// starting at `first`.
pub(crate) fn member_at(row: &sqlx::sqlite::SqliteRow, first: usize) -> Option<Member> {
    Some(Member {
        id: row.get(first),
        email: row.get(first + 1),
        role: Role::parse(row.get::<&str, _>(first + 2))?,
        password_change_required: row.get::<i64, _>(first + 3) != 0,
    })
}

/// Signs a member out of every session: their refresh tokens stop working.
pub(crate) async fn revoke_refresh_tokens(
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
pub(crate) enum Lineage<'a> {
    Key(&'a str),
    Member(&'a str),
}

/// Revokes the keys `from` names and every key created by one of them, down
/// the chain, so no key outlives the key (or member) that created it.
pub(crate) async fn revoke_key_lineage(
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
