//! Built-in control nodes, run by the engine rather than in a sandbox.

use std::collections::BTreeMap;

use futures::StreamExt;
use serde_json::{Value, json};
use trellis_host_api::{Emit, Failure, FailureCode};

use super::Engine;
use crate::expr;
use crate::store::TenantDocuments;
use crate::store::{ParentRef, RunRecord, RunStatus, TenantStore, now_ms};
use crate::workflow::{Builtin, NodeSpec, Workflow, sub_graph};

/// Items one `map` node may fan out to.
const MAX_MAP_ITEMS: usize = 10_000;
const DEFAULT_MAP_CONCURRENCY: usize = 4;
/// Children a `map` runs at once at most, however its config computes it.
pub const MAX_MAP_CONCURRENCY: usize = 64;
/// Levels of child runs under a top-level run (a subworkflow calling
/// itself through an expression stops here).
pub const MAX_CHILD_DEPTH: usize = 8;

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
    /// Runs the agent loop (agent); its tools' configs are rendered per call.
    Agent { config: Value },
}

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(FailureCode::InvalidConfig, message)
}

fn out(data: Value) -> Vec<Emit> {
    vec![Emit { port: "out".to_owned(), data }]
}

/// Renders the config's templates; a map's sub-graph is left for its
/// child runs to evaluate, an agent's tools for each call.
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
        // A tool's config reads the model's arguments as `input`, per call.
        if builtin == Builtin::Agent
            && let Some(tools) = fields.remove("tools")
        {
            kept.insert("tools".to_owned(), tools);
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
        Builtin::Agent => Ok(Started::Agent { config }),
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

/// How many child levels `run_id` sits under its top-level run (0 for a
/// top-level run); reads at most `MAX_CHILD_DEPTH` + 1 records.
async fn depth_of(store: &TenantStore, run_id: &str) -> Result<usize, crate::store::StoreError> {
    let mut depth = 0;
    let mut current = store.get_run(run_id).await?;
    while let Some(parent) = current.and_then(|run| run.parent) {
        depth += 1;
        if depth > MAX_CHILD_DEPTH {
            break;
        }
        current = store.get_run(&parent.run_id).await?;
    }
    Ok(depth)
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
    input: &Value,
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
                on_error: None,
                ui: None,
            };
            let items = config["items"].as_array().cloned().unwrap_or_default();
            let concurrency = match &config["concurrency"] {
                Value::Number(n) => {
                    n.as_u64().map_or(DEFAULT_MAP_CONCURRENCY, |c| usize::try_from(c).unwrap_or(usize::MAX))
                }
                Value::String(s) => s.trim().parse().unwrap_or(DEFAULT_MAP_CONCURRENCY),
                _ => DEFAULT_MAP_CONCURRENCY,
            };
            (document, None, items, concurrency.clamp(1, MAX_MAP_CONCURRENCY))
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

    let depth = depth_of(store, run_id).await.map_err(|e| fatal(e.to_string()))?;
    if depth >= MAX_CHILD_DEPTH {
        return Err(fatal(format!(
            "child runs nest deeper than {MAX_CHILD_DEPTH} levels (a subworkflow calling itself?)"
        )));
    }
    let plan_limit = engine.plan(store).await.map_err(|e| fatal(e.to_string()))?.payload_bytes;
    let carried = super::carried(input, config, plan_limit)?;
    // The output gets what the node's input and config leave.
    let payload_limit = plan_limit - carried;
    // Past the payload limit no further item starts; the ones under way finish.
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let stopped = &stopped;
    let mut children = futures::stream::iter(inputs.into_iter().enumerate())
        .map(|(i, input)| {
            let child_id = format!("{run_id}.{}.{i}", spec.id);
            let known = existing.contains_key(&(i as u64));
            let record = child_run(child_id.clone(), &document, version, input, parent(i as u64));
            async move {
                if stopped.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(fatal("not started: the map's output passed the payload limit".to_owned()));
                }
                if !known {
                    // Admitted like any run: counted against the tenant's
                    // concurrent and daily runs.
                    engine.admit(store, record?).await.map_err(|e| fatal(format!("item {i} not started: {e}")))?;
                }
                engine.drive(store, &child_id).await.map_err(|e| fatal(e.to_string()))
            }
        })
        .buffered(concurrency);

    let mut outputs = Vec::new();
    let mut first_failure = None;
    let mut collected: u64 = 2;
    let mut i = 0usize;
    while let Some(result) = children.next().await {
        let outcome = result.and_then(|child| {
            if child.status == RunStatus::Succeeded {
                return Ok(child.output.unwrap_or(Value::Null));
            }
            let why = child.error.unwrap_or_else(|| child.status.as_str().to_owned());
            Err(fatal(if spec.builtin == Some(Builtin::Map) { format!("item {i} failed: {why}") } else { why }))
        });
        i += 1;
        match outcome {
            Ok(output) if first_failure.is_none() => {
                collected = collected.saturating_add(super::json_len(&output).saturating_add(1));
                if collected > payload_limit {
                    stopped.store(true, std::sync::atomic::Ordering::Relaxed);
                    outputs.clear();
                    first_failure = Some(fatal(format!(
                        "the collected output passed the payload limit of {plan_limit} bytes (with the node's input and config) at item {}",
                        i - 1
                    )));
                } else {
                    outputs.push(output);
                }
            }
            Ok(_) => {}
            Err(failure) => {
                first_failure.get_or_insert(failure);
            }
        }
    }
    if let Some(failure) = first_failure {
        return Err(failure);
    }
    Ok(match spec.builtin {
        Some(Builtin::Map) => Value::Array(outputs),
        _ => outputs.pop().unwrap_or(Value::Null),
    })
}
