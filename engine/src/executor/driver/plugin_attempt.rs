//! A plugin node's attempt: its config rendered, the payload split, the
//! sandbox's limits and capabilities prepared once from the plan, grants
//! and the run's shared HTTP budget, then the execution started.

use serde_json::Value;
use trellis_host_api::{Failure, FailureCode, Invocation};

use super::{Driver, Event, Work};
use crate::executor::EngineError;
use crate::executor::prepare::{Prepared, Refused};
use crate::expr;
use crate::store::{NodeStatus, now_ms};
use crate::workflow::{NodeSpec, PluginRef};

impl Driver {
    pub(super) async fn launch_plugin(
        &mut self,
        spec: &NodeSpec,
        input: Value,
        attempt: u32,
    ) -> Result<(), EngineError> {
        let context = if expr::has_templates(&spec.config) { self.context() } else { Value::Null };
        let payload_limit = self.engine.inner.plans.plan(&self.store).await?.payload_bytes;
        let config = match expr::render("config", &spec.config, &context, payload_limit) {
            Ok(config) => config,
            Err(e) => {
                self.node_mut(&spec.id).input = Some(input);
                return self.fail(&spec.id, Failure::new(FailureCode::InvalidConfig, e.to_string()), false).await;
            }
        };
        let resolved =
            spec.uses.as_deref().ok_or_else(|| "node has no `uses`".to_owned()).and_then(PluginRef::parse).and_then(
                |r| match &self.catalog_error {
                    Some(error) => Err(error.clone()),
                    None => self.catalog.resolve(&r).map_err(|e| e.to_string()),
                },
            );
        let plugin = match resolved {
            Ok(plugin) => plugin,
            Err(message) => {
                self.node_mut(&spec.id).input = Some(input);
                return self.fail(&spec.id, Failure::new(FailureCode::Fatal, message), false).await;
            }
        };
        // The node's record keeps its input, config and output: together
        // they stay within the payload limit, so the output gets what the
        // other two leave.
        let carried = match crate::executor::carried(&input, &config, payload_limit) {
            Ok(carried) => carried,
            Err(failure) => {
                self.node_mut(&spec.id).input = Some(Value::Null);
                return self.fail(&spec.id, failure, false).await;
            }
        };
        let invocation = Invocation {
            kind: spec.kind.clone().unwrap_or_default(),
            config: config.clone(),
            input: input.clone(),
            run_id: self.run.id.clone(),
            node_id: spec.id.clone(),
            attempt,
            idempotency_key: self.nodes[&spec.id].idempotency_key.clone(),
        };
        {
            let node = self.node_mut(&spec.id);
            node.status = NodeStatus::Running;
            node.attempt = attempt;
            node.input = Some(input);
            node.config = Some(config);
            node.wake_at = None;
            node.started_at.get_or_insert_with(now_ms);
        }
        // Written (by the next flush) before the attempt starts: a crash
        // from then on re-runs it with attempt + 1. A plugin that cannot act
        // outside its execution may start first (`Driver::must_write`).
        self.save(&spec.id).await?;

        // Requests come out of one budget for the whole run tree.
        let plan = self.engine.inner.plans.plan(&self.store).await?;
        let http_budget = self.http_budget.get_or_insert_with(|| {
            let left = plan.http_requests_per_run.saturating_sub(self.http_used);
            self.engine.http_budget(&self.run.id, plan.http_requests_per_run, left)
        });
        let http_budget = http_budget.clone();
        let prepared =
            self.engine.prepare_execution(&self.store, &plugin, spec, payload_limit, carried, http_budget).await?;
        let Prepared { limits, capabilities } = match prepared {
            Ok(prepared) => prepared,
            Err(Refused { failure, may_retry }) => return self.fail(&spec.id, failure, may_retry).await,
        };
        let reaches_out = plugin.plugin.reaches_out();
        if reaches_out {
            self.self_contained.remove(&spec.id);
        } else {
            self.self_contained.insert(spec.id.clone());
        }
        let engine = &self.engine.inner;
        let runtime = engine.runtime.clone();
        let permits = engine.permits.clone();
        let tenant = self.store.tenant().clone();
        let events = self.events.clone();
        let node_id = spec.id.clone();
        self.active.insert(node_id.clone());
        self.deferred.push((
            Work::Attempt { reaches_out },
            Box::pin(crate::executor::offload::when_long(async move {
                let _slot = permits.acquire(&tenant).await;
                let execution = runtime.execute(&plugin.plugin, &invocation, &limits, capabilities).await;
                let _ = events.send(Event::Attempt { node_id, attempt, execution: Box::new(execution) });
            })),
        ));
        Ok(())
    }
}
