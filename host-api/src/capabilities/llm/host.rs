//! The WIT side of `llm`, one impl per `trellis:plugin` version, both
//! turned into one [`ChatRequest`] checked against the same bounds.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use super::{ChatMessage, ChatRequest, ChatResponse, LlmCall, LlmErrorKind, LlmProvider, ResponseFormat, Role};
use super::{ToolCall, ToolSpec};
use crate::state::HostState;
use crate::{v0_1_0, v0_2_0};

/// Messages in one request.
pub const MAX_MESSAGES: usize = 256;
/// Text of one request: contents, tool arguments, tool schemas, response
/// schema together.
pub const MAX_PROMPT_BYTES: usize = 1 << 20;
/// Tools offered in one request.
pub const MAX_TOOLS: usize = 64;
const MAX_TOOL_NAME: usize = 64;

pub(crate) struct LlmHost {
    provider: Arc<dyn LlmProvider>,
    pub(crate) tokens_used: u64,
    pub(crate) calls: Vec<LlmCall>,
    /// Set when a call was refused because the tenant's tokens are used
    /// up: if the node then fails, it fails with `quota_exceeded`.
    pub(crate) quota_refusal: Option<String>,
}

impl LlmHost {
    pub(crate) fn new(provider: Arc<dyn LlmProvider>) -> Self {
        LlmHost { provider, tokens_used: 0, calls: Vec::new(), quota_refusal: None }
    }

    async fn chat(&mut self, request: Result<ChatRequest, String>) -> Result<ChatResponse, String> {
        let request = request?;
        check_request(&request)?;
        let model = request.model.clone().unwrap_or_default();
        let started = Instant::now();
        let outcome = self.provider.chat(request).await;
        let duration_ms = started.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        match outcome {
            Ok(response) => {
                self.tokens_used += response.usage.total();
                self.calls.push(LlmCall {
                    provider: response.provider.clone(),
                    model: response.model.clone(),
                    prompt_tokens: response.usage.prompt_tokens,
                    completion_tokens: response.usage.completion_tokens,
                    duration_ms,
                    finish_reason: Some(response.finish_reason.clone()),
                    error: None,
                });
                Ok(response)
            }
            Err(error) => {
                if error.kind == LlmErrorKind::QuotaExceeded {
                    self.quota_refusal = Some(error.message.clone());
                }
                let text = error.to_string();
                self.calls.push(LlmCall {
                    provider: String::new(),
                    model,
                    prompt_tokens: 0,
                    completion_tokens: 0,
                    duration_ms,
                    finish_reason: None,
                    error: Some(error),
                });
                Err(text)
            }
        }
    }
}

/// The bounds every request meets before it leaves the host, whatever
/// version it came in through.
pub(crate) fn check_request(request: &ChatRequest) -> Result<(), String> {
    if request.messages.is_empty() {
        return Err("llm request has no messages".to_owned());
    }
    if request.messages.len() > MAX_MESSAGES {
        return Err(format!("llm request has {} messages, over the {MAX_MESSAGES} limit", request.messages.len()));
    }
    if request.tools.len() > MAX_TOOLS {
        return Err(format!("llm request offers {} tools, over the {MAX_TOOLS} limit", request.tools.len()));
    }
    for tool in &request.tools {
        let name_ok = !tool.name.is_empty()
            && tool.name.len() <= MAX_TOOL_NAME
            && tool.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !name_ok {
            return Err(format!("tool name {:?} must be 1 to {MAX_TOOL_NAME} of [A-Za-z0-9_-]", clip(&tool.name)));
        }
    }
    let message_bytes: usize = request
        .messages
        .iter()
        .map(|m| {
            m.content.len()
                + m.tool_call_id.as_ref().map_or(0, String::len)
                + m.tool_calls.iter().map(|c| c.id.len() + c.name.len() + c.arguments.to_string().len()).sum::<usize>()
        })
        .sum();
    let tool_bytes: usize =
        request.tools.iter().map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len()).sum();
    let schema_bytes = match &request.response_format {
        ResponseFormat::JsonSchema(schema) => schema.to_string().len(),
        _ => 0,
    };
    let total = message_bytes + tool_bytes + schema_bytes;
    if total > MAX_PROMPT_BYTES {
        return Err(format!("llm prompt is {total} bytes, over the {MAX_PROMPT_BYTES}-byte limit"));
    }
    Ok(())
}

fn clip(text: &str) -> String {
    text.chars().take(80).collect()
}

/// A JSON field a guest sent as text, parsed; the error names the field.
fn json_field(field: &str, text: &str) -> Result<Value, String> {
    if text.len() > MAX_PROMPT_BYTES {
        return Err(format!("{field} is over the {MAX_PROMPT_BYTES}-byte limit"));
    }
    serde_json::from_str(text).map_err(|e| format!("{field} is not JSON: {e}"))
}

