//! Chat completion performed by the host with the tenant's provider, key
//! and token quota: messages with roles, tools the model may call, and
//! answers held to a JSON Schema.
//!
//! ```ignore
//! use trellis_plugin_sdk::llm;
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Verdict { severity: String }
//! let request = llm::request(vec![llm::system("Rate the finding."), llm::user(text)]);
//! let (verdict, _response): (Verdict, _) = llm::structured(request)?;
//! ```

use serde::de::DeserializeOwned;

use crate::NodeError;
use crate::bindings::trellis::plugin::llm;
pub use crate::bindings::trellis::plugin::llm::{ChatRequest, ChatResponse, Message, Role, Tool, ToolCall, Usage};

/// Why a chat call failed, sorted so a node can say whether its retry
/// policy should try again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmError {
    pub message: String,
    /// Rate limited, provider overloaded or down, timed out.
    pub retryable: bool,
    /// The tenant's daily tokens are used up (the node then fails with
    /// `quota_exceeded`).
    pub quota_exceeded: bool,
}

impl LlmError {
    fn from_host(text: String) -> Self {
        let retryable = text.starts_with("retryable: ");
        let quota_exceeded = text.starts_with("quota_exceeded: ");
        LlmError { message: text, retryable, quota_exceeded }
    }
}

impl std::fmt::Display for LlmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<LlmError> for NodeError {
    fn from(error: LlmError) -> Self {
        if error.retryable { NodeError::Retryable(error.message) } else { NodeError::Fatal(error.message) }
    }
}

pub fn chat(request: &ChatRequest) -> Result<ChatResponse, LlmError> {
    llm::chat(request).map_err(LlmError::from_host)
}

/// A request with the tenant's default model and settings, no tools.
pub fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest { model: None, messages, tools: Vec::new(), temperature: None, max_tokens: None, response_schema: None }
}

pub fn message(role: Role, content: impl Into<String>) -> Message {
    Message { role, content: content.into(), tool_calls: Vec::new(), tool_call_id: None }
}

pub fn system(content: impl Into<String>) -> Message {
    message(Role::System, content)
}

pub fn user(content: impl Into<String>) -> Message {
    message(Role::User, content)
}

/// The assistant turn of `response`, to send back with the tool results.
pub fn assistant(response: &ChatResponse) -> Message {
    Message {
        role: Role::Assistant,
        content: response.content.clone(),
        tool_calls: response.tool_calls.clone(),
        tool_call_id: None,
    }
}

/// The answer to one tool call.
pub fn tool_result(call: &ToolCall, content: impl Into<String>) -> Message {
    Message { role: Role::Tool, content: content.into(), tool_calls: Vec::new(), tool_call_id: Some(call.id.clone()) }
}

/// A tool whose arguments are a `T`, its JSON Schema derived by schemars.
pub fn tool<T: schemars::JsonSchema>(name: &str, description: &str) -> Tool {
    Tool {
        name: name.to_owned(),
        description: description.to_owned(),
        parameters: serde_json::to_string(&schemars::schema_for!(T)).unwrap_or_else(|_| "{}".to_owned()),
    }
}

/// The arguments of a tool call as a `T`.
pub fn arguments<T: DeserializeOwned>(call: &ToolCall) -> Result<T, String> {
    serde_json::from_str(&call.arguments).map_err(|e| format!("arguments of `{}` do not fit: {e}", call.name))
}

/// Asks for an answer matching `T`'s JSON Schema and parses it.
pub fn structured<T: DeserializeOwned + schemars::JsonSchema>(
    mut request: ChatRequest,
) -> Result<(T, ChatResponse), LlmError> {
    request.response_schema =
        Some(serde_json::to_string(&schemars::schema_for!(T)).unwrap_or_else(|_| "{}".to_owned()));
    let response = chat(&request)?;
    let value = serde_json::from_str(strip_fences(&response.content)).map_err(|e| LlmError {
        message: format!("the model's answer does not match the requested schema: {e}"),
        retryable: false,
        quota_exceeded: false,
    })?;
    Ok((value, response))
}

/// Models often wrap JSON in a Markdown code fence; the JSON is inside.
pub fn strip_fences(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else { return trimmed };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    rest.strip_suffix("```").unwrap_or(rest).trim()
}
