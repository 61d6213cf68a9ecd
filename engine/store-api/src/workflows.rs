//! Saved workflows: every version kept, the latest one live.

use async_trait::async_trait;
use serde_json::Value;

use crate::{StoreError, TriggerPlan};

#[async_trait]
pub trait WorkflowStore: Send + Sync {
    /// A saved version's document (the latest when `version` is `None`)
    /// with its number.
    async fn workflow_document(&self, id: &str, version: Option<i64>) -> Result<Option<(i64, Value)>, StoreError>;
    /// Saves the next version of a (validated) workflow and makes the
    /// workflow's triggers those of it, in one transaction; returns the
    /// version's number. Audited when the handle is, with the version's
    /// number added to the entry's details as `version`.
    async fn save_workflow_document(&self, workflow: &Value, triggers: &TriggerPlan) -> Result<i64, StoreError>;
    /// Workflow ids with their latest version.
    async fn list_workflows(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Version numbers of a workflow with their creation times, oldest first.
    async fn workflow_versions(&self, id: &str) -> Result<Vec<(i64, i64)>, StoreError>;
    /// Deletes every version; runs keep the document they ran. `false` when
    /// there was no such workflow.
    async fn delete_workflow(&self, id: &str) -> Result<bool, StoreError>;
    async fn workflow_count(&self) -> Result<u64, StoreError>;
}