impl v0_1_0::trellis::plugin::llm::Host for HostState {
    async fn chat(
        &mut self,
        req: v0_1_0::trellis::plugin::llm::ChatRequest,
    ) -> Result<v0_1_0::trellis::plugin::llm::ChatResponse, String> {
        let request = (|| {
            let messages = req
                .messages
                .into_iter()
                .enumerate()
                .map(|(i, m)| match Role::parse(&m.role) {
                    Some(role) if role != Role::Tool => Ok(ChatMessage::new(role, m.content)),
                    _ => Err(format!("message #{i}: role must be system, user or assistant, got {:?}", clip(&m.role))),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ChatRequest {
                model: req.model,
                messages,
                tools: Vec::new(),
                temperature: req.temperature,
                max_tokens: req.max_tokens,
                response_format: if req.json_mode { ResponseFormat::JsonObject } else { ResponseFormat::Text },
            })
        })();
        let response = self.llm.chat(request).await?;
        Ok(v0_1_0::trellis::plugin::llm::ChatResponse {
            content: response.content,
            prompt_tokens: response.usage.prompt_tokens,
            completion_tokens: response.usage.completion_tokens,
        })
    }
}

mod v2 {
    pub(super) use crate::v0_2_0::trellis::plugin::llm::*;
}

fn role_from_wit(role: v2::Role) -> Role {
    match role {
        v2::Role::System => Role::System,
        v2::Role::User => Role::User,
        v2::Role::Assistant => Role::Assistant,
        v2::Role::Tool => Role::Tool,
    }
}

fn request_from_wit(req: v2::ChatRequest) -> Result<ChatRequest, String> {
    let messages = req
        .messages
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let tool_calls = m
                .tool_calls
                .into_iter()
                .map(|c| {
                    Ok(ToolCall {
                        arguments: json_field(
                            &format!("message #{i} tool call `{}` arguments", clip(&c.name)),
                            &c.arguments,
                        )?,
                        id: c.id,
                        name: c.name,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(ChatMessage {
                role: role_from_wit(m.role),
                content: m.content,
                tool_calls,
                tool_call_id: m.tool_call_id,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let tools = req
        .tools
        .into_iter()
        .map(|t| {
            Ok(ToolSpec {
                parameters: json_field(&format!("tool `{}` parameters", clip(&t.name)), &t.parameters)?,
                name: t.name,
                description: t.description,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let response_format = match req.response_schema {
        Some(text) => ResponseFormat::JsonSchema(json_field("response-schema", &text)?),
        None => ResponseFormat::Text,
    };
    Ok(ChatRequest {
        model: req.model,
        messages,
        tools,
        temperature: req.temperature,
        max_tokens: req.max_tokens,
        response_format,
    })
}

impl v0_2_0::trellis::plugin::llm::Host for HostState {
    async fn chat(&mut self, req: v2::ChatRequest) -> Result<v2::ChatResponse, String> {
        let response = self.llm.chat(request_from_wit(req)).await?;
        Ok(v2::ChatResponse {
            content: response.content,
            tool_calls: response
                .tool_calls
                .into_iter()
                .map(|c| v2::ToolCall { id: c.id, name: c.name, arguments: c.arguments.to_string() })
                .collect(),
            finish_reason: response.finish_reason,
            model: response.model,
            usage: v2::Usage {
                prompt_tokens: response.usage.prompt_tokens,
                completion_tokens: response.usage.completion_tokens,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(messages: Vec<ChatMessage>) -> ChatRequest {
        ChatRequest::new(messages)
    }

    #[test]
    fn bounds_name_what_is_over() {
        assert!(check_request(&request(vec![])).unwrap_err().contains("no messages"));
        let many = vec![ChatMessage::new(Role::User, "x"); MAX_MESSAGES + 1];
        assert!(check_request(&request(many)).unwrap_err().contains("257 messages"));
        let big = vec![ChatMessage::new(Role::User, "x".repeat(MAX_PROMPT_BYTES + 1))];
        assert!(check_request(&request(big)).unwrap_err().contains("bytes, over"));
        let mut bad_tool = request(vec![ChatMessage::new(Role::User, "hi")]);
        bad_tool.tools.push(ToolSpec { name: "rm -rf".into(), description: String::new(), parameters: Value::Null });
        assert!(check_request(&bad_tool).unwrap_err().contains("tool name"));
    }

    #[test]
    fn wit_json_fields_are_parsed_and_named() {
        let req = v2::ChatRequest {
            model: None,
            messages: vec![v2::Message {
                role: v2::Role::Assistant,
                content: String::new(),
                tool_calls: vec![v2::ToolCall { id: "c1".into(), name: "lookup".into(), arguments: "{nope".into() }],
                tool_call_id: None,
            }],
            tools: vec![],
            temperature: None,
            max_tokens: None,
            response_schema: None,
        };
        let err = request_from_wit(req).unwrap_err();
        assert!(err.contains("message #0 tool call `lookup` arguments is not JSON"), "{err}");
    }
}
