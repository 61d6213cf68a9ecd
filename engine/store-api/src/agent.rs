//! What an `agent` node's record keeps: every model turn and every tool
//! call, in order, each written before the agent acts on it. The agent
//! rebuilds its conversation from these steps, so after a crash it goes on
//! from the last one written instead of asking the model or running a tool
//! again.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_host_api::OutboundCall;
use trellis_host_api::capabilities::llm::ToolCall;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentRecord {
    pub steps: Vec<AgentStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum AgentStep {
    /// One answer of the model.
    Turn(ModelTurn),
    /// One tool call the model asked for.
    Tool(ToolStep),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelTurn {
    /// 1 for the first turn.
    pub turn: u32,
    pub content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: String,
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// Asked for, not started.
    Pending,
    /// Waits for a person's decision before it runs.
    AwaitingApproval,
    /// A person approved it; it runs next.
    Approved,
    /// Started; after a crash it runs again (same idempotency key).
    Running,
    Succeeded,
    /// The execution failed; the model is told why.
    Failed,
    /// A person rejected it; the model is told so.
    Rejected,
    /// The arguments did not fit the tool's schema, or no such tool: it
    /// never ran, and the model is told what was wrong.
    Invalid,
}

impl ToolStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, ToolStatus::Succeeded | ToolStatus::Failed | ToolStatus::Rejected | ToolStatus::Invalid)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolStep {
    pub call_id: String,
    pub tool: String,
    pub arguments: Value,
    pub status: ToolStatus,
    /// The tool's output (a long one cut to text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// An approval's decision (`approved`, `comment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Value>,
    /// Executions started (more than one only after a crash).
    #[serde(default)]
    pub executions: u32,
    #[serde(default)]
    pub fuel_used: u64,
    #[serde(default)]
    pub wall_time_us: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_calls: Vec<OutboundCall>,
}
