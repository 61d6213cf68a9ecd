//! `on_error`: a failed top-level run starts the workflow its document
//! names, once, with the failure as its input.

use serde_json::Value;

use super::Engine;
use crate::store::{RunRecord, TenantStore, now_ms};

/// Who a run started by `on_error` is started by; such a run never starts
/// another.
pub const ON_ERROR: &str = "on_error";

impl Engine {
    /// Starts the `on_error` workflow of a failed top-level run, once: its
    /// id is derived from the failed run's, so a driver that fails the run
    /// again after a crash finds it started. Called before the failure is
    /// written, so a crash in between cannot lose it.
    pub(crate) async fn start_error_workflow(
        &self,
        store: &TenantStore,
        failed: &RunRecord,
        handler: &str,
        failed_node: Option<Value>,
    ) {
        if failed.parent.is_some() || failed.started_by.as_deref() == Some(ON_ERROR) {
            return;
        }
        let failed_at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms())
            .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let input = serde_json::json!({
            "run_id": failed.id,
            "workflow_id": failed.workflow_id,
            "workflow_version": failed.workflow_version,
            "error": failed.error,
            "failed_node": failed_node,
            "failed_at": failed_at,
        });
        let run_id = derived_run_id(&failed.id, ON_ERROR, failed.created_at);
        match self.start_saved_as(store, handler, input, &run_id, ON_ERROR).await {
            Ok(Some((run, workflow))) => {
                self.launch(store.clone(), run, workflow);
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, run = %failed.id, workflow = %handler, "the on_error workflow could not start");
            }
        }
    }
}

/// A time-ordered run id that is the same for the same (run, purpose).
fn derived_run_id(from: &str, purpose: &str, at_ms: i64) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::new().chain_update(from).chain_update([0]).chain_update(purpose).finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(u64::try_from(at_ms).unwrap_or(0), &random).into_uuid().to_string()
}
