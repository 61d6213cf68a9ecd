//! kv, llm and log as a plugin sees them, through the real sandbox.

use std::sync::Arc;

use crate::common::{load, run, runtime};
use async_trait::async_trait;
use serde_json::json;
use trellis_host_api::capabilities::{ChatRequest, ChatResponse, LlmProvider, MemoryKv};
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

/// Stands in for the tenant's provider (the OpenAI-compatible client comes
/// with the engine); records what the host forwarded.
struct CannedProvider {
    seen: std::sync::Mutex<Vec<ChatRequest>>,
}

#[async_trait]
impl LlmProvider for CannedProvider {
    async fn chat(&self, request: ChatRequest) -> Result<ChatResponse, String> {
        self.seen.lock().unwrap().push(request);
        Ok(ChatResponse { content: "42".to_owned(), prompt_tokens: 12, completion_tokens: 1 })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn llm_goes_through_the_tenant_provider_and_is_metered() {
    let runtime = runtime();
    let plugin = load(&runtime, CAPABILITIES);
    let config = json!({"question": "meaning of life?"});

    let disabled = run(&runtime, &plugin, "llm-ask", config.clone(), &Limits::default(), Capabilities::default()).await;
    assert!(disabled.failure().unwrap().message.contains("llm is not enabled"), "{:?}", disabled.failure());

    let provider = Arc::new(CannedProvider { seen: Default::default() });
    let capabilities = Capabilities { llm: provider.clone(), ..Capabilities::default() };
    let execution = run(&runtime, &plugin, "llm-ask", config, &Limits::default(), capabilities).await;
    assert!(execution.succeeded(), "{:?}", execution.report);
    assert_eq!(execution.emits[0].data, json!({"answer": "42", "tokens": 13}));
    assert_eq!(execution.report.llm_tokens, 13);
    let seen = provider.seen.lock().unwrap();
    assert_eq!(seen[0].messages[1].content, "meaning of life?");
    assert_eq!(seen[0].messages[0].role, "system");
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
