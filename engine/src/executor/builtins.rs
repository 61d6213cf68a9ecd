//! Built-in control nodes, run by the engine rather than in a sandbox.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::{Value, json};
use trellis_host_api::{Emit, Failure, FailureCode};

use super::Engine;
use crate::expr;
use crate::store::{ParentRef, RunRecord, RunStatus, TenantStore, now_ms};
use crate::workflow::{Builtin, NodeSpec, Workflow, sub_graph};

/// Items one `map` node may fan out to.
const MAX_MAP_ITEMS: usize = 10_000;
const DEFAULT_MAP_CONCURRENCY: usize = 4;

/// What starting a built-in led to.
pub(super) enum Started {
    /// Finished at once (branch, switch, respond).
    Done { config: Value, emits: Vec<Emit> },
    /// Wakes at the given time (delay).
    Sleep { config: Value, wake_at: i64 },
    /// Waits for a decision (approval).
    AwaitDecision { config: Value },
    /// Runs child runs (map, subworkflow).
    Children { config: Value },
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(FailureCode::InvalidConfig, message)
}

fn out(data: Value) -> Vec<Emit> {
    vec![Emit { port: "out".to_owned(), data }]
}

/// Renders the config's templates; a map's sub-graph is left for its
/// child runs to evaluate.
fn render_config(builtin: Builtin, spec: &NodeSpec, context: &Value, limit: u64) -> Result<Value, Failure> {
    let mut config = spec.config.clone();
    let mut kept = serde_json::Map::new();
    if let Some(fields) = config.as_object_mut() {
        for key in ["condition", "value"] {
            if let Some(v) = fields.remove(key) {
                kept.insert(key.to_owned(), v);
            }
        }
        if builtin == Builtin::Map {
            for key in ["nodes", "edges"] {
                fields.remove(key);
            }
        }
    }
    let mut rendered = expr::render("config", &config, context, limit).map_err(|e| invalid(e.to_string()))?;
    if let Some(fields) = rendered.as_object_mut() {
        fields.extend(kept);
    }
    Ok(rendered)
}

pub(super) fn start(
    builtin: Builtin,
    spec: &NodeSpec,
    input: &Value,
    context: &Value,
    payload_limit: u64,
) -> Result<Started, Failure> {
    let config = render_config(builtin, spec, context, payload_limit)?;
    match builtin {
        Builtin::Branch => {
            let condition = config["condition"].as_str().unwrap_or_default();
            let value = expr::evaluate("config.condition", condition, context, payload_limit)
                .map_err(|e| invalid(e.to_string()))?;
            let port = if expr::truthy(&value) { "true" } else { "false" };
            Ok(Started::Done { config, emits: vec![Emit { port: port.to_owned(), data: input.clone() }] })
        }
        Builtin::Switch => {
            let expression = config["value"].as_str().unwrap_or_default();
            let value = expr::evaluate("config.value", expression, context, payload_limit)
                .map_err(|e| invalid(e.to_string()))?;
            let key = match &value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let matched = config["cases"].as_array().and_then(|cases| cases.iter().find(|c| c.as_str() == Some(&key)));
            let port = matched.and_then(Value::as_str).unwrap_or("default").to_owned();
            Ok(Started::Done { config, emits: vec![Emit { port, data: input.clone() }] })
        }
        Builtin::Respond => Ok(Started::Done { emits: out(input.clone()), config }),
        Builtin::Delay => {
            let ms = match &config["ms"] {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            }
            .ok_or_else(|| {
                invalid(format!("config.ms must be a whole number of milliseconds, got {}", config["ms"]))
            })?;
            let wake_at = now_ms().saturating_add(i64::try_from(ms).unwrap_or(i64::MAX));
            Ok(Started::Sleep { config, wake_at })
        }
        Builtin::Approval => Ok(Started::AwaitDecision { config }),
        Builtin::Map => {
            let items = config["items"]
                .as_array()
                .ok_or_else(|| invalid(format!("config.items must be an array, got {}", config["items"])))?;
            if items.len() > MAX_MAP_ITEMS {
                return Err(invalid(format!("config.items has {} items, over the {MAX_MAP_ITEMS} limit", items.len())));
            }
            Ok(Started::Children { config })
        }
        Builtin::Subworkflow => Ok(Started::Children { config }),
    }
}

