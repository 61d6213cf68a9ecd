//! `trellis:plugin/secrets`: only names granted to the plugin resolve, and
//! every value the node could read is redacted from what it leaves behind.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// Per-execution state: the grant list, and each value handed out (once
/// per name, however often it is asked for).
pub(crate) struct SecretsHost {
    store: Arc<dyn SecretStore>,
    granted: BTreeSet<String>,
    revealed: BTreeMap<String, String>,
}

impl SecretsHost {
    pub(crate) fn new(store: Arc<dyn SecretStore>, granted: BTreeSet<String>) -> Self {
        SecretsHost { store, granted, revealed: BTreeMap::new() }
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
        if let Some(value) = self.revealed.get(name) {
            return Ok(value.clone());
        }
        match self.store.get(name).await {
            Ok(Some(value)) => {
                self.revealed.insert(name.to_owned(), value.clone());
                Ok(value)
            }
            Ok(None) => Err(format!("secret `{name}` is not set")),
            Err(e) => Err(format!("secret `{name}` could not be read: {e}")),
        }
    }

    /// What to redact: every secret the node could read, fetched or not
    /// (a value can reach the node another way, such as an echoing API).
    /// Unreadable ones are skipped: they cannot have reached the node.
    pub(crate) async fn redactor(&self) -> Redactor {
        let mut secrets: Vec<(String, String)> = Vec::with_capacity(self.granted.len());
        for name in &self.granted {
            let value = match self.revealed.get(name) {
                Some(value) => Some(value.clone()),
                None => self.store.get(name).await.ok().flatten(),
            };
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                secrets.push((name.clone(), value));
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        Redactor { secrets }
    }
}

/// Replaces exact occurrences of secret values with `[redacted:NAME]`.
pub(crate) struct Redactor {
    secrets: Vec<(String, String)>,
}

impl Redactor {
    pub(crate) fn text(&self, text: &mut String) {
        for (name, value) in &self.secrets {
            if text.contains(value.as_str()) {
                *text = text.replace(value.as_str(), &format!("[redacted:{name}]"));
            }
        }
    }

    /// Every string in a JSON value, object keys included.
    pub(crate) fn json(&self, value: &mut serde_json::Value) {
        if self.secrets.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(text) => self.text(text),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|item| self.json(item)),
            serde_json::Value::Object(fields) => {
                let entries = std::mem::take(fields);
                for (mut key, mut item) in entries {
                    self.text(&mut key);
                    self.json(&mut item);
                    fields.insert(key, item);
                }
            }
            _ => {}
        }
    }
}

impl secrets::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, String> {
        self.secrets.get(&name).await
    }
}

impl crate::v0_2_0::trellis::plugin::secrets::Host for HostState {
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
        let mut text = "calling with sk-live-123 now".to_owned();
        host.redactor().await.text(&mut text);
        assert_eq!(text, "calling with [redacted:API_KEY] now");
    }

    #[tokio::test]
    async fn granted_secrets_are_redacted_from_json_even_when_never_fetched() {
        let host = host(&["API_KEY"]);
        let mut value = serde_json::json!({"echo": ["x sk-live-123 y"], "sk-live-123": 1, "n": 5});
        host.redactor().await.json(&mut value);
        assert_eq!(value, serde_json::json!({"echo": ["x [redacted:API_KEY] y"], "[redacted:API_KEY]": 1, "n": 5}));
    }

    #[tokio::test]
    async fn asking_again_keeps_one_copy() {
        let mut host = host(&["API_KEY"]);
        for _ in 0..1000 {
            host.get("API_KEY").await.unwrap();
        }
        assert_eq!(host.revealed.len(), 1);
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
