//! An agent's tools: resolved against the tenant's catalog once per launch
//! (the model gets each tool's name, description and argument schema), and
//! each call run as a sandboxed execution of the node kind, under its
//! plugin's grants and the tenant's limits, like a plugin node's attempt.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};
use trellis_host_api::capabilities::RequestBudget;
use trellis_host_api::capabilities::llm::ToolSpec;
use trellis_host_api::{Execution, Failure, FailureCode, Invocation};

use super::config::ToolRef;
use crate::catalog::{Catalog, InstalledPlugin};
use crate::executor::Engine;
use crate::executor::prepare::{Prepared, Refused};
use crate::expr;
use crate::store::TenantStore;
use crate::workflow::{NodeSpec, PluginRef};

pub(crate) struct Tool {
    pub spec: ToolSpec,
    pub reference: ToolRef,
    pub plugin: Arc<InstalledPlugin>,
    validator: Arc<jsonschema::Validator>,
}

fn invalid(message: String) -> Failure {
    Failure::new(FailureCode::InvalidConfig, message)
}

/// Every tool of the config, found in the catalog, with a compiled schema
/// for its arguments.
pub(crate) fn resolve(catalog: &Catalog, tools: &[ToolRef]) -> Result<Vec<Tool>, Failure> {
    let mut names = BTreeSet::new();
    let mut resolved = Vec::new();
    for (i, reference) in tools.iter().enumerate() {
        let at = format!("config.tools[{i}]");
        let name = reference.name().to_owned();
        if !names.insert(name.clone()) {
            return Err(invalid(format!("{at}: two tools are named `{name}`; set `name` on one")));
        }
        let plugin = PluginRef::parse(&reference.uses)
            .and_then(|r| catalog.resolve(&r).map_err(|e| e.to_string()))
            .map_err(|message| invalid(format!("{at}.uses: {message}")))?;
        let kind = plugin
            .kind(&reference.kind)
            .ok_or_else(|| invalid(format!("{at}.kind: `{}` has no kind `{}`", plugin.name, reference.kind)))?;
        let parameters = reference.parameters.clone().unwrap_or_else(|| kind.input_schema.clone());
        let validator = jsonschema::validator_for(&parameters)
            .map_err(|e| invalid(format!("{at}.parameters is not a usable JSON Schema: {e}")))?;
        let description = reference.description.clone().unwrap_or_else(|| kind.description.clone());
        resolved.push(Tool {
            spec: ToolSpec { name, description, parameters },
            reference: reference.clone(),
            plugin: plugin.clone(),
            validator: Arc::new(validator),
        });
    }
    Ok(resolved)
}

impl Tool {
    /// `Err` says what is wrong with the model's arguments, for the model.
    pub fn check_arguments(&self, arguments: &Value) -> Result<(), String> {
        if let Value::String(text) = arguments {
            return Err(format!("the arguments are not JSON: {}", super::conversation::clip(text.clone())));
        }
        let problems: Vec<String> = self
            .validator
            .iter_errors(arguments)
            .take(5)
            .map(|e| {
                let at = e.instance_path.to_string();
                if at.is_empty() { e.to_string() } else { format!("{at}: {e}") }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("the arguments do not fit the tool's schema: {}", problems.join("; ")))
        }
    }
}

/// Where one call runs and what it may use.
pub(crate) struct CallSite<'a> {
    pub engine: &'a Engine,
    pub store: &'a TenantStore,
    pub run_id: &'a str,
    pub node_id: &'a str,
    pub call_id: &'a str,
    pub execution: u32,
    /// What the run's expressions see; the call adds its arguments as `input`.
    pub context: &'a Value,
    pub payload_limit: u64,
    pub http_budget: Arc<RequestBudget>,
}

/// Runs one call: the tool's config rendered over the arguments, then the
/// same preparation and sandbox slot as a plugin node's attempt. The
/// idempotency key is `<run>:<node>:<call id>`, the same on a re-run.
pub(crate) async fn execute(tool: &Tool, arguments: &Value, site: CallSite<'_>) -> Result<Execution, Failure> {
    let context = json!({"input": arguments, "nodes": site.context["nodes"]});
    let config = expr::render("config", &tool.reference.config, &context, site.payload_limit)
        .map_err(|e| Failure::new(FailureCode::InvalidConfig, e.to_string()))?;
    let carried = crate::executor::carried(arguments, &config, site.payload_limit)?;
    let spec = NodeSpec {
        id: site.node_id.to_owned(),
        uses: Some(tool.reference.uses.clone()),
        kind: Some(tool.reference.kind.clone()),
        builtin: None,
        config: config.clone(),
        retry: None,
        timeout_ms: tool.reference.timeout_ms,
        join: Default::default(),
    };
    let prepared = site
        .engine
        .prepare_execution(site.store, &tool.plugin, &spec, site.payload_limit, carried, site.http_budget)
        .await
        .map_err(|e| Failure::new(FailureCode::Retryable, e.to_string()))?;
    let Prepared { limits, capabilities } = match prepared {
        Ok(prepared) => prepared,
        Err(Refused { failure, .. }) => return Err(failure),
    };
    let invocation = Invocation {
        kind: tool.reference.kind.clone(),
        config,
        input: arguments.clone(),
        run_id: site.run_id.to_owned(),
        node_id: site.node_id.to_owned(),
        attempt: site.execution,
        idempotency_key: format!("{}:{}:{}", site.run_id, site.node_id, site.call_id),
    };
    let engine = &site.engine.inner;
    let _slot = engine.permits.acquire(site.store.tenant()).await;
    Ok(engine.runtime.execute(&tool.plugin.plugin, &invocation, &limits, capabilities).await)
}
