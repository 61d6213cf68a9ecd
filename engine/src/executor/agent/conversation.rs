//! The conversation an agent sends the model, rebuilt from its record's
//! steps: the system prompt, the task, then each turn and the results of
//! its tool calls. Nothing else holds it, so a resumed agent sends what the
//! first one would have.

use serde_json::Value;
use trellis_host_api::capabilities::llm::{ChatMessage, Role};

use crate::store::{AgentStep, ToolStatus, ToolStep};

/// Longest tool result the model is shown.
pub(crate) const MAX_RESULT_CHARS: usize = 16 * 1024;

pub(crate) fn messages(system: Option<&str>, task: &str, steps: &[AgentStep]) -> Vec<ChatMessage> {
    let mut messages = Vec::new();
    if let Some(system) = system.filter(|s| !s.trim().is_empty()) {
        messages.push(ChatMessage::new(Role::System, system));
    }
    messages.push(ChatMessage::new(Role::User, task));
    for step in steps {
        match step {
            AgentStep::Turn(turn) => messages.push(ChatMessage {
                role: Role::Assistant,
                content: turn.content.clone(),
                tool_calls: turn.tool_calls.clone(),
                tool_call_id: None,
            }),
            AgentStep::Tool(tool) => messages.push(ChatMessage::tool_result(&tool.call_id, result_text(tool))),
        }
    }
    messages
}

/// What the model reads as a tool's result.
pub(crate) fn result_text(step: &ToolStep) -> String {
    let text = match step.status {
        ToolStatus::Succeeded => match &step.output {
            Some(Value::String(text)) => text.clone(),
            Some(output) => output.to_string(),
            None => "null".to_owned(),
        },
        ToolStatus::Rejected => {
            let comment = step.decision.as_ref().and_then(|d| d["comment"].as_str()).unwrap_or_default();
            format!("error: a person rejected this call and it did not run. {comment}").trim().to_owned()
        }
        _ => format!("error: {}", step.error.as_deref().unwrap_or("the tool did not run")),
    };
    clip(text)
}

pub(crate) fn clip(mut text: String) -> String {
    if text.chars().count() > MAX_RESULT_CHARS {
        text = text.chars().take(MAX_RESULT_CHARS).collect();
        text.push('…');
    }
    text
}