/// The emits of an approval once decided: `approved` or `rejected`, with
/// the decision and the node's input.
pub(super) fn decided(decision: &Value, input: Value) -> Vec<Emit> {
    let approved = decision.get("approved").and_then(Value::as_bool).unwrap_or(false);
    let port = if approved { "approved" } else { "rejected" };
    vec![Emit { port: port.to_owned(), data: json!({"decision": decision, "input": input}) }]
}

fn child_run(
    id: String,
    document: &Workflow,
    version: Option<i64>,
    input: Value,
    parent: ParentRef,
) -> Result<RunRecord, Failure> {
    let stored = crate::store::Document::of(document).map_err(|e| Failure::new(FailureCode::Fatal, e.to_string()))?;
    let mut run = RunRecord::new(id, document.id.clone(), version, stored, RunStatus::Pending, input);
    run.parent = Some(parent);
    Ok(run)
}

/// Creates (once) and drives the child runs of a `map` or `subworkflow`
/// node; child ids are derived from the parent so a resumed parent finds
/// the children it already started.
pub(super) async fn run_children(
    engine: &Engine,
    store: &TenantStore,
    run_id: &str,
    workflow_id: &str,
    spec: &NodeSpec,
    config: &Value,
) -> Result<Value, Failure> {
    let fatal = |message: String| Failure::new(FailureCode::Fatal, message);
    let existing: BTreeMap<u64, RunRecord> = store
        .child_runs(run_id, &spec.id)
        .await
        .map_err(|e| fatal(e.to_string()))?
        .into_iter()
        .filter_map(|r| Some((r.parent.as_ref()?.item, r)))
        .collect();
    let parent = |item: u64| ParentRef { run_id: run_id.to_owned(), node_id: spec.id.clone(), item };

    let (document, version, inputs, concurrency) = match spec.builtin {
        Some(Builtin::Map) => {
            let (nodes, edges) = sub_graph(&spec.config).map_err(|(at, m)| invalid(format!("config{at}: {m}")))?;
            let document = Workflow {
                id: format!("{workflow_id}.{}", spec.id),
                name: None,
                description: None,
                input_schema: None,
                triggers: Vec::new(),
                nodes,
                edges,
                ui: None,
            };
            let items = config["items"].as_array().cloned().unwrap_or_default();
            let concurrency = config["concurrency"].as_u64().map(|c| c as usize).unwrap_or(DEFAULT_MAP_CONCURRENCY);
            (document, None, items, concurrency.max(1))
        }
        _ => {
            let id = config["workflow"].as_str().unwrap_or_default();
            let (version, document) = store
                .get_workflow(id, config["version"].as_i64())
                .await
                .map_err(|e| fatal(e.to_string()))?
                .ok_or_else(|| fatal(format!("workflow `{id}` is not saved in this tenant")))?;
            (document, Some(version), vec![config.get("input").cloned().unwrap_or(Value::Null)], 1)
        }
    };

    let results: Vec<Result<RunRecord, Failure>> = futures::stream::iter(inputs.into_iter().enumerate())
        .map(|(i, input)| {
            let child_id = format!("{run_id}.{}.{i}", spec.id);
            let known = existing.contains_key(&(i as u64));
            let record = child_run(child_id.clone(), &document, version, input, parent(i as u64));
            async move {
                if !known {
                    store.insert_run(&record?).await.map_err(|e| fatal(e.to_string()))?;
                }
                engine.drive(store, &child_id).await.map_err(|e| fatal(e.to_string()))
            }
        })
        .buffered(concurrency)
        .collect()
        .await;

    let mut outputs = Vec::with_capacity(results.len());
    for (i, result) in results.into_iter().enumerate() {
        let child = result?;
        if child.status != RunStatus::Succeeded {
            let why = child.error.unwrap_or_else(|| child.status.as_str().to_owned());
            return Err(fatal(if spec.builtin == Some(Builtin::Map) {
                format!("item {i} failed: {why}")
            } else {
                why
            }));
        }
        outputs.push(child.output.unwrap_or(Value::Null));
    }
    Ok(match spec.builtin {
        Some(Builtin::Map) => Value::Array(outputs),
        _ => outputs.pop().unwrap_or(Value::Null),
    })
}
