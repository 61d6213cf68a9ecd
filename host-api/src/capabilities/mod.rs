//! Host capabilities offered to plugins, one module each with the same
//! shape: the policy or store trait the engine configures, the in-memory
//! implementation used by the CLI and tests, the WIT host implementation,
//! and its tests.

pub mod http;
pub mod kv;
pub mod llm;
pub mod log;
pub mod secret_names;
pub mod secrets;

use std::collections::BTreeSet;
use std::sync::Arc;

pub use http::{HttpPolicy, RequestBudget};
pub use kv::{KvStore, MemoryKv};
pub use llm::{ChatMessage, ChatRequest, ChatResponse, DisabledLlm, LlmError, LlmProvider, Role};
pub use secrets::{MemorySecrets, SecretStore};

/// What one execution may reach. The default grants nothing: no hosts, no
/// secrets, an empty kv store, no llm.
#[derive(Clone)]
pub struct Capabilities {
    pub http: HttpPolicy,
    /// Shared with the other executions of one run, when there is a run.
    pub http_budget: Option<Arc<RequestBudget>>,
    pub secrets: Arc<dyn SecretStore>,
    /// Secret names this plugin may read in this tenant.
    pub granted_secrets: BTreeSet<String>,
    /// Already scoped to (tenant, plugin) by whoever built it.
    pub kv: Arc<dyn KvStore>,
    pub llm: Arc<dyn LlmProvider>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            http: HttpPolicy::default(),
            http_budget: None,
            secrets: Arc::new(MemorySecrets::default()),
            granted_secrets: BTreeSet::new(),
            kv: Arc::new(MemoryKv::default()),
            llm: Arc::new(DisabledLlm),
        }
    }
}

impl std::fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capabilities")
            .field("http", &self.http)
            .field("granted_secrets", &self.granted_secrets)
            .finish_non_exhaustive()
    }
}
