//! LLM provider settings and token use per model, as the store keeps them.
//! Keys arrive sealed (the engine); the store never sees one in the
//! clear.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// One provider setting row: the setting as JSON text (its shape belongs to
/// the engine) and the sealed key, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmProviderRow {
    pub name: String,
    pub setting: String,
    pub api_key_sealed: Option<Vec<u8>>,
    pub updated_at: i64,
}

/// Tokens one model used on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelUsage {
    pub day: String,
    pub provider: String,
    pub model: String,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[async_trait]
pub trait LlmStore: Send + Sync {
    async fn llm_providers(&self) -> Result<Vec<LlmProviderRow>, StoreError>;
    /// Creates or replaces the row. `keep_key` keeps the stored key when the
    /// row comes without one (a setting changed, the key left alone).
    async fn put_llm_provider(&self, row: &LlmProviderRow, keep_key: bool) -> Result<(), StoreError>;
    /// `false` when there was no such provider.
    async fn delete_llm_provider(&self, name: &str) -> Result<bool, StoreError>;
    /// Adds one call's tokens to `day`, in the model's row and in the day's
    /// total, in one transaction.
    async fn add_llm_usage(&self, day: &str, call: &ModelUsage) -> Result<(), StoreError>;
    /// Days from `from` to `to` inclusive, by day, provider and model.
    async fn llm_usage(&self, from: &str, to: &str) -> Result<Vec<ModelUsage>, StoreError>;
}
