//! Webhook tokens and cron schedules as the store keeps them.

use async_trait::async_trait;
use serde::Serialize;
use serde_json::Value;

use crate::StoreError;

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
pub trait TriggerStore: Send + Sync {
    async fn webhook_token(&self, workflow_id: &str) -> Result<Option<String>, StoreError>;
    async fn cron_schedules(&self, workflow_id: &str) -> Result<Vec<CronSchedule>, StoreError>;
    /// Moves a schedule's next fire from `from` to `to`; `false` when
    /// someone else moved it (or the schedule is gone).
    async fn advance_cron(&self, workflow_id: &str, index: i64, from: i64, to: i64) -> Result<bool, StoreError>;
}
