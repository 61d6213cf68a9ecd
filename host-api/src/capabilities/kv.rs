//! `trellis:plugin/kv`: key-value storage scoped to (tenant, plugin).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::state::HostState;
use crate::v0_1_0::trellis::plugin::kv;

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 1 << 20;

/// A kv namespace already bound to one (tenant, plugin) pair; implementations
/// enforce the tenant's storage quota.
#[async_trait]
pub trait KvStore: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), String>;
    async fn delete(&self, key: &str) -> Result<(), String>;
}

/// In-memory kv with a byte quota (keys plus values), for the CLI and tests.
/// Clones share the same data.
#[derive(Debug, Clone)]
pub struct MemoryKv {
    data: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    quota_bytes: usize,
}

impl MemoryKv {
    pub fn with_quota(quota_bytes: usize) -> Self {
        MemoryKv { data: Arc::default(), quota_bytes }
    }

    /// Bytes used by keys and values.
    pub fn used_bytes(&self) -> usize {
        self.lock().iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every update is a single insert/remove), so poisoning is ignored.
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryKv {
    fn default() -> Self {
        Self::with_quota(16 << 20)
    }
}

#[async_trait]
impl KvStore for MemoryKv {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.lock().get(key).cloned())
    }

    async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), String> {
        let mut data = self.lock();
        let used: usize = data.iter().filter(|(k, _)| k.as_str() != key).map(|(k, v)| k.len() + v.len()).sum();
        let after = used + key.len() + value.len();
        if after > self.quota_bytes {
            return Err(format!(
                "kv storage quota exceeded: limit {} bytes, in use {used}, this write needs {}",
                self.quota_bytes,
                key.len() + value.len()
            ));
        }
        data.insert(key.to_owned(), value);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), String> {
        self.lock().remove(key);
        Ok(())
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("kv key is empty".to_owned());
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(format!("kv key is {} bytes, over the {MAX_KEY_BYTES}-byte limit", key.len()));
    }
    Ok(())
}

impl kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        check_key(&key)?;
        self.kv.get(&key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return Err(format!("kv value is {} bytes, over the {MAX_VALUE_BYTES}-byte limit", value.len()));
        }
        self.kv.set(&key, value).await
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        check_key(&key)?;
        self.kv.delete(&key).await
    }
}

impl crate::v0_2_0::trellis::plugin::kv::Host for HostState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, String> {
        kv::Host::get(self, key).await
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), String> {
        kv::Host::set(self, key, value).await
    }

    async fn delete(&mut self, key: String) -> Result<(), String> {
        kv::Host::delete(self, key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quota_counts_keys_and_values_and_overwrites_free_space() {
        let kv = MemoryKv::with_quota(10);
        kv.set("a", vec![0; 8]).await.unwrap();
        assert_eq!(kv.used_bytes(), 9);
        let err = kv.set("b", vec![0; 1]).await.unwrap_err();
        assert!(err.contains("quota"), "{err}");
        // Replacing a value only needs the difference.
        kv.set("a", vec![0; 9]).await.unwrap();
        kv.delete("a").await.unwrap();
        assert_eq!(kv.get("a").await.unwrap(), None);
    }

    #[test]
    fn keys_are_bounded() {
        assert!(check_key("").is_err());
        assert!(check_key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(check_key("counter").is_ok());
    }
}
