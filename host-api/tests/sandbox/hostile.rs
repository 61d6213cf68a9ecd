//! Hostile guests (plugins/testing): the host survives each attack, reports
//! the right failure, then runs a normal plugin fine.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::common::{assert_host_still_serves, load, run, runtime, serve_ok};
use serde_json::json;
use trellis_host_api::capabilities::{HttpPolicy, MemorySecrets};
use trellis_host_api::{Capabilities, FailureCode, Limits, LoadError};
use trellis_plugin_artifacts::{BAD_DESCRIBE, ECHO, ESCAPE, HOSTILE, WRONG_WORLD};

fn code_of(execution: &trellis_host_api::Execution) -> FailureCode {
    execution.failure().unwrap_or_else(|| panic!("expected a failure, got {:?}", execution.emits)).code
}

#[tokio::test(flavor = "multi_thread")]
pub async fn echo() {
    let runtime = runtime();
    let plugin = load(&runtime, ECHO);
    let kinds = runtime.describe(&plugin).await.unwrap();
    assert_eq!(kinds.len(), 1);
    assert_eq!(kinds[0].name, "echo");
    assert_eq!(kinds[0].config_schema["properties"]["label"]["type"], "string");
    let execution =
        run(&runtime, &plugin, "echo", json!({"label": "x"}), &Limits::default(), Capabilities::default()).await;
    assert!(execution.succeeded(), "{:?}", execution.report);
    assert_eq!(execution.emits[0].port, "out");
    assert_eq!(execution.emits[0].data["label"], "x");
    assert!(execution.report.fuel_used > 0);
    assert!(execution.report.peak_memory_bytes > 0);

    let unknown = run(&runtime, &plugin, "nope", json!({}), &Limits::default(), Capabilities::default()).await;
    assert_eq!(code_of(&unknown), FailureCode::InvalidConfig);
    let bad_config =
        run(&runtime, &plugin, "echo", json!({"label": 5}), &Limits::default(), Capabilities::default()).await;
    assert_eq!(code_of(&bad_config), FailureCode::InvalidConfig);
    assert!(bad_config.failure().unwrap().message.contains("config"));
}

