//! OpenAI chat completions, and every server that speaks them (Azure
//! OpenAI, Ollama, vLLM, LiteLLM…). The wire types are `async-openai`'s;
//! the exchange is ours ([`super::endpoint`]) so the operator's HTTP policy
//! applies and the status and `retry-after` reach the retry decision
//! (async-openai's client retries on its own and hides both).

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent,
    ChatCompletionTool, ChatCompletionTools, CreateChatCompletionRequest, CreateChatCompletionResponse, FinishReason,
    FunctionCall, FunctionObject, ResponseFormat as WireFormat, ResponseFormatJsonSchema,
};
use serde_json::Value;

use super::endpoint::{Endpoint, EndpointPolicy, ProviderKind, join, parse_answer, post_json, status_error};
use super::{ChatMessage, ChatRequest, ChatResponse, LlmError, ResponseFormat, Role, ToolCall, Usage};

/// The Azure OpenAI API version requests name.
const AZURE_API_VERSION: &str = "2024-10-21";

pub(crate) async fn chat(
    endpoint: &Endpoint,
    policy: &EndpointPolicy,
    model: &str,
    request: &ChatRequest,
) -> Result<ChatResponse, LlmError> {
    let body = serde_json::to_value(wire_request(model, request))
        .map_err(|e| LlmError::permanent(format!("encoding the request: {e}")))?;
    let mut headers = Vec::new();
    let url = if endpoint.kind == ProviderKind::AzureOpenai {
        if let Some(key) = &endpoint.api_key {
            headers.push(("api-key", key.clone()));
        }
        format!("{}?api-version={AZURE_API_VERSION}", join(&endpoint.base_url, "chat/completions"))
    } else {
        if let Some(key) = &endpoint.api_key {
            headers.push(("authorization", format!("Bearer {key}")));
        }
        join(&endpoint.base_url, "chat/completions")
    };
    let name = endpoint.kind.as_str();
    let answer = post_json(policy, &url, &headers, &body).await?;
    if !(200..300).contains(&answer.status) {
        return Err(status_error(&answer, name));
    }
    let wire: CreateChatCompletionResponse = parse_answer(&answer, name)?;
    from_wire(wire, name)
}

fn wire_request(model: &str, request: &ChatRequest) -> CreateChatCompletionRequest {
    let messages = request.messages.iter().map(wire_message).collect();
    let tools = (!request.tools.is_empty()).then(|| {
        request
            .tools
            .iter()
            .map(|tool| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: tool.name.clone(),
                        description: Some(tool.description.clone()).filter(|d| !d.is_empty()),
                        parameters: Some(tool.parameters.clone()),
                        strict: None,
                    },
                })
            })
            .collect()
    });
    let response_format = match &request.response_format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(WireFormat::JsonObject),
        ResponseFormat::JsonSchema(schema) => Some(WireFormat::JsonSchema {
            json_schema: ResponseFormatJsonSchema {
                description: None,
                name: "answer".to_owned(),
                schema: Some(schema.clone()),
                strict: None,
            },
        }),
    };
    CreateChatCompletionRequest {
        model: model.to_owned(),
        messages,
        tools,
        temperature: request.temperature,
        max_completion_tokens: request.max_tokens,
        response_format,
        ..Default::default()
    }
}

fn wire_message(message: &ChatMessage) -> ChatCompletionRequestMessage {
    let text = message.content.clone();
    match message.role {
        Role::System => ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
            content: ChatCompletionRequestSystemMessageContent::Text(text),
            name: None,
        }),
        Role::User => ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
            content: ChatCompletionRequestUserMessageContent::Text(text),
            name: None,
        }),
        Role::Assistant => {
            let tool_calls = (!message.tool_calls.is_empty()).then(|| {
                message
                    .tool_calls
                    .iter()
                    .map(|call| {
                        ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
                            id: call.id.clone(),
                            function: FunctionCall { name: call.name.clone(), arguments: call.arguments.to_string() },
                        })
                    })
                    .collect()
            });
            // An assistant turn that only calls tools has `content: null`.
            let content = (!text.is_empty() || tool_calls.is_none())
                .then_some(ChatCompletionRequestAssistantMessageContent::Text(text));
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content,
                tool_calls,
                ..Default::default()
            })
        }
        Role::Tool => ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
            content: ChatCompletionRequestToolMessageContent::Text(text),
            tool_call_id: message.tool_call_id.clone().unwrap_or_default(),
        }),
    }
}

