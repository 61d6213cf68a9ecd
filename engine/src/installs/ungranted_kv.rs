use async_trait::async_trait;
use trellis_host_api::capabilities::KvStore;

/// The kv of a plugin its tenant did not grant kv: every call is refused
/// with a reason the node can report.
pub struct UngrantedKv;

const REFUSED: &str = "kv was not granted to this plugin in this tenant";

#[async_trait]
impl KvStore for UngrantedKv {
    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, String> {
        Err(REFUSED.to_owned())
    }

    async fn set(&self, _key: &str, _value: Vec<u8>) -> Result<(), String> {
        Err(REFUSED.to_owned())
    }

    async fn delete(&self, _key: &str) -> Result<(), String> {
        Err(REFUSED.to_owned())
    }
}
