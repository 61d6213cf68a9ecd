//! Tenant plans and their quotas, and metered usage per day.
//! The server operator sets a tenant's plan (`trellis admin set-plan`);
//! every limit left out of it takes the default below.

mod plans;
pub mod rate;

use serde::{Deserialize, Serialize};
use trellis_host_api::Limits;

pub use plans::Plans;
pub use trellis_store_api::{QuotaExceeded, Usage};

/// A tenant's quotas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Plan {
    /// Top-level runs pending or running at once.
    pub concurrent_runs: u64,
    /// Top-level runs started per UTC day.
    pub runs_per_day: u64,
    /// Runs started a second, child runs included, in bursts of up to one
    /// second's worth; a start over it waits its turn (a top-level start
    /// at most a second, then 429).
    pub runs_per_second: u64,
    /// API requests and webhook deliveries a second, in bursts of up to
    /// one second's worth; a request over it waits its turn for at most a
    /// second, then is refused (429).
    pub requests_per_second: u64,
    /// Saved workflows.
    pub workflows: u64,
    /// Nodes per workflow, sub-graphs included.
    pub nodes_per_workflow: u64,
    pub fuel_per_node: u64,
    pub memory_per_node_bytes: u64,
    pub time_per_node_ms: u64,
    /// Bytes of a run's input, and of a node's output.
    pub payload_bytes: u64,
    /// Outbound HTTP requests of all the nodes of one run together.
    pub http_requests_per_run: u64,
    pub llm_tokens_per_day: u64,
    /// Plugin kv storage of the whole tenant.
    pub kv_bytes: u64,
    /// Cron triggers one workflow may have.
    pub cron_triggers_per_workflow: u64,
    /// The shortest time between two fires of one cron trigger.
    pub min_cron_interval_secs: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            concurrent_runs: 500,
            runs_per_day: 1_000_000,
            runs_per_second: 200,
            requests_per_second: 200,
            workflows: 1_000,
            nodes_per_workflow: 200,
            fuel_per_node: 1_000_000_000,
            memory_per_node_bytes: 64 << 20,
            time_per_node_ms: 30_000,
            payload_bytes: 1 << 20,
            http_requests_per_run: 500,
            llm_tokens_per_day: 1_000_000,
            kv_bytes: 16 << 20,
            cron_triggers_per_workflow: 10,
            min_cron_interval_secs: 60,
        }
    }
}

impl Plan {
    /// No quota at all.
    pub fn unlimited() -> Self {
        Plan {
            concurrent_runs: u64::MAX,
            runs_per_day: u64::MAX,
            runs_per_second: u64::MAX,
            requests_per_second: u64::MAX,
            workflows: u64::MAX,
            nodes_per_workflow: u64::MAX,
            fuel_per_node: u64::MAX,
            memory_per_node_bytes: u64::MAX,
            time_per_node_ms: u64::MAX,
            payload_bytes: u64::MAX,
            http_requests_per_run: u64::MAX,
            llm_tokens_per_day: u64::MAX,
            kv_bytes: u64::MAX,
            cron_triggers_per_workflow: u64::MAX,
            min_cron_interval_secs: 0,
        }
    }

    /// The sandbox limits this plan allows a node (the engine's own limits
    /// may be tighter still).
    pub fn node_limits(&self) -> Limits {
        Limits {
            fuel: self.fuel_per_node,
            timeout: std::time::Duration::from_millis(self.time_per_node_ms),
            memory_bytes: self.memory_per_node_bytes,
            max_output_bytes: usize::try_from(self.payload_bytes).unwrap_or(usize::MAX),
            // Logs are capped by the engine, not sold by plan.
            max_log_bytes: usize::MAX,
            max_log_lines: usize::MAX,
        }
    }
}

/// The UTC day of a unix-millisecond time, `YYYY-MM-DD`.
pub fn day_of(at_ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms)
        .map(|t| t.date_naive().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_and_limits_name_the_quota() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(1_767_225_599_999), "2025-12-31");
        let error = QuotaExceeded::check("runs_per_day", 10, 10).unwrap_err();
        assert_eq!(error.to_string(), "quota `runs_per_day` exceeded: limit 10, in use 10");
        assert!(QuotaExceeded::check("runs_per_day", 10, 9).is_ok());
        let partial: Plan = serde_json::from_str(r#"{"runs_per_day": 5}"#).unwrap();
        assert_eq!(partial, Plan { runs_per_day: 5, ..Plan::default() });
        assert!(serde_json::from_str::<Plan>(r#"{"runs_a_day": 5}"#).is_err());
    }
}
