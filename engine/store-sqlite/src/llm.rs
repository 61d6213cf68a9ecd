use async_trait::async_trait;

use crate::{SqliteTenant, driver, write_audit};
use sqlx::{Connection, Row};
use trellis_store_api::{LlmProviderRow, LlmStore, ModelUsage, StoreError, Usage};

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

#[async_trait]
impl LlmStore for SqliteTenant {
    async fn llm_providers(&self) -> Result<Vec<LlmProviderRow>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query(
            "SELECT name, setting, api_key_sealed, updated_at FROM llm_providers WHERE tenant_id = ? ORDER BY name",
        )
        .bind(tenant.as_str())
        .fetch_all(&self.db.pool)
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

    async fn put_llm_provider(&self, row: &LlmProviderRow, keep_key: bool) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        let mut writer = self.db.writer.lock().await;
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
        write_audit(&mut tx, tenant, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_llm_provider(&self, name: &str) -> Result<bool, StoreError> {
        let tenant = &self.tenant;
        let audit = self.audit.as_deref();
        self.db.delete_audited("DELETE FROM llm_providers WHERE tenant_id = ? AND name = ?", tenant, name, audit).await
    }

    async fn add_llm_usage(&self, day: &str, call: &ModelUsage) -> Result<(), StoreError> {
        let tenant = &self.tenant;
        let (tenant, day, call) = (tenant.as_str().to_owned(), day.to_owned(), call.clone());
        self.db
            .writes
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
                    )
                    .map_err(driver)?
                    .execute(rusqlite::params![
                        tenant,
                        day,
                        call.provider,
                        call.model,
                        int(call.calls),
                        int(call.prompt_tokens),
                        int(call.completion_tokens)
                    ])
                    .map_err(driver)?;
                let tokens = Usage { llm_tokens: call.prompt_tokens + call.completion_tokens, ..Usage::default() };
                super::quota::add_usage(connection, &tenant, &day, &tokens)
            })
            .await
    }

    async fn llm_usage(&self, from: &str, to: &str) -> Result<Vec<ModelUsage>, StoreError> {
        let tenant = &self.tenant;
        let rows = sqlx::query(
            "SELECT day, provider, model, calls, prompt_tokens, completion_tokens FROM llm_usage_daily
             WHERE tenant_id = ? AND day >= ? AND day <= ? ORDER BY day, provider, model",
        )
        .bind(tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&self.db.pool)
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