fn from_wire(wire: CreateChatCompletionResponse, provider: &str) -> Result<ChatResponse, LlmError> {
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::permanent(format!("{provider}'s answer has no choices")))?;
    let tool_calls = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .filter_map(|call| match call {
            // `arguments` is JSON *text*; text that does not parse is kept
            // as a string so the caller can tell the model what was wrong.
            ChatCompletionMessageToolCalls::Function(call) => Some(ToolCall {
                arguments: serde_json::from_str(&call.function.arguments)
                    .unwrap_or(Value::String(call.function.arguments)),
                id: call.id,
                name: call.function.name,
            }),
            ChatCompletionMessageToolCalls::Custom(_) => None,
        })
        .collect::<Vec<_>>();
    let finish_reason = match choice.finish_reason {
        Some(FinishReason::Stop) | None => "stop",
        Some(FinishReason::Length) => "length",
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => "tool_calls",
        Some(FinishReason::ContentFilter) => "content_filter",
    };
    let usage = wire.usage.unwrap_or_default();
    Ok(ChatResponse {
        content: choice.message.content.or(choice.message.refusal).unwrap_or_default(),
        tool_calls,
        finish_reason: finish_reason.to_owned(),
        model: wire.model,
        usage: Usage { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens },
        provider: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::capabilities::llm::ToolSpec;

    #[test]
    fn tool_turns_go_out_in_the_documented_shape() {
        let mut request = ChatRequest::new(vec![
            ChatMessage::new(Role::System, "be brief"),
            ChatMessage::new(Role::User, "weather in Oslo?"),
            ChatMessage {
                role: Role::Assistant,
                content: String::new(),
                tool_calls: vec![ToolCall {
                    id: "call_1".into(),
                    name: "weather".into(),
                    arguments: json!({"city": "Oslo"}),
                }],
                tool_call_id: None,
            },
            ChatMessage::tool_result("call_1", "{\"c\":3}"),
        ]);
        request.tools.push(ToolSpec {
            name: "weather".into(),
            description: "Weather by city".into(),
            parameters: json!({"type": "object"}),
        });
        request.max_tokens = Some(50);
        let wire = serde_json::to_value(wire_request("gpt-4o-mini", &request)).unwrap();
        assert_eq!(wire["model"], "gpt-4o-mini");
        assert_eq!(wire["max_completion_tokens"], 50);
        assert_eq!(wire["messages"][2]["role"], "assistant");
        assert!(wire["messages"][2].get("content").is_none(), "{wire}");
        assert_eq!(wire["messages"][2]["tool_calls"][0]["type"], "function");
        // Arguments travel as JSON text.
        assert_eq!(wire["messages"][2]["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Oslo\"}");
        assert_eq!(wire["messages"][3], json!({"role": "tool", "content": "{\"c\":3}", "tool_call_id": "call_1"}));
        assert_eq!(wire["tools"][0]["type"], "function");
        assert_eq!(wire["tools"][0]["function"]["parameters"], json!({"type": "object"}));
    }

    #[test]
    fn tool_call_answers_are_read_with_string_arguments() {
        let wire: CreateChatCompletionResponse = serde_json::from_value(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_9", "type": "function",
                                "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}}]}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
        }))
        .unwrap();
        let response = from_wire(wire, "openai").unwrap();
        assert_eq!(response.finish_reason, "tool_calls");
        assert_eq!(response.content, "");
        assert_eq!(response.tool_calls[0].arguments, json!({"city": "Oslo"}));
        assert_eq!(response.usage, Usage { prompt_tokens: 20, completion_tokens: 5 });
        assert_eq!(response.model, "gpt-4o-mini-2024");
    }
}
