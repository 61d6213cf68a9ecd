//! LLM provider settings (keys arrive sealed) and token use per model.

use async_trait::async_trait;
use sqlx::Row;
use trellis_store_api::{LlmProviderRow, LlmStore, ModelUsage, StoreError, Usage};

use crate::audit::write_audit;
use crate::{PgTenant, count, int};

#[async_trait]
impl LlmStore for PgTenant {
    async fn llm_providers(&self) -> Result<Vec<LlmProviderRow>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT name, setting, api_key_sealed, updated_at FROM llm_providers WHERE tenant_id = $1 ORDER BY name",
        )
        .bind(self.tenant.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
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
        let key_update = if keep_key && row.api_key_sealed.is_none() {
            "api_key_sealed = llm_providers.api_key_sealed"
        } else {
            "api_key_sealed = excluded.api_key_sealed"
        };
        let mut tx = self.begin().await?;
        sqlx::query(&format!(
            "INSERT INTO llm_providers (tenant_id, name, setting, api_key_sealed, updated_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant_id, name) DO UPDATE SET setting = excluded.setting, {key_update},
               updated_at = excluded.updated_at"
        ))
        .bind(self.tenant.as_str())
        .bind(&row.name)
        .bind(&row.setting)
        .bind(&row.api_key_sealed)
        .bind(row.updated_at)
        .execute(&mut *tx)
        .await?;
        write_audit(&mut tx, &self.tenant, self.audit.as_deref()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_llm_provider(&self, name: &str) -> Result<bool, StoreError> {
        self.delete_audited("DELETE FROM llm_providers WHERE tenant_id = $1 AND name = $2", name).await
    }

    async fn add_llm_usage(&self, day: &str, call: &ModelUsage) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO llm_usage_daily (tenant_id, day, provider, model, calls, prompt_tokens, completion_tokens)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (tenant_id, day, provider, model) DO UPDATE SET
               calls = llm_usage_daily.calls + excluded.calls,
               prompt_tokens = llm_usage_daily.prompt_tokens + excluded.prompt_tokens,
               completion_tokens = llm_usage_daily.completion_tokens + excluded.completion_tokens",
        )
        .bind(self.tenant.as_str())
        .bind(day)
        .bind(&call.provider)
        .bind(&call.model)
        .bind(int(call.calls))
        .bind(int(call.prompt_tokens))
        .bind(int(call.completion_tokens))
        .execute(&mut *tx)
        .await?;
        let tokens = Usage { llm_tokens: call.prompt_tokens + call.completion_tokens, ..Usage::default() };
        crate::quota::add_usage(&mut tx, &self.tenant, day, &tokens).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn llm_usage(&self, from: &str, to: &str) -> Result<Vec<ModelUsage>, StoreError> {
        let mut tx = self.begin().await?;
        let rows = sqlx::query(
            "SELECT day, provider, model, calls, prompt_tokens, completion_tokens FROM llm_usage_daily
             WHERE tenant_id = $1 AND day >= $2 AND day <= $3 ORDER BY day, provider, model",
        )
        .bind(self.tenant.as_str())
        .bind(from)
        .bind(to)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
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