#[tokio::test(flavor = "multi_thread")]
pub async fn hostile() {
    // Every attack kind is offered, so the tests below exercise real kinds.
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let names: BTreeSet<String> = runtime.describe(&plugin).await.unwrap().into_iter().map(|k| k.name).collect();
    for kind in ["spin", "grow-memory", "recurse", "fetch", "read-secret", "huge-output", "panic"] {
        assert!(names.contains(kind), "hostile guest lacks `{kind}`: {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn infinite_loop_hits_the_wall_time_limit() {
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let limits = Limits { timeout: Duration::from_millis(200), fuel: u64::MAX / 4, ..Limits::default() };
    let execution = run(&runtime, &plugin, "spin", json!({}), &limits, Capabilities::default()).await;
    assert_eq!(code_of(&execution), FailureCode::Timeout, "{:?}", execution.report.failure);
    assert!(execution.report.wall_time_us >= 200_000);
    assert!(execution.report.wall_time_us < 5_000_000, "stopped late: {}", execution.report.wall_time_us);
    assert_host_still_serves(&runtime).await;
}

/// On a runtime with one thread, a guest that computes without end must
/// still let other tasks run: it hands the thread back every slice of fuel.
/// Were it to hold the thread, the ticker would not tick until it stopped.
#[tokio::test(flavor = "current_thread")]
async fn a_computing_guest_hands_its_thread_back() {
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let ticker = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let limits = Limits { timeout: Duration::from_millis(300), fuel: u64::MAX / 4, ..Limits::default() };
    let execution = run(&runtime, &plugin, "spin", json!({}), &limits, Capabilities::default()).await;
    let ticked = ticks.load(std::sync::atomic::Ordering::Relaxed);
    ticker.abort();
    assert_eq!(code_of(&execution), FailureCode::Timeout, "{:?}", execution.report.failure);
    assert!(ticked >= 1, "the other task never ran while the guest computed for 300 ms");
}

#[tokio::test(flavor = "multi_thread")]
async fn infinite_loop_with_low_fuel_is_fuel_exhausted() {
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let limits = Limits { fuel: 5_000_000, ..Limits::default() };
    let execution = run(&runtime, &plugin, "spin", json!({}), &limits, Capabilities::default()).await;
    assert_eq!(code_of(&execution), FailureCode::FuelExhausted, "{:?}", execution.report.failure);
    assert_eq!(execution.report.fuel_used, 5_000_000);
    assert_host_still_serves(&runtime).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_memory_growth_is_memory_limit() {
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let limits = Limits { memory_bytes: 16 << 20, ..Limits::default() };
    let execution = run(&runtime, &plugin, "grow-memory", json!({}), &limits, Capabilities::default()).await;
    assert_eq!(code_of(&execution), FailureCode::MemoryLimit, "{:?}", execution.report.failure);
    assert!(execution.report.peak_memory_bytes <= 16 << 20);
    assert!(execution.report.peak_memory_bytes > 8 << 20, "peak {}", execution.report.peak_memory_bytes);
    assert_host_still_serves(&runtime).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unbounded_recursion_is_a_trap_with_its_text() {
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let execution = run(&runtime, &plugin, "recurse", json!({}), &Limits::default(), Capabilities::default()).await;
    assert_eq!(code_of(&execution), FailureCode::Trap);
    let message = &execution.failure().unwrap().message;
    assert!(message.contains("call stack exhausted"), "{message}");
    assert_host_still_serves(&runtime).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panic_is_a_trap_carrying_the_panic_message() {
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let execution = run(&runtime, &plugin, "panic", json!({}), &Limits::default(), Capabilities::default()).await;
    assert_eq!(code_of(&execution), FailureCode::Trap);
    let message = &execution.failure().unwrap().message;
    assert!(message.contains("hostile guest panicked on purpose"), "{message}");
    assert_host_still_serves(&runtime).await;
}

async fn fetch(policy: HttpPolicy, url: &str) -> trellis_host_api::Execution {
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let capabilities = Capabilities { http: policy, ..Capabilities::default() };
    let execution = run(&runtime, &plugin, "fetch", json!({ "url": url }), &Limits::default(), capabilities).await;
    assert_host_still_serves(&runtime).await;
    execution
}

fn assert_denied(execution: &trellis_host_api::Execution, reason: &str) {
    assert_eq!(code_of(execution), FailureCode::Fatal, "{:?}", execution.report);
    let message = &execution.failure().unwrap().message;
    assert!(message.starts_with("denied: ") && message.contains(reason), "{message}");
    let call = &execution.report.http_calls[0];
    assert!(call.denied(), "{call:?}");
    assert_eq!(call.status, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_to_loopback_is_denied_even_when_the_host_is_allowed() {
    // A live server, so a missing check would show as a 200.
    let addr = serve_ok().await;
    let execution = fetch(HttpPolicy::allowing(["127.0.0.1"]), &format!("http://{addr}/")).await;
    assert_denied(&execution, "a loopback address");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_to_cloud_metadata_is_denied() {
    let open = HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["*"]) };
    let execution = fetch(open, "http://169.254.169.254/latest/meta-data/").await;
    assert_denied(&execution, "cloud metadata");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_to_a_name_resolving_to_loopback_is_denied() {
    let addr = serve_ok().await;
    let url = format!("http://localhost:{}/", addr.port());
    let execution = fetch(HttpPolicy::allowing(["localhost"]), &url).await;
    assert_denied(&execution, "`localhost` resolves to 127.0.0.1");

    // The same request with the operator's private-network opt-in goes
    // through, proving the denial came from the address check.
    let open = HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["localhost"]) };
    let execution = fetch(open, &url).await;
    assert!(execution.succeeded(), "{:?}", execution.report);
    assert_eq!(execution.emits[0].data["status"], 200);
    assert_eq!(execution.report.http_calls[0].status, Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn http_to_a_host_not_on_the_allowlist_is_denied() {
    let execution = fetch(HttpPolicy::allowing(["api.example.com"]), "https://other.example.org/steal").await;
    assert_denied(&execution, "host `other.example.org` is not on this plugin's allowed hosts");
    assert_eq!(execution.report.http_calls[0].url, "https://other.example.org/steal");
}

#[tokio::test(flavor = "multi_thread")]
async fn ungranted_secret_is_an_error_never_a_value() {
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let store = Arc::new(MemorySecrets::new([("API_KEY".to_owned(), "sk-live-42".to_owned())]));
    let capabilities = Capabilities { secrets: store.clone(), ..Capabilities::default() };
    let execution =
        run(&runtime, &plugin, "read-secret", json!({"name": "API_KEY"}), &Limits::default(), capabilities).await;
    assert_eq!(code_of(&execution), FailureCode::Fatal);
    let message = &execution.failure().unwrap().message;
    assert!(message.contains("not granted"), "{message}");
    assert!(!serde_json::to_string(&execution).unwrap().contains("sk-live-42"));

    let granted = Capabilities {
        secrets: store,
        granted_secrets: BTreeSet::from(["API_KEY".to_owned()]),
        ..Capabilities::default()
    };
    let execution =
        run(&runtime, &plugin, "read-secret", json!({"name": "API_KEY"}), &Limits::default(), granted).await;
    assert!(execution.succeeded(), "{:?}", execution.report);
    assert_eq!(execution.emits[0].data["value"], "[redacted:API_KEY]");
    assert_eq!(execution.emits[0].data["length"], "sk-live-42".len());
    assert_host_still_serves(&runtime).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_output_fails_only_the_node() {
    let runtime = runtime();
    let plugin = load(&runtime, HOSTILE);
    let limits = Limits { max_output_bytes: 1 << 20, ..Limits::default() };
    let execution =
        run(&runtime, &plugin, "huge-output", json!({"mebibytes": 3}), &limits, Capabilities::default()).await;
    assert_eq!(code_of(&execution), FailureCode::InvalidOutput);
    assert!(execution.failure().unwrap().message.contains("over the 1048576-byte limit"));
    assert!(execution.emits.is_empty());
    assert_host_still_serves(&runtime).await;
}

#[tokio::test(flavor = "multi_thread")]
pub async fn escape() {
    // Imports wasi:filesystem and wasi:sockets: refused at load, naming them.
    let runtime = runtime();
    let bytes = std::fs::read(ESCAPE).unwrap();
    let error = runtime.load(&bytes).unwrap_err();
    assert!(matches!(error, LoadError::ForbiddenImports { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("wasi:filesystem/types@0.2"), "{message}");
    assert!(message.contains("wasi:sockets/tcp@0.2"), "{message}");
    assert!(!message.contains("wasi:http"), "allowed imports listed: {message}");
    assert_host_still_serves(&runtime).await;
}

#[tokio::test(flavor = "multi_thread")]
pub async fn wrong_world() {
    let runtime = runtime();
    let bytes = std::fs::read(WRONG_WORLD).unwrap();
    let error = runtime.load(&bytes).unwrap_err();
    assert!(matches!(error, LoadError::WrongWorld(_)), "{error}");
    let message = error.to_string();
    assert!(message.contains("describe") || message.contains("run"), "{message}");
    assert_host_still_serves(&runtime).await;
}

#[tokio::test(flavor = "multi_thread")]
pub async fn bad_describe() {
    // The right world, so it loads; its describe lists one name twice.
    let runtime = runtime();
    let plugin = load(&runtime, BAD_DESCRIBE);
    let error = runtime.describe(&plugin).await.unwrap_err();
    assert!(error.to_string().contains("twin") && error.to_string().contains("listed twice"), "{error}");
    assert_host_still_serves(&runtime).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_bytes_are_refused_with_a_reason() {
    let runtime = runtime();
    let error = runtime.load(b"this is not wasm at all").unwrap_err();
    assert!(matches!(error, LoadError::Invalid(_)), "{error}");
    assert!(error.to_string().contains("magic"), "{error}");

    // Right magic, garbage after it: the parser's complaint is passed on.
    let mut truncated = std::fs::read(ECHO).unwrap();
    truncated.truncate(1000);
    let error = runtime.load(&truncated).unwrap_err();
    assert!(matches!(error, LoadError::Invalid(_)), "{error}");

    // A core module (the empty one) is told to build a component.
    let error = runtime.load(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(error.to_string().contains("core WebAssembly module, not a component"), "{error}");

    let too_big = vec![0u8; runtime.config().max_component_bytes + 1];
    assert!(matches!(runtime.load(&too_big).unwrap_err(), LoadError::TooLarge { .. }));
    assert_host_still_serves(&runtime).await;
}
