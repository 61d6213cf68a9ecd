//! The workflow document: one schema for JSON and YAML.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// Documents larger than this are refused before parsing.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// A workflow: a DAG of nodes joined by edges on named ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Workflow {
    /// Stable slug, e.g. `nightly-scan`.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema the run input must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    pub nodes: Vec<NodeSpec>,
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// A saved workflow started when a run of this one fails, with the
    /// failure as its input (`run_id`, `workflow_id`, `workflow_version`,
    /// `error`, `failed_node`, `failed_at`). A run it starts never starts
    /// another, whatever becomes of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    /// Editor layout, kept verbatim and ignored by the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ui: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum Trigger {
    /// Fires on a schedule; the seconds field comes first (`0 0 2 * * *`).
    Cron {
        cron: String,
        #[serde(default)]
        input: Value,
    },
    /// Fires on a POST to the workflow's hook URL, signed with HMAC-SHA256.
    Webhook { webhook: WebhookTrigger },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookTrigger {
    /// Name of the tenant secret holding the HMAC key; without one the
    /// hook takes unsigned requests (the URL's token is then the only key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Whose signature scheme deliveries carry: ours by default, or a
    /// provider's (`stripe`, `flutterwave`, `twilio`, `svix`, `shopify`,
    /// `github`, `slack`); a provider's needs `secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<crate::triggers::provider_signatures::Scheme>,
    /// Hold the request until a `respond` node (its config is the reply)
    /// or the end of the run, up to `respond_timeout_ms`; then 202.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub respond: bool,
    /// How long a held request waits (default 10 s, at most 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub id: String,
    /// `publisher/plugin@semver-requirement`, e.g. `trellis/http-request@^0.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses: Option<String>,
    /// The plugin's node kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A control node run by the engine instead of a plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<Builtin>,
    /// Strings may hold `{{ expression }}` over `input` and `nodes.<id>.output|status`.
    #[serde(default = "empty_object")]
    pub config: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Wall-time limit of one attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub join: Join,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Builtin {
    /// `config.condition` (an expression) picks port `true` or `false`.
    Branch,
    /// `config.value` (an expression) picks the port named by one of
    /// `config.cases`, or `default`.
    Switch,
    /// Runs the sub-graph `config.nodes`/`config.edges` once per item of
    /// `config.items`, at most `config.concurrency` at a time.
    Map,
    /// Waits `config.ms` milliseconds (durably: survives a restart).
    Delay,
    /// Waits for a human decision; emits on `approved` or `rejected`.
    Approval,
    /// Runs the saved workflow `config.workflow` with `config.input`.
    Subworkflow,
    /// Sets the webhook reply (status, body) and passes its input on.
    Respond,
    /// An LLM loop whose tools are installed node kinds, each call a
    /// sandboxed execution; a tool may need a person's approval first.
    Agent,
}

impl Builtin {
    pub const ALL: [Builtin; 8] = [
        Builtin::Branch,
        Builtin::Switch,
        Builtin::Map,
        Builtin::Delay,
        Builtin::Approval,
        Builtin::Subworkflow,
        Builtin::Respond,
        Builtin::Agent,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Builtin::Branch => "branch",
            Builtin::Switch => "switch",
            Builtin::Map => "map",
            Builtin::Delay => "delay",
            Builtin::Approval => "approval",
            Builtin::Subworkflow => "subworkflow",
            Builtin::Respond => "respond",
            Builtin::Agent => "agent",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Join {
    /// Runs when every incoming edge is taken; skipped if any is dead.
    #[default]
    All,
    /// Runs when all incoming edges are resolved and at least one is taken.
    Any,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, including the first.
    #[serde(default = "one")]
    pub max_attempts: u32,
    #[serde(default)]
    pub backoff: Backoff,
    /// Delay before the second attempt.
    #[serde(default = "default_initial_ms")]
    pub initial_ms: u64,
    /// Cap on any single delay.
    #[serde(default = "default_max_ms")]
    pub max_ms: u64,
    /// Randomise each delay between half and all of its value, so retries
    /// of many runs do not hit a recovering service at once.
    #[serde(default = "yes")]
    pub jitter: bool,
}

fn one() -> u32 {
    1
}
fn default_initial_ms() -> u64 {
    200
}
fn default_max_ms() -> u64 {
    60_000
}
fn yes() -> bool {
    true
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 1, backoff: Backoff::Exponential, initial_ms: 200, max_ms: 60_000, jitter: true }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    Fixed,
    #[default]
    Exponential,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    pub from: String,
    /// The source's output port; `out` when omitted. `error` carries the
    /// failure of a node whose retries are exhausted.
    #[serde(default = "default_port")]
    pub port: String,
    pub to: String,
}

fn default_port() -> String {
    "out".to_owned()
}

/// A parsed `uses` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    /// `publisher/plugin`.
    pub name: String,
    pub requirement: semver::VersionReq,
}

impl PluginRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, requirement) = match text.split_once('@') {
            Some((name, req)) => {
                let requirement =
                    semver::VersionReq::parse(req).map_err(|e| format!("version requirement `{req}`: {e}"))?;
                (name, requirement)
            }
            None => (text, semver::VersionReq::STAR),
        };
        let valid_part = |p: &str| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        };
        match name.split_once('/') {
            Some((publisher, plugin)) if valid_part(publisher) && valid_part(plugin) => {}
            _ => return Err(format!("`{name}` is not `publisher/plugin` (lower-case letters, digits, - and _)")),
        }
        Ok(PluginRef { name: name.to_owned(), requirement })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkflowFormat {
    Json,
    Yaml,
}

