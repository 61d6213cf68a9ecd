//! What the store keeps about runs and nodes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_host_api::capabilities::llm::LlmCall;
use trellis_host_api::{Emit, Failure, LogLine, OutboundCall};

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled)
    }
}

/// Where a child run (one `map` item, or a `subworkflow`) hangs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentRef {
    pub run_id: String,
    pub node_id: String,
    /// Item index for `map`; 0 for `subworkflow`.
    pub item: u64,
}

/// A run's document, kept as its JSON text: the run record is written at
/// its start and its end (and read back on recovery), and the document,
/// the largest part of it, is serialised once instead of each time.
#[derive(Clone)]
pub struct Document(std::sync::Arc<serde_json::value::RawValue>);

impl Document {
    pub fn of(document: &impl Serialize) -> serde_json::Result<Self> {
        Ok(Document(serde_json::value::to_raw_value(document)?.into()))
    }

    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.0.get())
    }
}

impl PartialEq for Document {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.get())
    }
}

impl Serialize for Document {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Document {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Document(Box::<serde_json::value::RawValue>::deserialize(deserializer)?.into()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerunOf {
    pub run_id: String,
    pub node_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub workflow_id: String,
    /// Saved version the run used; `None` for an unsaved document (`trellis run FILE`).
    pub workflow_version: Option<i64>,
    /// The exact document the run executes.
    pub document: Document,
    pub status: RunStatus,
    pub input: Value,
    #[serde(default)]
    pub output: Option<Value>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub parent: Option<ParentRef>,
    /// Set by a cancel request; the driver honours it.
    #[serde(default)]
    pub cancel_requested: bool,
    /// For a re-run: the run and node it re-ran from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_of: Option<RerunOf>,
    /// Who started a top-level run through the server (`member:<id>`,
    /// `key:<id>`, `webhook`, `cron`); the store audits the start from it
    /// in the statement that inserts the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    #[serde(default)]
    pub finished_at: Option<i64>,
}

impl RunRecord {
    /// A run record as it is first written: nothing decided yet.
    pub fn new(
        id: String,
        workflow_id: String,
        workflow_version: Option<i64>,
        document: Document,
        status: RunStatus,
        input: Value,
    ) -> Self {
        let now = now_ms();
        RunRecord {
            id,
            workflow_id,
            workflow_version,
            document,
            status,
            input,
            output: None,
            error: None,
            parent: None,
            cancel_requested: false,
            rerun_of: None,
            started_by: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    /// Not reached yet.
    Pending,
    /// An attempt is executing.
    Running,
    /// A delay, an approval or child runs are pending.
    Waiting,
    /// Failed an attempt; the next starts at `wake_at`.
    Retrying,
    Succeeded,
    /// Failed for good. With an `error` edge the failure is emitted there
    /// and the run goes on; without one the run fails.
    Failed,
    Skipped,
    Cancelled,
}

impl NodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Running => "running",
            NodeStatus::Waiting => "waiting",
            NodeStatus::Retrying => "retrying",
            NodeStatus::Succeeded => "succeeded",
            NodeStatus::Failed => "failed",
            NodeStatus::Skipped => "skipped",
            NodeStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_finished(self) -> bool {
        matches!(self, NodeStatus::Succeeded | NodeStatus::Failed | NodeStatus::Skipped | NodeStatus::Cancelled)
    }
}

/// A failed attempt kept in the node's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub attempt: u32,
    pub failure: Failure,
    pub wall_time_us: u64,
    pub finished_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub node_id: String,
    pub status: NodeStatus,
    /// The current (or last) attempt, from 1; 0 before the first.
    pub attempt: u32,
    /// Same on every attempt: `<run id>:<node id>`.
    pub idempotency_key: String,
    #[serde(default)]
    pub input: Option<Value>,
    /// Config after expressions.
    #[serde(default)]
    pub config: Option<Value>,
    #[serde(default)]
    pub emits: Vec<Emit>,
    #[serde(default)]
    pub error: Option<Failure>,
    #[serde(default)]
    pub fuel_used: u64,
    #[serde(default)]
    pub peak_memory_bytes: u64,
    #[serde(default)]
    pub wall_time_us: u64,
    #[serde(default)]
    pub http_calls: Vec<OutboundCall>,
    /// LLM calls: provider, model, tokens, duration, finish reason or error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub llm_calls: Vec<LlmCall>,
    #[serde(default)]
    pub logs: Vec<LogLine>,
    /// Lines past the sandbox's caps (count or bytes) were dropped.
    #[serde(default)]
    pub logs_truncated: bool,
    /// When a retry or delay is due (ms since the epoch).
    #[serde(default)]
    pub wake_at: Option<i64>,
    /// An approval's decision.
    #[serde(default)]
    pub signal: Option<Value>,
    /// An agent node's model turns and tool calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<crate::AgentRecord>,
    #[serde(default)]
    pub history: Vec<AttemptRecord>,
    #[serde(default)]
    pub started_at: Option<i64>,
    #[serde(default)]
    pub finished_at: Option<i64>,
}

impl NodeRecord {
    pub fn pending(run_id: &str, node_id: &str) -> Self {
        NodeRecord {
            node_id: node_id.to_owned(),
            status: NodeStatus::Pending,
            attempt: 0,
            idempotency_key: format!("{run_id}:{node_id}"),
            input: None,
            config: None,
            emits: Vec::new(),
            error: None,
            fuel_used: 0,
            peak_memory_bytes: 0,
            wall_time_us: 0,
            http_calls: Vec::new(),
            llm_calls: Vec::new(),
            logs: Vec::new(),
            logs_truncated: false,
            wake_at: None,
            signal: None,
            agent: None,
            history: Vec::new(),
            started_at: None,
            finished_at: None,
        }
    }

    /// The data the node emitted first (what `nodes.<id>.output` means).
    pub fn output(&self) -> Value {
        self.emits.first().map(|e| e.data.clone()).unwrap_or(Value::Null)
    }

    /// Takes what an execution's report measured and logged.
    pub fn record_report(&mut self, report: &trellis_host_api::Report) {
        self.fuel_used = report.fuel_used;
        self.peak_memory_bytes = report.peak_memory_bytes;
        self.wall_time_us = report.wall_time_us;
        self.http_calls = report.http_calls.clone();
        self.llm_calls = report.llm_calls.clone();
        self.logs = report.logs.clone();
        self.logs_truncated = report.logs_truncated;
    }

    pub fn emitted_on(&self, port: &str) -> Option<&Value> {
        self.emits.iter().find(|e| e.port == port).map(|e| &e.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_run_document_is_written_as_json_and_read_back_unchanged() {
        let document = Document::of(&json!({"id": "w", "nodes": [{"id": "a"}]})).expect("document");
        let run = RunRecord::new("r".into(), "w".into(), Some(1), document, RunStatus::Running, json!({"n": 1}));
        let text = serde_json::to_string(&run).expect("serialise");
        assert!(text.contains(r#""document":{"id":"w","nodes":[{"id":"a"}]}"#), "{text}");
        let back: RunRecord = serde_json::from_str(&text).expect("deserialise");
        assert_eq!(back, run);
        // Through `json!` (API answers), the document is an object, not text.
        assert_eq!(json!({"run": run})["run"]["document"]["nodes"][0]["id"], "a");
        let parsed: Value = back.document.parse().expect("parse");
        assert_eq!(parsed["id"], "w");
    }
}
