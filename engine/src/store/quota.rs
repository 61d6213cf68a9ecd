//! Tenant plans, run admission against them, and daily usage.

use async_trait::async_trait;
use serde_json::Value;

use super::{RunRecord, StoreError, TenantId};
use crate::quota::{QuotaExceeded, Usage};

/// What recording a new top-level run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// A run with that id exists (a trigger fired twice).
    Exists,
    Refused(QuotaExceeded),
}

/// The run quotas checked when a run is recorded.
#[derive(Debug, Clone, Copy)]
pub struct RunQuotas {
    pub concurrent_runs: u64,
    pub runs_per_day: u64,
}

#[async_trait]
pub trait QuotaBackend: Send + Sync {
    /// The tenant's plan as stored: `None` when there is no tenant record
    /// (local use), `Some(None)` for the default plan.
    async fn plan(&self, tenant: &TenantId) -> Result<Option<Option<Value>>, StoreError>;
    /// `false` when there is no such tenant.
    async fn set_plan(&self, tenant: &TenantId, plan: &Value) -> Result<bool, StoreError>;
    /// In one transaction: checks the active-run and daily-run quotas,
    /// inserts the run and counts it in `day`'s usage. Child runs are
    /// admitted the same way and count like any run.
    async fn admit_run(
        &self,
        tenant: &TenantId,
        run: &RunRecord,
        day: &str,
        quotas: RunQuotas,
    ) -> Result<Admission, StoreError>;
    /// Days from `from` to `to` (inclusive, `YYYY-MM-DD`), oldest first;
    /// days without use are left out.
    async fn usage(&self, tenant: &TenantId, from: &str, to: &str) -> Result<Vec<(String, Usage)>, StoreError>;
    async fn workflow_count(&self, tenant: &TenantId) -> Result<u64, StoreError>;
    /// Adds to `day`'s metered use (work done outside a run: node tests).
    async fn add_usage(&self, tenant: &TenantId, day: &str, usage: &crate::quota::Usage) -> Result<(), StoreError>;
}
