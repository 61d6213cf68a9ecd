//! Testing one node alone, as an editor does before wiring the rest: the
//! node runs in the sandbox under the tenant's plan, grants and a request
//! budget of its own, on an input the caller gives or on what an earlier
//! run recorded. Nothing is stored but the day's metered use, so tests
//! never show in the run history.

use serde_json::{Map, Value, json};
use trellis_host_api::{Failure, FailureCode, Invocation};

use super::prepare::{Prepared, Refused};
use super::{Engine, EngineError, builtins};
use crate::expr;
use crate::quota::Usage;
use crate::store::{NodeRecord, NodeStatus, TenantStore, now_ms};
use crate::workflow::{Builtin, PluginRef, Workflow};

/// What a tested node runs on.
#[derive(Debug, Clone, Default)]
pub struct NodeTestInput {
    /// The node's input (what its incoming edges would carry).
    pub input: Value,
    /// What expressions see as `input`, the run's input; the node's input
    /// when left out.
    pub run_input: Option<Value>,
    /// Other nodes' outputs, for `nodes.<id>.output` in expressions.
    pub outputs: Map<String, Value>,
}

impl Engine {
    /// The inputs an earlier run recorded for `node_id`: its input, the
    /// run's input and every node's output.
    pub async fn recorded_test_input(
        &self,
        store: &TenantStore,
        run_id: &str,
        node_id: &str,
    ) -> Result<NodeTestInput, EngineError> {
        let run = store.get_run(run_id).await?.ok_or_else(|| EngineError::RunNotFound(run_id.to_owned()))?;
        let nodes = store.nodes(run_id).await?;
        let input = nodes
            .iter()
            .find(|n| n.node_id == node_id)
            .and_then(|n| n.input.clone())
            .ok_or_else(|| EngineError::UnknownNode { run: run_id.to_owned(), node: node_id.to_owned() })?;
        let outputs =
            nodes.iter().filter(|n| n.status.is_finished()).map(|n| (n.node_id.clone(), n.output())).collect();
        Ok(NodeTestInput { input, run_input: Some(run.input), outputs })
    }

    /// Runs `node_id` of `workflow` once, alone, and answers its record.
    /// Plugin nodes and the built-ins that finish at once (`branch`,
    /// `switch`, `respond`) can be tested; the others wait or start runs.
    pub async fn test_node(
        &self,
        store: &TenantStore,
        workflow: &Workflow,
        node_id: &str,
        given: NodeTestInput,
    ) -> Result<NodeRecord, EngineError> {
        let spec = workflow.node(node_id).cloned().ok_or_else(|| EngineError::UnknownNode {
            run: format!("workflow {}", workflow.id),
            node: node_id.to_owned(),
        })?;
        let test_id = format!("test-{}", uuid::Uuid::now_v7());
        let mut record = NodeRecord::pending(&test_id, node_id);
        record.attempt = 1;
        record.started_at = Some(now_ms());
        let nodes: Map<String, Value> = given
            .outputs
            .into_iter()
            .map(|(id, output)| (id, json!({"output": output, "status": NodeStatus::Succeeded.as_str()})))
            .collect();
        let context = json!({"input": given.run_input.unwrap_or_else(|| given.input.clone()), "nodes": nodes});
        let plan = self.plan(store).await?;
        let payload_limit = plan.payload_bytes;

        if let Some(builtin) = spec.builtin {
            if !matches!(builtin, Builtin::Branch | Builtin::Switch | Builtin::Respond) {
                return Err(EngineError::NotTestable {
                    node: node_id.to_owned(),
                    reason: format!("a `{}` node waits or starts runs; run the workflow instead", builtin.name()),
                });
            }
            record.input = Some(given.input.clone());
            let started = builtins::start(builtin, &spec, &given.input, &context, payload_limit);
            return Ok(finished(
                record,
                started.map(|started| match started {
                    builtins::Started::Done { config, emits } => (config, emits),
                    _ => (Value::Null, Vec::new()),
                }),
            ));
        }

        record.input = Some(given.input.clone());
        let config = match expr::render("config", &spec.config, &context, payload_limit) {
            Ok(config) => config,
            Err(e) => return Ok(finished(record, Err(Failure::new(FailureCode::InvalidConfig, e.to_string())))),
        };
        record.config = Some(config.clone());
        let catalog = self.catalog(store).await?;
        let plugin = match spec.uses.as_deref().map(PluginRef::parse) {
            Some(Ok(reference)) => match catalog.resolve(&reference) {
                Ok(plugin) => plugin,
                Err(e) => return Ok(finished(record, Err(Failure::new(FailureCode::Fatal, e.to_string())))),
            },
            _ => return Ok(finished(record, Err(Failure::new(FailureCode::Fatal, "node has no valid `uses`")))),
        };
        let carried = match super::carried(&given.input, &config, payload_limit) {
            Ok(carried) => carried,
            Err(failure) => return Ok(finished(record, Err(failure))),
        };
        let budget =
            trellis_host_api::capabilities::RequestBudget::new(plan.http_requests_per_run, plan.http_requests_per_run);
        let prepared = self.prepare_execution(store, &plugin, &spec, payload_limit, carried, budget).await?;
        let Prepared { limits, capabilities } = match prepared {
            Ok(prepared) => prepared,
            Err(Refused { failure, .. }) => return Ok(finished(record, Err(failure))),
        };
        let invocation = Invocation {
            kind: spec.kind.clone().unwrap_or_default(),
            config,
            input: given.input,
            run_id: test_id,
            node_id: node_id.to_owned(),
            attempt: 1,
            idempotency_key: record.idempotency_key.clone(),
        };
        let runtime = self.inner.runtime.clone();
        let permits = self.inner.permits.clone();
        let tenant = store.tenant().clone();
        let execution = super::offload::when_long(async move {
            let _slot = permits.acquire(&tenant).await;
            runtime.execute(&plugin.plugin, &invocation, &limits, capabilities).await
        })
        .await;
        let report = &execution.report;
        let usage = Usage {
            runs: 0,
            node_executions: 1,
            fuel: report.fuel_used,
            http_calls: report.http_calls.len() as u64,
            // Metered by the gateway as each call is answered.
            llm_tokens: 0,
        };
        store.add_usage(&crate::quota::day_of(now_ms()), &usage).await?;
        record.record_report(report);
        let outcome = match execution.report.failure.clone() {
            Some(failure) => Err(failure),
            None => Ok((record.config.clone().unwrap_or(Value::Null), execution.emits)),
        };
        Ok(finished(record, outcome))
    }
}

/// The record of a test that ended with `outcome`.
fn finished(mut record: NodeRecord, outcome: Result<(Value, Vec<trellis_host_api::Emit>), Failure>) -> NodeRecord {
    match outcome {
        Ok((config, emits)) => {
            record.status = NodeStatus::Succeeded;
            if record.config.is_none() {
                record.config = Some(config);
            }
            record.emits = emits;
        }
        Err(failure) => {
            record.status = NodeStatus::Failed;
            record.error = Some(failure);
        }
    }
    record.finished_at = Some(now_ms());
    record
}
