//! The Anthropic Messages API: `x-api-key` and `anthropic-version`
//! headers, the system prompt at the top level, tool calls as `tool_use`
//! content blocks with an object `input`, their results as `tool_result`
//! blocks in the next user turn, and `stop_reason` for the finish reason.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::endpoint::{Endpoint, EndpointPolicy, join, parse_answer, post_json, status_error};
use super::{ChatRequest, ChatResponse, LlmError, ResponseFormat, Role, ToolCall, Usage};

pub const API_VERSION: &str = "2023-06-01";
/// The API requires `max_tokens`; this is used when the caller sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

#[derive(Debug, Serialize, PartialEq)]
struct WireRequest {
    model: String,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMessage>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
}

#[derive(Debug, Serialize, PartialEq)]
struct WireMessage {
    role: &'static str,
    content: Vec<Value>,
}

#[derive(Debug, Serialize, PartialEq)]
struct WireTool {
    name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    description: String,
    input_schema: Value,
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    model: String,
    content: Vec<Block>,
    stop_reason: Option<String>,
    usage: WireUsage,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
struct WireUsage {
    input_tokens: u32,
    output_tokens: u32,
}

pub(crate) async fn chat(
    endpoint: &Endpoint,
    policy: &EndpointPolicy,
    model: &str,
    request: &ChatRequest,
) -> Result<ChatResponse, LlmError> {
    let body = serde_json::to_value(wire_request(model, request))
        .map_err(|e| LlmError::permanent(format!("encoding the request: {e}")))?;
    let mut headers = vec![("anthropic-version", API_VERSION.to_owned())];
    if let Some(key) = &endpoint.api_key {
        headers.push(("x-api-key", key.clone()));
    }
    let answer = post_json(policy, &join(&endpoint.base_url, "v1/messages"), &headers, &body).await?;
    if !(200..300).contains(&answer.status) {
        return Err(status_error(&answer, "anthropic"));
    }
    let wire: WireResponse = parse_answer(&answer, "anthropic")?;
    Ok(from_wire(wire))
}

fn wire_request(model: &str, request: &ChatRequest) -> WireRequest {
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<WireMessage> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message.role {
            Role::System => {
                system.push(message.content.clone());
                continue;
            }
            Role::User => ("user", vec![json!({"type": "text", "text": message.content})]),
            Role::Assistant => {
                let mut blocks = Vec::new();
                if !message.content.is_empty() {
                    blocks.push(json!({"type": "text", "text": message.content}));
                }
                for call in &message.tool_calls {
                    // `input` must be an object; anything else the model
                    // produced is wrapped so the turn can still be replayed.
                    let input = if call.arguments.is_object() {
                        call.arguments.clone()
                    } else {
                        json!({"value": call.arguments})
                    };
                    blocks.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
                }
                ("assistant", blocks)
            }
            Role::Tool => (
                "user",
                vec![json!({
                    "type": "tool_result",
                    "tool_use_id": message.tool_call_id.clone().unwrap_or_default(),
                    "content": message.content,
                })],
            ),
        };
        // Turns alternate: the results of one assistant turn's tool calls
        // travel together in the next user turn.
        match messages.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => messages.push(WireMessage { role, content: blocks }),
        }
    }
    if let ResponseFormat::JsonSchema(schema) = &request.response_format {
        system.push(format!("Answer with only a JSON value, no prose, matching this JSON Schema:\n{schema}"));
    } else if request.response_format == ResponseFormat::JsonObject {
        system.push("Answer with only a JSON object, no prose.".to_owned());
    }
    WireRequest {
        model: model.to_owned(),
        max_tokens: request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        system: (!system.is_empty()).then(|| system.join("\n\n")),
        messages,
        tools: request
            .tools
            .iter()
            .map(|t| WireTool {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema: t.parameters.clone(),
            })
            .collect(),
        temperature: request.temperature,
    }
}

fn from_wire(wire: WireResponse) -> ChatResponse {
    let mut text = Vec::new();
    let mut tool_calls = Vec::new();
    for block in wire.content {
        match block {
            Block::Text { text: t } => text.push(t),
            Block::ToolUse { id, name, input } => tool_calls.push(ToolCall { id, name, arguments: input }),
            Block::Other => {}
        }
    }
    let finish_reason = match wire.stop_reason.as_deref() {
        Some("tool_use") => "tool_calls",
        Some("max_tokens") => "length",
        Some("refusal") => "content_filter",
        _ => "stop",
    };
    ChatResponse {
        content: text.join(""),
        tool_calls,
        finish_reason: finish_reason.to_owned(),
        model: wire.model,
        usage: Usage { prompt_tokens: wire.usage.input_tokens, completion_tokens: wire.usage.output_tokens },
        provider: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capabilities::llm::{ChatMessage, ToolSpec};

    #[test]
    fn system_goes_top_level_and_tool_results_join_one_user_turn() {
        let mut request = ChatRequest::new(vec![
            ChatMessage::new(Role::System, "be brief"),
            ChatMessage::new(Role::User, "compare"),
            ChatMessage {
                role: Role::Assistant,
                content: "checking".into(),
                tool_calls: vec![
                    ToolCall { id: "toolu_1".into(), name: "price".into(), arguments: json!({"sku": "a"}) },
                    ToolCall { id: "toolu_2".into(), name: "price".into(), arguments: json!({"sku": "b"}) },
                ],
                tool_call_id: None,
            },
            ChatMessage::tool_result("toolu_1", "3"),
            ChatMessage::tool_result("toolu_2", "4"),
        ]);
        request.tools.push(ToolSpec {
            name: "price".into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
        });
        let wire = serde_json::to_value(wire_request("claude-sonnet", &request)).unwrap();
        assert_eq!(wire["system"], "be brief");
        assert_eq!(wire["max_tokens"], DEFAULT_MAX_TOKENS);
        let messages = wire["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 3);
        assert_eq!(
            messages[1]["content"][1],
            json!({"type": "tool_use", "id": "toolu_1", "name": "price", "input": {"sku": "a"}})
        );
        assert_eq!(messages[2]["role"], "user");
        assert_eq!(messages[2]["content"][1]["tool_use_id"], "toolu_2");
        assert_eq!(wire["tools"][0]["input_schema"], json!({"type": "object"}));
    }

    #[test]
    fn tool_use_answers_are_read() {
        let wire: WireResponse = serde_json::from_value(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4",
            "content": [{"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "toolu_1", "name": "price", "input": {"sku": "a"}}],
            "stop_reason": "tool_use", "stop_sequence": null,
            "usage": {"input_tokens": 30, "output_tokens": 12}
        }))
        .unwrap();
        let response = from_wire(wire);
        assert_eq!(response.finish_reason, "tool_calls");
        assert_eq!(response.content, "Let me look.");
        assert_eq!(response.tool_calls[0].arguments, json!({"sku": "a"}));
        assert_eq!(response.usage.total(), 42);
    }
}
