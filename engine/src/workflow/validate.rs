//! Save-time validation: every problem at once, each with a JSON path and a
//! code. An invalid document is never stored.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::document::{Builtin, Edge, NodeSpec, PluginRef, Trigger, Workflow};
use super::graph::Graph;
use crate::catalog::{Catalog, ResolveError};
use crate::expr;

/// How deep `map` sub-graphs may nest.
const MAX_DEPTH: usize = 4;
const MAX_ATTEMPTS: u32 = 25;
const MAX_TIMEOUT_MS: u64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationLimits {
    /// Nodes per workflow (all sub-graphs included): the tenant plan's quota.
    pub max_nodes: usize,
}

impl Default for ValidationLimits {
    fn default() -> Self {
        ValidationLimits { max_nodes: 200 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    InvalidId,
    DuplicateNode,
    /// A node needs exactly one of `uses` and `builtin`.
    NodeType,
    UnknownNode,
    UnknownPort,
    Cycle,
    UnknownPlugin,
    VersionNotInstalled,
    UnknownKind,
    InvalidConfig,
    ExpressionSyntax,
    TooManyNodes,
    InvalidSchema,
    InvalidRetry,
    InvalidTrigger,
    /// `on_error` names a workflow the tenant has not saved.
    UnknownWorkflow,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// JSON path into the document, e.g. `$.nodes[2].config.url`.
    pub path: String,
    pub code: ProblemCode,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}]: {}",
            self.path,
            serde_json::to_value(self.code).unwrap_or_default().as_str().unwrap_or(""),
            self.message
        )
    }
}

struct Checker<'a> {
    catalog: &'a Catalog,
    problems: Vec<Problem>,
    node_count: usize,
}

impl Checker<'_> {
    fn report(&mut self, path: impl Into<String>, code: ProblemCode, message: impl Into<String>) {
        self.problems.push(Problem { path: path.into(), code, message: message.into() });
    }
}

