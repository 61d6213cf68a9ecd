//! Prometheus metrics (the `prometheus-client` crate, the Prometheus
//! project's own Rust client): runs and node executions by status, node
//! duration, and per-tenant queue depth read at scrape time.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TenantLabel {
    tenant: String,
}

pub struct Metrics {
    registry: Registry,
    runs: Family<StatusLabel, Counter>,
    node_executions: Family<StatusLabel, Counter>,
    node_duration: Histogram,
    queue_depth: Family<TenantLabel, Gauge>,
    /// Encoding reads families while a scrape resets the gauges.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("trellis");
        let runs = Family::<StatusLabel, Counter>::default();
        registry.register("runs", "Top-level runs finished, by final status", runs.clone());
        let node_executions = Family::<StatusLabel, Counter>::default();
        registry.register(
            "node_executions",
            "Plugin node attempts, by outcome (succeeded or the failure code)",
            node_executions.clone(),
        );
        // 1 ms to ~65 s.
        let node_duration = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register("node_duration_seconds", "Wall time of plugin node attempts", node_duration.clone());
        let queue_depth = Family::<TenantLabel, Gauge>::default();
        registry.register("queue_depth", "Plugin nodes waiting for an execution slot, per tenant", queue_depth.clone());
        Metrics { registry, runs, node_executions, node_duration, queue_depth, scrape: Mutex::new(()) }
    }
}

impl Metrics {
    pub fn run_finished(&self, status: &str) {
        self.runs.get_or_create(&StatusLabel { status: status.to_owned() }).inc();
    }

    pub fn node_executed(&self, status: &str, wall_time_us: u64) {
        self.node_executions.get_or_create(&StatusLabel { status: status.to_owned() }).inc();
        self.node_duration.observe(wall_time_us as f64 / 1e6);
    }

    /// The exposition text, with queue depths as of now.
    pub fn render(&self, queue_depths: &[(String, usize)]) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.queue_depth.clear();
        for (tenant, depth) in queue_depths {
            self.queue_depth.get_or_create(&TenantLabel { tenant: tenant.clone() }).set(*depth as i64);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histogram_and_depths() {
        let metrics = Metrics::default();
        metrics.run_finished("succeeded");
        metrics.node_executed("succeeded", 1_500);
        metrics.node_executed("timeout", 2_000_000);
        let text = metrics.render(&[("acme".into(), 3)]);
        assert!(text.contains("trellis_runs_total{status=\"succeeded\"} 1"), "{text}");
        assert!(text.contains("trellis_node_executions_total{status=\"timeout\"} 1"), "{text}");
        assert!(text.contains("trellis_node_duration_seconds_count 2"), "{text}");
        assert!(text.contains("trellis_queue_depth{tenant=\"acme\"} 3"), "{text}");
        assert!(!metrics.render(&[]).contains("tenant=\"acme\""), "depths are current, not sticky");
    }
}
