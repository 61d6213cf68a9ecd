//! Runs, their nodes, and what a node's execution recorded.

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::ToSchema;

/// An RFC 3339 time (UTC, milliseconds).
type Time = String;

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum NodeStatus {
    Pending,
    Running,
    Waiting,
    Retrying,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

/// A run of a workflow version.
#[derive(ToSchema)]
pub struct Run {
    pub id: String,
    pub workflow_id: String,
    /// The saved version run; absent for documents run unsaved.
    pub workflow_version: Option<i64>,
    /// The workflow document as it was when the run started.
    pub document: Value,
    pub status: RunStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<String>,
    /// The `map` or `subworkflow` node this child run belongs to.
    pub parent: Option<ParentRef>,
    pub cancel_requested: bool,
    /// The run and node this one re-runs from.
    #[schema(required = false)]
    pub rerun_of: Option<RerunOf>,
    /// Who started it: `member:…`, `key:…`, `webhook`, `cron`.
    #[schema(required = false)]
    pub started_by: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Time,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Time,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Time>,
}

#[derive(ToSchema)]
pub struct ParentRef {
    pub run_id: String,
    pub node_id: String,
    pub item: u64,
}

#[derive(ToSchema)]
pub struct RerunOf {
    pub run_id: String,
    pub node_id: String,
}

/// One node of a run: its state and everything its execution recorded.
#[derive(ToSchema)]
pub struct Node {
    pub node_id: String,
    pub status: NodeStatus,
    /// 0 before the first attempt.
    pub attempt: u32,
    /// `<run id>:<node id>`, the same on every attempt.
    pub idempotency_key: String,
    pub input: Option<Value>,
    /// The config after expressions.
    pub config: Option<Value>,
    /// What the node emitted, by port.
    pub emits: Vec<Emit>,
    pub error: Option<Failure>,
    pub fuel_used: u64,
    pub peak_memory_bytes: u64,
    pub wall_time_us: u64,
    pub http_calls: Vec<OutboundCall>,
    #[schema(required = false)]
    pub llm_calls: Vec<LlmCall>,
    pub logs: Vec<LogLine>,
    pub logs_truncated: bool,
    /// When a waiting delay or retry back-off ends.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub wake_at: Option<Time>,
    /// An approval's decision, or a cancel.
    pub signal: Option<Value>,
    /// An `agent` node's model turns and tool calls.
    #[schema(required = false)]
    pub agent: Option<AgentRecord>,
    /// The failed attempts before this one.
    pub history: Vec<Attempt>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Time>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Time>,
}

#[derive(ToSchema)]
pub struct Emit {
    pub port: String,
    pub data: Value,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum FailureCode {
    InvalidConfig,
    InvalidInput,
    Retryable,
    Fatal,
    Timeout,
    FuelExhausted,
    MemoryLimit,
    Trap,
    InvalidOutput,
    Capacity,
    QuotaExceeded,
}

#[derive(ToSchema)]
pub struct Failure {
    pub code: FailureCode,
    pub message: String,
}

#[derive(ToSchema)]
pub struct Attempt {
    pub attempt: u32,
    pub failure: Failure,
    pub wall_time_us: u64,
    #[schema(value_type = String, format = DateTime)]
    pub finished_at: Time,
}

/// One outbound HTTP request a node made (or was refused).
#[derive(ToSchema)]
pub struct OutboundCall {
    pub method: String,
    pub host: String,
    /// Without the query string.
    pub url: String,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub response_bytes: u64,
    #[schema(required = false)]
    pub error: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(ToSchema)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    /// Milliseconds since the execution started.
    pub at_ms: u64,
}

/// One model call of a node.
#[derive(ToSchema)]
pub struct LlmCall {
    pub provider: String,
    pub model: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub duration_ms: u64,
    #[schema(required = false)]
    pub finish_reason: Option<String>,
    /// `{kind, message}` when the call failed.
    #[schema(required = false)]
    pub error: Option<Value>,
}

#[derive(ToSchema)]
pub struct AgentRecord {
    /// Model turns (`step: turn`) and tool calls (`step: tool`), in order.
    pub steps: Vec<BTreeMap<String, Value>>,
}

/// A run and its nodes.
#[derive(ToSchema)]
pub struct RunDetail {
    pub run: Run,
    pub nodes: Vec<Node>,
}

/// A run just started (or re-run), still going.
#[derive(ToSchema)]
pub struct RunStarted {
    pub run: Run,
}

/// A run in the list.
#[derive(ToSchema)]
pub struct RunSummary {
    pub id: String,
    pub workflow_id: String,
    pub workflow_version: Option<i64>,
    pub status: RunStatus,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Time,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Time>,
    pub error: Option<String>,
}

#[derive(ToSchema)]
pub struct RunList {
    pub runs: Vec<RunSummary>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct CancelRequested {
    pub id: String,
    pub cancel_requested: bool,
}

#[derive(ToSchema)]
pub struct Decided {
    pub run_id: String,
    pub node_id: String,
    /// `{approved, by, comment}`.
    pub decision: DecisionRecord,
}

#[derive(ToSchema)]
pub struct DecisionRecord {
    pub approved: bool,
    pub by: String,
    pub comment: Option<String>,
}

/// `event: node` of a run's event stream: a node changed status.
#[derive(ToSchema)]
pub struct NodeEvent {
    /// The run, or a child run (`<run id>.<node>.<item>`).
    pub run_id: String,
    pub node_id: String,
    pub status: NodeStatus,
    pub attempt: u32,
    pub wall_time_us: u64,
    pub error: Option<String>,
}

/// `event: run`: the run changed status; the stream closes after a final one.
#[derive(ToSchema)]
pub struct RunEvent {
    pub run_id: String,
    pub status: RunStatus,
    pub error: Option<String>,
}

/// The `data` of each event of `GET /v1/runs/{id}/events`: first
/// `snapshot` (a [`RunDetail`]), then `node` and `run` events.
#[derive(ToSchema)]
pub enum StreamEvent {
    Snapshot(Box<RunDetail>),
    Node(NodeEvent),
    Run(RunEvent),
}

/// A webhook delivery accepted: the run it started.
#[derive(ToSchema)]
pub struct HookAccepted {
    pub run_id: String,
    pub status: RunStatus,
}

/// Whatever JSON the sender posts (or a form, as an object of its fields);
/// the workflow's `input_schema` decides what fits.
#[derive(ToSchema)]
#[schema(value_type = Object)]
pub struct WebhookPayload(Value);
