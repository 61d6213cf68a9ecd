//! A plugin node's attempt: its config rendered, the payload split, the
//! sandbox's limits and capabilities prepared once from the plan, grants
//! and the run's shared HTTP budget, then the execution started.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use trellis_host_api::capabilities::{Capabilities, DisabledLlm};
use trellis_host_api::{Failure, FailureCode, Invocation};

use super::{Driver, Event};
use crate::executor::EngineError;
use crate::expr;
use crate::quota::QuotaExceeded;
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
        // from then on re-runs it with attempt + 1.
        self.save(&spec.id).await?;

        let engine = &self.engine.inner;
        let (plan, today) = engine.plans.plan_and_today(&self.store).await?;
        if let Err(exceeded) = QuotaExceeded::check("llm_tokens_per_day", plan.llm_tokens_per_day, today.llm_tokens) {
            return self.fail(&spec.id, Failure::new(FailureCode::Fatal, exceeded.to_string()), false).await;
        }
        let mut limits = engine.config.limits.tightest(&plan.node_limits());
        limits.max_output_bytes =
            limits.max_output_bytes.min(usize::try_from(payload_limit - carried).unwrap_or(usize::MAX));
        if let Some(ms) = spec.timeout_ms {
            limits.timeout = limits.timeout.min(Duration::from_millis(ms));
        }
        // Requests come out of one budget for the whole run tree.
        let http_budget = self.http_budget.get_or_insert_with(|| {
            let left = plan.http_requests_per_run.saturating_sub(self.http_used);
            self.engine.http_budget(&self.run.id, plan.http_requests_per_run, left)
        });
        let http_budget = Some(http_budget.clone());
        let mut http = engine.config.http.clone();
        let (secrets, granted_secrets) = match engine.config.secrets.for_node(&self.store, &plugin.name).await {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(%error, "reading the plugin's secret grants failed");
                let failure = Failure::new(FailureCode::Retryable, "secret storage is unavailable right now");
                return self.fail(&spec.id, failure, true).await;
            }
        };
        // An installed plugin reaches only the hosts its tenant granted, and
        // has kv only if granted.
        let kv: Arc<dyn trellis_host_api::capabilities::KvStore> = match &plugin.grants {
            Some(grants) if !grants.kv => Arc::new(crate::installs::UngrantedKv),
            _ => Arc::new(self.store.kv(&plugin.name, engine.config.kv_quota_bytes.min(plan.kv_bytes))),
        };
        if let Some(grants) = &plugin.grants {
            http.granted_hosts = Some(grants.hosts.iter().cloned().collect());
        }
        let capabilities = Capabilities { http, http_budget, secrets, granted_secrets, kv, llm: Arc::new(DisabledLlm) };
        let runtime = engine.runtime.clone();
        let permits = engine.permits.clone();
        let tenant = self.store.tenant().clone();
        let events = self.events.clone();
        let node_id = spec.id.clone();
        self.active.insert(node_id.clone());
        self.deferred.push((
            true,
            Box::pin(crate::executor::offload::when_long(async move {
                let _slot = permits.acquire(&tenant).await;
                let execution = runtime.execute(&plugin.plugin, &invocation, &limits, capabilities).await;
                let _ = events.send(Event::Attempt { node_id, attempt, execution: Box::new(execution) });
            })),
        ));
        Ok(())
    }
}
