//! `trellis:plugin/llm`: OpenAI-compatible chat completion done by the host
//! with the tenant's provider, key and token quota. The engine supplies the
//! provider; without one every call is refused.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::state::HostState;
use crate::v0_1_0::trellis::plugin::llm;

const MAX_MESSAGES: usize = 256;
const MAX_PROMPT_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub json_mode: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub content: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[async_trait]
pub trait LlmProvider: Send + Sync {
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, String>;
}

/// The default: the tenant has no provider configured.
#[derive(Debug, Default, Clone, Copy)]
pub struct DisabledLlm;

#[async_trait]
impl LlmProvider for DisabledLlm {
    async fn chat(&self, _request: ChatRequest) -> Result<ChatResponse, String> {
        Err("llm is not enabled for this tenant".to_owned())
    }
}

pub(crate) struct LlmHost {
    provider: Arc<dyn LlmProvider>,
    pub(crate) tokens_used: u64,
}

impl LlmHost {
    pub(crate) fn new(provider: Arc<dyn LlmProvider>) -> Self {
        LlmHost { provider, tokens_used: 0 }
    }
}

impl llm::Host for HostState {
    async fn chat(&mut self, req: llm::ChatRequest) -> Result<llm::ChatResponse, String> {
        if req.messages.len() > MAX_MESSAGES {
            return Err(format!("llm request has {} messages, over the {MAX_MESSAGES} limit", req.messages.len()));
        }
        let prompt_bytes: usize = req.messages.iter().map(|m| m.content.len() + m.role.len()).sum();
        if prompt_bytes > MAX_PROMPT_BYTES {
            return Err(format!("llm prompt is {prompt_bytes} bytes, over the {MAX_PROMPT_BYTES}-byte limit"));
        }
        let request = ChatRequest {
            model: req.model,
            messages: req.messages.into_iter().map(|m| ChatMessage { role: m.role, content: m.content }).collect(),
            temperature: req.temperature,
            max_tokens: req.max_tokens,
            json_mode: req.json_mode,
        };
        let response = self.llm.provider.chat(request).await?;
        self.llm.tokens_used += u64::from(response.prompt_tokens) + u64::from(response.completion_tokens);
        Ok(llm::ChatResponse {
            content: response.content,
            prompt_tokens: response.prompt_tokens,
            completion_tokens: response.completion_tokens,
        })
    }
}
