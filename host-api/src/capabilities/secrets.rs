//! `trellis:plugin/secrets`: only names granted to the plugin resolve.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;

use crate::state::HostState;
use crate::v0_1_0::trellis::plugin::secrets;

const MAX_NAME_BYTES: usize = 256;

/// Where secret values come from (the engine's encrypted store, or memory).
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// `Ok(None)` when no secret has that name.
    async fn get(&self, name: &str) -> Result<Option<String>, String>;
}

/// Secrets held in memory, for the CLI and tests.
#[derive(Debug, Default, Clone)]
pub struct MemorySecrets {
    values: HashMap<String, String>,
}

impl MemorySecrets {
    pub fn new(values: impl IntoIterator<Item = (String, String)>) -> Self {
        MemorySecrets { values: values.into_iter().collect() }
    }
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn get(&self, name: &str) -> Result<Option<String>, String> {
        Ok(self.values.get(name).cloned())
    }
}

/// Per-execution state: the grant list, and every value handed out so the
/// report can redact them from logs and error text.
pub(crate) struct SecretsHost {
    store: Arc<dyn SecretStore>,
    granted: BTreeSet<String>,
    revealed: Vec<String>,
}

impl SecretsHost {
    pub(crate) fn new(store: Arc<dyn SecretStore>, granted: BTreeSet<String>) -> Self {
        SecretsHost { store, granted, revealed: Vec::new() }
    }

    async fn get(&mut self, name: &str) -> Result<String, String> {
        if name.len() > MAX_NAME_BYTES {
            return Err(format!("secret name is {} bytes, over the {MAX_NAME_BYTES}-byte limit", name.len()));
        }
        // The same answer for "not granted" and "granted but unset" would
        // hide misconfiguration from the author; neither reveals a value.
        if !self.granted.contains(name) {
            return Err(format!("secret `{name}` is not granted to this plugin"));
        }
        match self.store.get(name).await {
            Ok(Some(value)) => {
                if !value.is_empty() {
                    self.revealed.push(value.clone());
                }
                Ok(value)
            }
            Ok(None) => Err(format!("secret `{name}` is not set")),
            Err(e) => Err(format!("secret `{name}` could not be read: {e}")),
        }
    }

    /// Replaces every revealed secret value in `text` with `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.revealed {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), "***");
            }
        }
        out
    }
}

impl secrets::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, String> {
        self.secrets.get(&name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(granted: &[&str]) -> SecretsHost {
        let store = MemorySecrets::new([("API_KEY".to_owned(), "sk-live-123".to_owned())]);
        SecretsHost::new(Arc::new(store), granted.iter().map(|s| (*s).to_owned()).collect())
    }

    #[tokio::test]
    async fn granted_secret_resolves_and_is_redacted_afterwards() {
        let mut host = host(&["API_KEY"]);
        assert_eq!(host.get("API_KEY").await.as_deref(), Ok("sk-live-123"));
        assert_eq!(host.redact("calling with sk-live-123 now"), "calling with *** now");
    }

    #[tokio::test]
    async fn ungranted_secret_is_an_error_never_a_value() {
        let mut host = host(&[]);
        let err = host.get("API_KEY").await.unwrap_err();
        assert!(err.contains("not granted"), "{err}");
        assert!(!err.contains("sk-live"), "{err}");
    }

    #[tokio::test]
    async fn granted_but_unset_secret_says_so() {
        let mut host = host(&["OTHER"]);
        let err = host.get("OTHER").await.unwrap_err();
        assert!(err.contains("not set"), "{err}");
    }
}
