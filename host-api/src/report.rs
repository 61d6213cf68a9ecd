//! What one execution produced, in the shape run records and the CLI print.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capabilities::llm::LlmCall;

/// `text` cut to at most `max` bytes (on a character boundary) and marked
/// with `…` when cut: what a plugin chooses is bounded in every record.
pub(crate) fn clipped(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The whole result of one execution: emits plus the metering report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Execution {
    pub emits: Vec<Emit>,
    pub report: Report,
}

impl Execution {
    pub fn succeeded(&self) -> bool {
        self.report.status == Status::Succeeded
    }

    pub fn failure(&self) -> Option<&Failure> {
        self.report.failure.as_ref()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emit {
    pub port: String,
    pub data: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub failure: Option<Failure>,
    pub fuel_used: u64,
    pub peak_memory_bytes: u64,
    pub wall_time_us: u64,
    pub http_calls: Vec<OutboundCall>,
    pub llm_tokens: u64,
    /// Chat calls made through the `llm` capability, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub llm_calls: Vec<LlmCall>,
    pub logs: Vec<LogLine>,
    /// Log lines were dropped after `max_log_bytes`.
    pub logs_truncated: bool,
}

/// Why a node failed. `invalid_*`, `retryable` and `fatal` come from the
/// plugin (a WIT `node-error`); the others are imposed by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: FailureCode,
    pub message: String,
}

impl Failure {
    pub fn new(code: FailureCode, message: impl Into<String>) -> Self {
        Failure { code, message: message.into() }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    InvalidConfig,
    InvalidInput,
    Retryable,
    Fatal,
    Timeout,
    FuelExhausted,
    MemoryLimit,
    /// The instance died: a wasm trap (stack overflow, panic, bad access)
    /// or a host error that kills the instance. The message is the trap text.
    Trap,
    /// The plugin returned output the host will not pass on (too large, not
    /// JSON, bad port name). Fails only this node.
    InvalidOutput,
    /// No sandbox slot was free; try again later.
    Capacity,
    /// A tenant quota the node needed (LLM tokens) is used up.
    QuotaExceeded,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::InvalidConfig => "invalid_config",
            FailureCode::InvalidInput => "invalid_input",
            FailureCode::Retryable => "retryable",
            FailureCode::Fatal => "fatal",
            FailureCode::Timeout => "timeout",
            FailureCode::FuelExhausted => "fuel_exhausted",
            FailureCode::MemoryLimit => "memory_limit",
            FailureCode::Trap => "trap",
            FailureCode::InvalidOutput => "invalid_output",
            FailureCode::Capacity => "capacity",
            FailureCode::QuotaExceeded => "quota_exceeded",
        }
    }

    /// Retried by a node's retry policy: the plugin said so, or
    /// the failure may be transient. Deterministic failures are not.
    pub fn is_retryable(self) -> bool {
        matches!(self, FailureCode::Retryable | FailureCode::Timeout | FailureCode::Trap | FailureCode::Capacity)
    }
}

/// One outbound HTTP request the plugin made or tried to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundCall {
    pub method: String,
    pub host: String,
    /// Scheme, host, port and path; the query is left out because APIs put
    /// keys there.
    pub url: String,
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub response_bytes: u64,
    /// `denied: <reason>` or the transport error, when there is no status.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl OutboundCall {
    pub fn denied(&self) -> bool {
        self.error.as_deref().is_some_and(|e| e.starts_with("denied"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
    /// Milliseconds since the execution started.
    pub at_ms: u64,
}
