//! Tenant plans, run admission against them, and daily usage.

use async_trait::async_trait;
use serde_json::Value;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{RunRecord, StoreError};

/// What recording a new top-level run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// A run with that id exists (a trigger fired twice).
    Exists,
    Refused(QuotaExceeded),
}

/// A worker's hold on a top-level run: who drives it, and until when
/// (milliseconds since the epoch) unless renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease<'a> {
    pub worker: &'a str,
    pub until: i64,
}

/// The run quotas checked when a run is recorded.
#[derive(Debug, Clone, Copy)]
pub struct RunQuotas {
    pub concurrent_runs: u64,
    pub runs_per_day: u64,
}

#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// The tenant's plan as stored: `None` when there is no tenant record
    /// (local use), `Some(None)` for the default plan.
    async fn stored_plan(&self) -> Result<Option<Option<Value>>, StoreError>;
    /// Operator action: replaces the stored plan; `false` when there is
    /// no such tenant.
    async fn set_plan(&self, plan: &Value) -> Result<bool, StoreError>;
    /// In one transaction: checks the active-run and daily-run quotas,
    /// inserts the run and counts it in `day`'s usage. Child runs are
    /// admitted the same way and count like any run. With a lease, the run
    /// is recorded already held by that worker, so no other worker's claim
    /// can take it before its creator drives it.
    async fn admit_run(
        &self,
        run: &RunRecord,
        day: &str,
        quotas: RunQuotas,
        lease: Option<Lease<'_>>,
    ) -> Result<Admission, StoreError>;
    /// Days from `from` to `to` (inclusive, `YYYY-MM-DD`), oldest first;
    /// days without use are left out.
    async fn usage(&self, from: &str, to: &str) -> Result<Vec<(String, Usage)>, StoreError>;
    /// Adds to `day`'s metered use (work done outside a run: node tests).
    async fn add_usage(&self, day: &str, usage: &Usage) -> Result<(), StoreError>;
}

/// A quota a request or node would exceed: its name, limit and current use.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize)]
#[error("quota `{quota}` exceeded: limit {limit}, in use {used}")]
pub struct QuotaExceeded {
    pub quota: &'static str,
    pub limit: u64,
    pub used: u64,
}

impl QuotaExceeded {
    /// `Err` when `used` has reached `limit`.
    pub fn check(quota: &'static str, limit: u64, used: u64) -> Result<(), QuotaExceeded> {
        if used >= limit { Err(QuotaExceeded { quota, limit, used }) } else { Ok(()) }
    }
}

/// Metered use, per tenant per UTC day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Usage {
    pub runs: u64,
    pub node_executions: u64,
    pub fuel: u64,
    pub http_calls: u64,
    pub llm_tokens: u64,
}

impl Usage {
    pub fn is_zero(&self) -> bool {
        *self == Usage::default()
    }

    pub fn add(&mut self, other: &Usage) {
        self.runs += other.runs;
        self.node_executions += other.node_executions;
        self.fuel += other.fuel;
        self.http_calls += other.http_calls;
        self.llm_tokens += other.llm_tokens;
    }
}
