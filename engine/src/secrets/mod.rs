//! Tenant secrets: sealed at rest with a per-tenant data key
//! that the server's master key wraps, readable only by nodes of plugins the
//! tenant granted them to, never returned by the API.

mod master;
mod seal;
pub mod vault;

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use thiserror::Error;
use trellis_host_api::capabilities::SecretStore;

pub use master::MasterKey;
pub use trellis_host_api::capabilities::secret_names::check_name;
pub use vault::Vault;

use crate::store::{StoreError, TenantId, TenantStore};

#[derive(Debug, Error)]
pub enum SecretError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The master key cannot open what is stored: a different master key,
    /// or tampered rows.
    #[error("{0} could not be decrypted with this server's master key")]
    Undecryptable(String),
    #[error("master key: {0}")]
    MasterKey(String),
}

/// Where a node's secrets come from: the store to read them through and the
/// names its plugin was granted.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn for_node(
        &self,
        store: &TenantStore,
        plugin: &str,
    ) -> Result<(Arc<dyn SecretStore>, BTreeSet<String>), SecretError>;
    /// The tenant's grants changed (`None`: any tenant's may have).
    fn forget_grants(&self, _tenant: Option<&TenantId>) {}
}

/// The same secrets for every node: `--secret NAME=VALUE` of the local
/// commands, where the user running them is the only tenant.
pub struct FixedSecrets {
    store: Arc<dyn SecretStore>,
    granted: BTreeSet<String>,
}

impl FixedSecrets {
    pub fn new(store: Arc<dyn SecretStore>, granted: BTreeSet<String>) -> Self {
        FixedSecrets { store, granted }
    }

    pub fn none() -> Self {
        FixedSecrets::new(Arc::new(trellis_host_api::capabilities::MemorySecrets::default()), BTreeSet::new())
    }
}

#[async_trait]
impl SecretSource for FixedSecrets {
    async fn for_node(
        &self,
        _store: &TenantStore,
        _plugin: &str,
    ) -> Result<(Arc<dyn SecretStore>, BTreeSet<String>), SecretError> {
        Ok((self.store.clone(), self.granted.clone()))
    }
}
