//! An agent node's config, after the driver rendered its expressions (its
//! tools' configs stay unrendered: each call renders them over the model's
//! arguments).

use serde::Deserialize;
use serde_json::Value;
use trellis_host_api::{Failure, FailureCode};

use super::{DEFAULT_ITERATIONS, MAX_ITERATIONS};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentConfig {
    #[serde(default)]
    pub system: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub temperature: Option<f32>,
    #[serde(default)]
    pub max_tokens: Option<u32>,
    #[serde(default = "default_iterations")]
    pub max_iterations: u32,
    pub tools: Vec<ToolRef>,
}

fn default_iterations() -> u32 {
    DEFAULT_ITERATIONS
}

/// A node kind installed in the tenant, offered to the model as a tool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ToolRef {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub uses: String,
    pub kind: String,
    #[serde(default = "empty_object")]
    pub config: Value,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub approval: bool,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl ToolRef {
    /// What the model calls it.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.kind)
    }
}

impl AgentConfig {
    pub fn parse(config: &Value) -> Result<AgentConfig, Failure> {
        let parsed: AgentConfig = serde_path_to_error::deserialize(config.clone())
            .map_err(|e| Failure::new(FailureCode::InvalidConfig, format!("config.{}: {}", e.path(), e.inner())))?;
        if parsed.max_iterations == 0 || parsed.max_iterations > MAX_ITERATIONS {
            return Err(Failure::new(
                FailureCode::InvalidConfig,
                format!("config.max_iterations must be 1 to {MAX_ITERATIONS}"),
            ));
        }
        Ok(parsed)
    }
}
