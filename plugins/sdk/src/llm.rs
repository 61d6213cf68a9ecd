//! Chat completion performed by the host with the tenant's provider.

use crate::bindings::trellis::plugin::llm;
pub use crate::bindings::trellis::plugin::llm::{ChatRequest, ChatResponse, Message};

pub fn chat(request: &ChatRequest) -> Result<ChatResponse, String> {
    llm::chat(request)
}

/// A request with the tenant's default model and settings.
pub fn request(messages: Vec<Message>) -> ChatRequest {
    ChatRequest { model: None, messages, temperature: None, max_tokens: None, json_mode: false }
}

pub fn message(role: &str, content: impl Into<String>) -> Message {
    Message { role: role.to_owned(), content: content.into() }
}