impl WorkflowFormat {
    /// JSON documents start with `{`; anything else is read as YAML.
    pub fn sniff(text: &str) -> Self {
        if text.trim_start().starts_with('{') { WorkflowFormat::Json } else { WorkflowFormat::Yaml }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("workflow document is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Workflow {
    /// Parses a JSON or YAML document, capping its size first. Shape errors
    /// name the path where they occur.
    pub fn parse(text: &str) -> Result<Workflow, ParseError> {
        Self::parse_as(text, WorkflowFormat::sniff(text))
    }

    /// Parses a document known to be in `format`; errors in the text name
    /// its line and column.
    pub fn parse_as(text: &str, format: WorkflowFormat) -> Result<Workflow, ParseError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(ParseError::TooLarge { size: text.len(), limit: MAX_DOCUMENT_BYTES });
        }
        let value: Value = match format {
            WorkflowFormat::Json => serde_json::from_str(text).map_err(|e| ParseError::Invalid {
                path: format!("line {} column {}", e.line(), e.column()),
                message: e.to_string(),
            })?,
            WorkflowFormat::Yaml => serde_yaml_ng::from_str(text).map_err(|e| ParseError::Invalid {
                path: e.location().map(|l| format!("line {} column {}", l.line(), l.column())).unwrap_or_default(),
                message: e.to_string(),
            })?,
        };
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Workflow, ParseError> {
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            ParseError::Invalid {
                path: if path == "." { "$".to_owned() } else { format!("$.{path}") },
                message: e.into_inner().to_string(),
            }
        })
    }

    pub fn node(&self, id: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Node ids with their index, for quick lookups.
    pub fn index(&self) -> BTreeMap<&str, usize> {
        self.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
id: nightly-scan
name: Nightly security scan
input_schema: { type: object, properties: { url: { type: string } }, required: [url] }
triggers:
  - cron: "0 0 2 * * *"
    input: { url: "https://example.com" }
  - webhook: { secret: WEBHOOK_SECRET }
nodes:
  - id: scan
    uses: trellis/http-request@^0.1
    kind: request
    config: { url: "{{ input.url }}" }
  - id: risky
    builtin: branch
    config: { condition: "nodes.scan.output.status != 200" }
  - id: fix
    uses: trellis/transform@^0.1
    kind: reshape
    retry: { max_attempts: 3, backoff: exponential, initial_ms: 200 }
    timeout_ms: 10000
    join: any
edges:
  - { from: scan, to: risky }
  - { from: risky, port: "true", to: fix }
ui: { scan: { x: 0, y: 0 } }
"#;

    #[test]
    fn yaml_and_json_parse_to_the_same_document() {
        let from_yaml = Workflow::parse(YAML).unwrap();
        let json = serde_json::to_string(&from_yaml).unwrap();
        assert_eq!(Workflow::parse(&json).unwrap(), from_yaml);
        assert_eq!(from_yaml.nodes[2].retry.as_ref().unwrap().max_attempts, 3);
        assert_eq!(from_yaml.nodes[2].join, Join::Any);
        assert_eq!(from_yaml.edges[0].port, "out");
        assert_eq!(from_yaml.triggers.len(), 2);
        assert_eq!(from_yaml.ui.as_ref().unwrap()["scan"]["x"], 0);
    }

    #[test]
    fn shape_errors_name_their_path() {
        let err = Workflow::parse(r#"{"id": "x", "nodes": [{"id": "a", "joinn": "any"}]}"#).unwrap_err();
        let ParseError::Invalid { path, message } = err else { panic!("{err:?}") };
        assert_eq!(path, "$.nodes[0].joinn");
        assert!(message.contains("joinn"), "{message}");
        let too_big = "x".repeat(MAX_DOCUMENT_BYTES + 1);
        assert!(matches!(Workflow::parse(&too_big), Err(ParseError::TooLarge { .. })));
    }

    #[test]
    fn plugin_refs_parse_name_and_requirement() {
        let r = PluginRef::parse("trellis/http-request@^0.1").unwrap();
        assert_eq!(r.name, "trellis/http-request");
        assert!(r.requirement.matches(&semver::Version::new(0, 1, 5)));
        assert!(!r.requirement.matches(&semver::Version::new(0, 2, 0)));
        assert_eq!(PluginRef::parse("local/echo").unwrap().requirement, semver::VersionReq::STAR);
        assert!(PluginRef::parse("Nope").is_err());
        assert!(PluginRef::parse("a/b@not-a-version").is_err());
    }
}
