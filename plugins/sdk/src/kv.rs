//! Key-value storage scoped to (tenant, plugin); values count against the
//! tenant's storage quota.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::trellis::plugin::kv;

pub fn get(key: &str) -> Result<Option<Vec<u8>>, String> {
    kv::get(key)
}

pub fn set(key: &str, value: &[u8]) -> Result<(), String> {
    kv::set(key, value)
}

pub fn delete(key: &str) -> Result<(), String> {
    kv::delete(key)
}

/// Reads a JSON value stored with [`set_json`].
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, String> {
    match kv::get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("kv value at `{key}` is not the expected JSON: {e}")),
    }
}

pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<(), String> {
    let bytes = serde_json::to_vec(value).map_err(|e| format!("kv value for `{key}`: {e}"))?;
    kv::set(key, &bytes)
}
