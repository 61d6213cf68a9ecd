//! What one plugin execution runs with, read once: the sandbox's limits
//! (the engine's ceilings, the tenant's plan, the node's time-out and what
//! the payload leaves for output) and the node's capabilities (the
//! operator's HTTP policy narrowed by the tenant's grant, the run's request
//! budget, the granted secrets, kv and the LLM if granted). A run's attempts and a node
//! test share it, so both run under the same bounds.

use std::sync::Arc;
use std::time::Duration;

use trellis_host_api::capabilities::{Capabilities, DisabledLlm, KvStore, LlmProvider, RequestBudget};
use trellis_host_api::{Failure, FailureCode, Limits};

use super::{Engine, EngineError};
use crate::catalog::InstalledPlugin;
use crate::store::TenantStore;
use crate::store::TenantStoreExt;
use crate::workflow::NodeSpec;

pub(crate) struct Prepared {
    pub limits: Limits,
    pub capabilities: Capabilities,
}

/// Why an execution cannot start: the failure to record, and whether a
/// retry may help.
pub(crate) struct Refused {
    pub failure: Failure,
    pub may_retry: bool,
}

impl Engine {
    /// `carried` is what the node's input and config take of the payload
    /// limit; the output gets the rest.
    pub(crate) async fn prepare_execution(
        &self,
        store: &TenantStore,
        plugin: &InstalledPlugin,
        spec: &NodeSpec,
        payload_limit: u64,
        carried: u64,
        http_budget: Arc<RequestBudget>,
    ) -> Result<Result<Prepared, Refused>, EngineError> {
        let engine = &self.inner;
        let plan = engine.plans.plan(store).await?;
        let mut limits = engine.config.limits.tightest(&plan.node_limits());
        limits.max_output_bytes =
            limits.max_output_bytes.min(usize::try_from(payload_limit.saturating_sub(carried)).unwrap_or(usize::MAX));
        if let Some(ms) = spec.timeout_ms {
            limits.timeout = limits.timeout.min(Duration::from_millis(ms));
        }
        let mut http = engine.config.http.clone();
        let (secrets, granted_secrets) = match engine.config.secrets.for_node(store, &plugin.name).await {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(%error, "reading the plugin's secret grants failed");
                let failure = Failure::new(FailureCode::Retryable, "secret storage is unavailable right now");
                return Ok(Err(Refused { failure, may_retry: true }));
            }
        };
        // An installed plugin reaches only the hosts its tenant granted, and
        // has kv only if granted.
        let kv: Arc<dyn KvStore> = match &plugin.grants {
            Some(grants) if !grants.kv => Arc::new(crate::installs::UngrantedKv),
            _ => Arc::new(store.kv(&plugin.name, engine.config.kv_quota_bytes.min(plan.kv_bytes))),
        };
        if let Some(grants) = &plugin.grants {
            http.granted_hosts = Some(grants.hosts.iter().cloned().collect());
        }
        // The LLM only with the tenant's grant (a plugin outside any
        // install, in local use, has what its manifest asks for).
        let llm: Arc<dyn LlmProvider> = match &plugin.grants {
            Some(grants) if !grants.llm => Arc::new(DisabledLlm),
            _ => Arc::new(engine.config.llm.for_tenant(store.clone(), engine.plans.clone())),
        };
        let capabilities = Capabilities { http, http_budget: Some(http_budget), secrets, granted_secrets, kv, llm };
        Ok(Ok(Prepared { limits, capabilities }))
    }
}