fn is_slug(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Validates a whole document; an empty list means it may be saved.
pub fn validate(workflow: &Workflow, catalog: &Catalog, limits: &ValidationLimits) -> Vec<Problem> {
    let mut checker = Checker { catalog, problems: Vec::new(), node_count: 0 };
    if !is_slug(&workflow.id) {
        checker.report("$.id", ProblemCode::InvalidId, "id must be 1 to 64 of [A-Za-z0-9_-]");
    }
    if let Some(schema) = &workflow.input_schema
        && let Err(e) = jsonschema::validator_for(schema)
    {
        checker.report("$.input_schema", ProblemCode::InvalidSchema, format!("not a valid JSON Schema: {e}"));
    }
    let webhooks = workflow.triggers.iter().filter(|t| matches!(t, Trigger::Webhook { .. })).count();
    if webhooks > 1 {
        checker.report(
            "$.triggers",
            ProblemCode::InvalidTrigger,
            format!("{webhooks} webhook triggers; a workflow has one hook URL"),
        );
    }
    for (i, trigger) in workflow.triggers.iter().enumerate() {
        match trigger {
            Trigger::Cron { cron, .. } if cron.split_whitespace().count() < 6 => checker.report(
                format!("$.triggers[{i}].cron"),
                ProblemCode::InvalidTrigger,
                format!("`{cron}` needs 6 or 7 fields, seconds first (e.g. `0 0 2 * * *`)"),
            ),
            Trigger::Cron { cron, .. } => {
                if let Err(message) = crate::triggers::parse_schedule(cron) {
                    checker.report(format!("$.triggers[{i}].cron"), ProblemCode::InvalidTrigger, message);
                }
            }
            Trigger::Webhook { webhook } => {
                if let Some(Err(message)) = webhook.secret.as_deref().map(crate::secrets::check_name) {
                    checker.report(format!("$.triggers[{i}].webhook.secret"), ProblemCode::InvalidTrigger, message);
                }
                if webhook.respond_timeout_ms.is_some_and(|ms| ms == 0 || ms > 30_000) {
                    checker.report(
                        format!("$.triggers[{i}].webhook.respond_timeout_ms"),
                        ProblemCode::InvalidTrigger,
                        "must be 1 to 30000",
                    );
                }
                if webhook.verify.is_some() && webhook.secret.is_none() {
                    checker.report(
                        format!("$.triggers[{i}].webhook.secret"),
                        ProblemCode::InvalidTrigger,
                        "`verify` checks a signature made with a secret: name the tenant secret holding it",
                    );
                }
            }
        }
    }
    check_graph(&mut checker, "$", &workflow.nodes, &workflow.edges, 0);
    if checker.node_count > limits.max_nodes {
        let count = checker.node_count;
        checker.report(
            "$.nodes",
            ProblemCode::TooManyNodes,
            format!("{count} nodes (sub-graphs included), over the limit of {}", limits.max_nodes),
        );
    }
    checker.problems
}

/// Output ports of a node, when they can be known.
fn node_ports(node: &NodeSpec, catalog: &Catalog) -> Option<Vec<String>> {
    if let Some(builtin) = node.builtin {
        return Some(match builtin {
            Builtin::Branch => vec!["true".into(), "false".into()],
            Builtin::Switch => {
                let mut ports: Vec<String> = node.config["cases"]
                    .as_array()
                    .map(|cases| cases.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                ports.push("default".into());
                ports
            }
            Builtin::Approval => vec!["approved".into(), "rejected".into()],
            _ => vec!["out".into()],
        });
    }
    let reference = PluginRef::parse(node.uses.as_deref()?).ok()?;
    let plugin = catalog.resolve(&reference).ok()?;
    Some(crate::catalog::ports_of(plugin.kind(node.kind.as_deref()?)?, &node.config))
}

fn check_graph(checker: &mut Checker<'_>, prefix: &str, nodes: &[NodeSpec], edges: &[Edge], depth: usize) {
    checker.node_count += nodes.len();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let path = format!("{prefix}.nodes[{i}]");
        if !is_slug(&node.id) {
            checker.report(format!("{path}.id"), ProblemCode::InvalidId, "node id must be 1 to 64 of [A-Za-z0-9_-]");
        }
        if let Some(first) = seen.insert(node.id.as_str(), i) {
            checker.report(
                format!("{path}.id"),
                ProblemCode::DuplicateNode,
                format!("node id `{}` is already used by {prefix}.nodes[{first}]", node.id),
            );
        }
        check_node(checker, &path, node, depth);
    }

    let ports: BTreeMap<&str, Option<Vec<String>>> =
        nodes.iter().map(|n| (n.id.as_str(), node_ports(n, checker.catalog))).collect();
    for (i, edge) in edges.iter().enumerate() {
        let path = format!("{prefix}.edges[{i}]");
        for (field, id) in [("from", &edge.from), ("to", &edge.to)] {
            if !seen.contains_key(id.as_str()) {
                checker.report(format!("{path}.{field}"), ProblemCode::UnknownNode, format!("no node has id `{id}`"));
            }
        }
        if let Some(Some(known)) = ports.get(edge.from.as_str())
            && edge.port != "error"
            && !known.contains(&edge.port)
        {
            checker.report(
                format!("{path}.port"),
                ProblemCode::UnknownPort,
                format!("node `{}` has no port `{}` (ports: {}, error)", edge.from, edge.port, known.join(", ")),
            );
        }
    }
    for cycle in Graph::from_parts(nodes, edges).cycles() {
        checker.report(format!("{prefix}.edges"), ProblemCode::Cycle, format!("cycle: {}", cycle.join(" → ")));
    }
}

fn check_node(checker: &mut Checker<'_>, path: &str, node: &NodeSpec, depth: usize) {
    if let Some(retry) = &node.retry {
        if retry.max_attempts == 0 || retry.max_attempts > MAX_ATTEMPTS {
            checker.report(
                format!("{path}.retry.max_attempts"),
                ProblemCode::InvalidRetry,
                format!("must be 1 to {MAX_ATTEMPTS}"),
            );
        }
        if retry.initial_ms > retry.max_ms {
            checker.report(format!("{path}.retry.initial_ms"), ProblemCode::InvalidRetry, "must not exceed max_ms");
        }
    }
    if node.timeout_ms.is_some_and(|t| t == 0 || t > MAX_TIMEOUT_MS) {
        checker.report(
            format!("{path}.timeout_ms"),
            ProblemCode::InvalidConfig,
            format!("must be 1 to {MAX_TIMEOUT_MS}"),
        );
    }
    if !node.config.is_object() {
        checker.report(format!("{path}.config"), ProblemCode::InvalidConfig, "config must be an object");
        return;
    }
    match (&node.uses, node.builtin) {
        (Some(_), Some(_)) | (None, None) => {
            checker.report(path, ProblemCode::NodeType, "a node needs exactly one of `uses` (a plugin) and `builtin`");
        }
        (Some(uses), None) => check_plugin_node(checker, path, node, uses),
        (None, Some(builtin)) => check_builtin_node(checker, path, node, builtin, depth),
    }
}

fn check_plugin_node(checker: &mut Checker<'_>, path: &str, node: &NodeSpec, uses: &str) {
    for error in expr::check_templates(&format!("{path}.config"), &node.config) {
        checker.report(error.path.clone(), ProblemCode::ExpressionSyntax, error.to_string());
    }
    let reference = match PluginRef::parse(uses) {
        Ok(r) => r,
        Err(message) => return checker.report(format!("{path}.uses"), ProblemCode::UnknownPlugin, message),
    };
    let plugin = match checker.catalog.resolve(&reference) {
        Ok(plugin) => plugin,
        Err(e @ ResolveError::Unknown(_)) => {
            return checker.report(format!("{path}.uses"), ProblemCode::UnknownPlugin, e.to_string());
        }
        Err(e @ ResolveError::NoMatchingVersion { .. }) => {
            return checker.report(format!("{path}.uses"), ProblemCode::VersionNotInstalled, e.to_string());
        }
    };
    let names: Vec<&str> = plugin.kinds.iter().map(|k| k.name.as_str()).collect();
    let Some(kind_name) = &node.kind else {
        return checker.report(
            format!("{path}.kind"),
            ProblemCode::UnknownKind,
            format!("set `kind` to one of: {}", names.join(", ")),
        );
    };
    let Some(kind) = plugin.kind(kind_name) else {
        return checker.report(
            format!("{path}.kind"),
            ProblemCode::UnknownKind,
            format!("`{}` has no kind `{kind_name}` (kinds: {})", plugin.name, names.join(", ")),
        );
    };
    check_schema(checker, &format!("{path}.config"), &kind.config_schema, &node.config);
}

fn check_builtin_node(checker: &mut Checker<'_>, path: &str, node: &NodeSpec, builtin: Builtin, depth: usize) {
    let config_path = format!("{path}.config");
    check_schema(checker, &config_path, &super::builtin_kinds::config_schema(builtin), &node.config);
    // Bare expressions.
    for field in ["condition", "value"] {
        if matches!((builtin, field), (Builtin::Branch, "condition") | (Builtin::Switch, "value"))
            && let Some(text) = node.config[field].as_str()
            && let Err(e) = expr::check_expression(&format!("{config_path}.{field}"), text)
        {
            checker.report(e.path.clone(), ProblemCode::ExpressionSyntax, e.to_string());
        }
    }
    // Templates elsewhere in the config; a map's sub-graph is checked as a graph.
    let mut own = node.config.clone();
    if let Some(fields) = own.as_object_mut() {
        fields.remove("condition");
        fields.remove("value");
        if builtin == Builtin::Map {
            fields.remove("nodes");
            fields.remove("edges");
        }
        if builtin == Builtin::Agent {
            fields.remove("tools");
        }
    }
    for error in expr::check_templates(&config_path, &own) {
        checker.report(error.path.clone(), ProblemCode::ExpressionSyntax, error.to_string());
    }
    if builtin == Builtin::Agent {
        check_agent_tools(checker, &config_path, &node.config);
    }
    if builtin == Builtin::Map {
        if depth + 1 > MAX_DEPTH {
            return checker.report(
                config_path,
                ProblemCode::InvalidConfig,
                format!("map nesting deeper than {MAX_DEPTH}"),
            );
        }
        match sub_graph(&node.config) {
            Ok((nodes, edges)) => check_graph(checker, &config_path, &nodes, &edges, depth + 1),
            Err((at, message)) => checker.report(format!("{config_path}{at}"), ProblemCode::InvalidConfig, message),
        }
    }
}

/// Each of an agent's tools is checked as a plugin node would be (plugin
/// installed, kind known, config against the kind's schema, expressions),
/// its name is unique and its `parameters` a usable schema.
fn check_agent_tools(checker: &mut Checker<'_>, config_path: &str, config: &Value) {
    let mut names = std::collections::BTreeSet::new();
    for (i, tool) in config["tools"].as_array().into_iter().flatten().enumerate() {
        let path = format!("{config_path}.tools[{i}]");
        let (Some(uses), Some(kind)) = (tool["uses"].as_str(), tool["kind"].as_str()) else { continue };
        let name = tool["name"].as_str().unwrap_or(kind);
        if !names.insert(name.to_owned()) {
            checker.report(format!("{path}.name"), ProblemCode::InvalidConfig, format!("two tools are named `{name}`"));
        }
        if let Some(parameters) = tool.get("parameters")
            && let Err(e) = jsonschema::validator_for(parameters)
        {
            checker.report(
                format!("{path}.parameters"),
                ProblemCode::InvalidConfig,
                format!("not a usable JSON Schema: {e}"),
            );
        }
        let as_node = NodeSpec {
            id: name.to_owned(),
            uses: Some(uses.to_owned()),
            kind: Some(kind.to_owned()),
            builtin: None,
            config: tool.get("config").cloned().unwrap_or_else(|| json!({})),
            retry: None,
            timeout_ms: None,
            join: Default::default(),
        };
        check_plugin_node(checker, &path, &as_node, uses);
    }
}

/// The nodes and edges of a map's sub-graph.
pub(crate) fn sub_graph(config: &Value) -> Result<(Vec<NodeSpec>, Vec<Edge>), (String, String)> {
    let parse =
        |field: &str| -> Result<Value, (String, String)> { Ok(config.get(field).cloned().unwrap_or(json!([]))) };
    let nodes: Vec<NodeSpec> = serde_path_to_error::deserialize(parse("nodes")?)
        .map_err(|e| (format!(".nodes{}", json_path_suffix(&e.path().to_string())), e.into_inner().to_string()))?;
    let edges: Vec<Edge> = serde_path_to_error::deserialize(parse("edges")?)
        .map_err(|e| (format!(".edges{}", json_path_suffix(&e.path().to_string())), e.into_inner().to_string()))?;
    Ok((nodes, edges))
}

fn json_path_suffix(path: &str) -> String {
    if path == "." {
        String::new()
    } else if path.starts_with('[') {
        path.to_owned()
    } else {
        format!(".{path}")
    }
}

/// Validates `config` against `schema`, ignoring errors at values that are
/// templates (their type is only known at run time).
fn check_schema(checker: &mut Checker<'_>, path: &str, schema: &Value, config: &Value) {
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => {
            return checker.report(
                path,
                ProblemCode::InvalidSchema,
                format!("the kind's config schema is invalid: {e}"),
            );
        }
    };
    let mut reported = BTreeSet::new();
    for error in validator.iter_errors(config) {
        let pointer = error.instance_path.to_string();
        if config.pointer(&pointer).and_then(Value::as_str).is_some_and(expr::is_template) {
            continue;
        }
        let at = format!("{path}{}", pointer_to_path(&pointer));
        let message = error.to_string();
        if reported.insert((at.clone(), message.clone())) {
            checker.report(at, ProblemCode::InvalidConfig, message);
        }
    }
}

/// `/a/0/b` → `.a[0].b`
fn pointer_to_path(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|segment| {
            let segment = segment.replace("~1", "/").replace("~0", "~");
            if segment.parse::<usize>().is_ok() { format!("[{segment}]") } else { format!(".{segment}") }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_paths() {
        assert_eq!(pointer_to_path(""), "");
        assert_eq!(pointer_to_path("/headers/0/x~1y"), ".headers[0].x/y");
    }
}
