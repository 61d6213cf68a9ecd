//! Webhook tokens and cron schedules as the store keeps them.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use super::{AuditEntry, StoreError, TenantId};

/// A cron trigger of a workflow's latest version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CronSchedule {
    pub workflow_id: String,
    /// Position among the document's triggers.
    pub index: i64,
    pub expression: String,
    pub input: Value,
    /// Unix milliseconds of the next fire.
    pub next_fire_at: i64,
}

/// The triggers a saved version asks for; the store applies them in the
/// transaction that saves the version.
#[derive(Debug, Clone, Default)]
pub struct TriggerPlan {
    /// A fresh token, used only when the workflow has no hook yet; `None`
    /// removes the hook.
    pub webhook_token: Option<String>,
    /// A schedule whose expression is unchanged keeps its stored next fire.
    pub crons: Vec<CronSchedule>,
}

#[async_trait]
pub trait TriggerBackend: Send + Sync {
    /// Saves the next version of a workflow and applies its triggers; the
    /// audit entry, when given, is written in the same transaction with the
    /// version's number added to its details as `version`.
    async fn save_workflow(
        &self,
        tenant: &TenantId,
        workflow: &Value,
        triggers: &TriggerPlan,
        audit: Option<&AuditEntry>,
    ) -> Result<i64, StoreError>;
    async fn webhook_token(&self, tenant: &TenantId, workflow_id: &str) -> Result<Option<String>, StoreError>;
    /// Hook lookup, before any tenant is known.
    async fn webhook_by_token(&self, token: &str) -> Result<Option<(TenantId, String)>, StoreError>;
    async fn cron_schedules(&self, tenant: &TenantId, workflow_id: &str) -> Result<Vec<CronSchedule>, StoreError>;
    /// Schedules of every tenant due at `now`, earliest first.
    async fn due_crons(&self, now: i64, limit: u32) -> Result<Vec<(TenantId, CronSchedule)>, StoreError>;
    /// Moves a schedule's next fire from `from` to `to`; `false` when
    /// someone else moved it (or the schedule is gone).
    async fn advance_cron(
        &self,
        tenant: &TenantId,
        workflow_id: &str,
        index: i64,
        from: i64,
        to: i64,
    ) -> Result<bool, StoreError>;
}
