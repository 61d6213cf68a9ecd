//! LLMs for plugins and the agent node: provider settings (the tenant's,
//! through `/v1/llm/providers`, and the operator's, from the config file)
//! and the gateway every call goes through, which picks the provider by
//! model, caps the answer to the tenant's daily tokens and meters them.

mod gateway;
pub mod settings;

pub use gateway::{LlmGateway, SharedProvider, Source, TenantLlm};
pub use settings::{KeyInput, ProviderInput, ProviderSetting};
