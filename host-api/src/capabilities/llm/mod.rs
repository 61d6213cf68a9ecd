//! `trellis:plugin/llm`: chat completion done by the host with the tenant's
//! provider, key and token quota. The engine supplies the provider (an
//! [`LlmProvider`]); without one every call is refused.
//!
//! - the request and answer shapes shared by every WIT version and every
//!   provider live here;
//! - [`host`] implements the WIT interfaces of each version on them;
//! - [`openai`] and [`anthropic`] speak the two wire formats;
//! - [`endpoint`] sends one exchange under the operator's HTTP policy and
//!   maps what went wrong to retryable or not.

pub mod anthropic;
pub mod endpoint;
mod host;
pub mod openai;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use host::LlmHost;
pub use host::{MAX_MESSAGES, MAX_PROMPT_BYTES, MAX_TOOLS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "tool" => Some(Role::Tool),
            _ => None,
        }
    }
}

/// A call the model asks for. `arguments` is whatever JSON the model
/// produced: the caller checks it against the tool's schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
    }

    pub fn tool_result(call_id: impl Into<String>, content: impl Into<String>) -> Self {
        ChatMessage {
            role: Role::Tool,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_call_id: Some(call_id.into()),
        }
    }
}

/// A function the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "schema")]
pub enum ResponseFormat {
    #[default]
    Text,
    /// Any JSON object (0.1.0's `json-mode`).
    JsonObject,
    /// JSON matching this schema.
    JsonSchema(Value),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub response_format: ResponseFormat,
}

impl ChatRequest {
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        ChatRequest {
            model: None,
            messages,
            tools: Vec::new(),
            temperature: None,
            max_tokens: None,
            response_format: ResponseFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

impl Usage {
    pub fn total(self) -> u64 {
        u64::from(self.prompt_tokens) + u64::from(self.completion_tokens)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: String,
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    /// `stop`, `length`, `tool_calls` or `content_filter`, whatever the
    /// provider calls them.
    pub finish_reason: String,
    /// The model that answered.
    pub model: String,
    pub usage: Usage,
    /// The tenant's or operator's provider setting that answered.
    pub provider: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmErrorKind {
    /// Trying again later may work: rate limited, provider overloaded or
    /// down, timed out.
    Retryable,
    /// The same request will fail again: bad request, bad key, unknown
    /// model, an answer that is not what the format promises.
    Permanent,
    /// The tenant's daily tokens are used up.
    QuotaExceeded,
}

/// Why a chat call failed. The message never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmError {
    pub kind: LlmErrorKind,
    pub message: String,
    /// What the provider's `retry-after` asked for.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::config::optional_millis")]
    pub retry_after: Option<Duration>,
}

impl LlmError {
    pub fn permanent(message: impl Into<String>) -> Self {
        LlmError { kind: LlmErrorKind::Permanent, message: message.into(), retry_after: None }
    }

    pub fn retryable(message: impl Into<String>, retry_after: Option<Duration>) -> Self {
        LlmError { kind: LlmErrorKind::Retryable, message: message.into(), retry_after }
    }

    pub fn quota(message: impl Into<String>) -> Self {
        LlmError { kind: LlmErrorKind::QuotaExceeded, message: message.into(), retry_after: None }
    }

    pub fn is_retryable(&self) -> bool {
        self.kind == LlmErrorKind::Retryable
    }
}

impl std::fmt::Display for LlmError {
    /// A plugin sees only this text; `retryable:` first tells it (and the
    /// SDK) that trying again may help.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.kind {
            LlmErrorKind::Retryable => write!(f, "retryable: {}", self.message),
            LlmErrorKind::Permanent => write!(f, "{}", self.message),
            LlmErrorKind::QuotaExceeded => write!(f, "quota_exceeded: {}", self.message),
        }
    }
}

impl std::error::Error for LlmError {}

/// One chat call as the node record keeps it: the text of the exchange is
/// not kept, only what it cost and how it ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmCall {
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<LlmError>,
}

#[async_trait]
pub trait LlmProvider: Send + Sync {
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, LlmError>;
}

/// The default: the tenant has no provider, or the plugin no `llm` grant.
#[derive(Debug, Default, Clone, Copy)]
pub struct DisabledLlm;

#[async_trait]
impl LlmProvider for DisabledLlm {
    async fn chat(&self, _request: ChatRequest) -> Result<ChatResponse, LlmError> {
        Err(LlmError::permanent("llm is not enabled for this tenant"))
    }
}
