//! kv, llm and log as a plugin sees them, through the real sandbox.

use std::sync::Arc;

use crate::common::{load, run, runtime};
use serde_json::json;
use trellis_host_api::capabilities::MemoryKv;
use trellis_host_api::{Capabilities, FailureCode, Limits, LogLevel};
use trellis_plugin_artifacts::CAPABILITIES;

#[tokio::test(flavor = "multi_thread")]
pub async fn capabilities() {
    // kv persists across executions that share a store, and only there.
    let runtime = runtime();
    let plugin = load(&runtime, CAPABILITIES);
    let store = MemoryKv::default();
    let with_store = || Capabilities { kv: Arc::new(store.clone()), ..Capabilities::default() };
    for expected in 1..=3 {
        let execution =
            run(&runtime, &plugin, "kv-counter", json!({"key": "runs"}), &Limits::default(), with_store()).await;
        assert!(execution.succeeded(), "{:?}", execution.report);
        assert_eq!(execution.emits[0].data["count"], expected);
    }
    let fresh =
        run(&runtime, &plugin, "kv-counter", json!({"key": "runs"}), &Limits::default(), Capabilities::default()).await;
    assert_eq!(fresh.emits[0].data["count"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn kv_quota_is_an_error_inside_the_plugin() {
    let runtime = runtime();
    let plugin = load(&runtime, CAPABILITIES);
    let tiny = Capabilities { kv: Arc::new(MemoryKv::with_quota(3)), ..Capabilities::default() };
    let execution = run(&runtime, &plugin, "kv-counter", json!({"key": "runs"}), &Limits::default(), tiny).await;
    let failure = execution.failure().expect("quota failure");
    assert_eq!(failure.code, FailureCode::Retryable);
    assert!(failure.message.contains("kv storage quota exceeded"), "{failure}");
}

#[tokio::test(flavor = "multi_thread")]
async fn log_lines_and_stdio_are_recorded() {
    let runtime = runtime();
    let plugin = load(&runtime, CAPABILITIES);
    let execution = run(&runtime, &plugin, "log-lines", json!({}), &Limits::default(), Capabilities::default()).await;
    assert!(execution.succeeded(), "{:?}", execution.report);
    assert!(execution.emits.is_empty());
    let lines: Vec<(LogLevel, &str)> = execution.report.logs.iter().map(|l| (l.level, l.message.as_str())).collect();
    assert_eq!(
        lines,
        [
            (LogLevel::Debug, "debug line"),
            (LogLevel::Info, "run standalone node node attempt 1"),
            (LogLevel::Warn, "warn line"),
            (LogLevel::Error, "error line"),
            (LogLevel::Info, "printed to stdout (0 environment variables, 0 arguments, 0 bytes of stdin)"),
            (LogLevel::Warn, "printed to stderr"),
        ]
    );

    let capped = Limits { max_log_bytes: 20, ..Limits::default() };
    let execution = run(&runtime, &plugin, "log-lines", json!({}), &capped, Capabilities::default()).await;
    assert!(execution.report.logs_truncated);
}
