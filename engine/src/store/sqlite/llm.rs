use async_trait::async_trait;
use sqlx::{Connection, Row};

use super::SqliteBackend;
use crate::quota::Usage;
use crate::store::llm::{LlmBackend, LlmProviderRow, ModelUsage};
use crate::store::{AuditEntry, StoreError, TenantId};

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[async_trait]
impl LlmBackend for SqliteBackend {
    async fn llm_providers(&self, tenant: &TenantId) -> Result<Vec<LlmProviderRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT name, setting, api_key_sealed, updated_at FROM llm_providers WHERE tenant_id = ? ORDER BY name",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| LlmProviderRow {
                name: r.get(0),
                setting: r.get(1),
                api_key_sealed: r.get(2),
                updated_at: r.get(3),
            })
            .collect())
    }

    async fn put_llm_provider(
        &self,
        tenant: &TenantId,
        row: &LlmProviderRow,
        keep_key: bool,
        audit: Option<&AuditEntry>,
    ) -> Result<(), StoreError> {
        let mut writer = self.writer.lock().await;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let key_update = if keep_key && row.api_key_sealed.is_none() {
            "api_key_sealed = llm_providers.api_key_sealed"
        } else {
            "api_key_sealed = excluded.api_key_sealed"
        };
        sqlx::query(&format!(
            "INSERT INTO llm_providers (tenant_id, name, setting, api_key_sealed, updated_at) VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, name) DO UPDATE SET setting = excluded.setting, {key_update},
               updated_at = excluded.updated_at"
        ))
        .bind(tenant.as_str())
        .bind(&row.name)
        .bind(&row.setting)
        .bind(&row.api_key_sealed)
        .bind(row.updated_at)
        .execute(&mut *tx)
        .await?;
        super::write_audit(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_llm_provider(
        &self,
        tenant: &TenantId,
        name: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError> {
        self.delete_audited("DELETE FROM llm_providers WHERE tenant_id = ? AND name = ?", tenant, name, audit).await
    }

    async fn add_llm_usage(&self, tenant: &TenantId, day: &str, call: &ModelUsage) -> Result<(), StoreError> {
        let (tenant, day, call) = (tenant.as_str().to_owned(), day.to_owned(), call.clone());
        self.writes
            .write(move |connection| {
                connection
                    .prepare_cached(
                        "INSERT INTO llm_usage_daily
                           (tenant_id, day, provider, model, calls, prompt_tokens, completion_tokens)
                         VALUES (?, ?, ?, ?, ?, ?, ?)
                         ON CONFLICT (tenant_id, day, provider, model) DO UPDATE SET
                           calls = calls + excluded.calls,
                           prompt_tokens = prompt_tokens + excluded.prompt_tokens,
                           completion_tokens = completion_tokens + excluded.completion_tokens",
                    )?
                    .execute(rusqlite::params![
                        tenant,
                        day,
                        call.provider,
                        call.model,
                        int(call.calls),
                        int(call.prompt_tokens),
                        int(call.completion_tokens)
                    ])?;
                let tokens = Usage { llm_tokens: call.prompt_tokens + call.completion_tokens, ..Usage::default() };
                super::quota::add_usage(connection, &tenant, &day, &tokens)
            })
            .await
    }

    async fn llm_usage(&self, tenant: &TenantId, from: &str, to: &str) -> Result<Vec<ModelUsage>, StoreError> {
        let rows = sqlx::query(
            "SELECT day, provider, model, calls, prompt_tokens, completion_tokens FROM llm_usage_daily
             WHERE tenant_id = ? AND day >= ? AND day <= ? ORDER BY day, provider, model",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ModelUsage {
                day: r.get(0),
                provider: r.get(1),
                model: r.get(2),
                calls: count(r.get(3)),
                prompt_tokens: count(r.get(4)),
                completion_tokens: count(r.get(5)),
            })
            .collect())
    }
}
