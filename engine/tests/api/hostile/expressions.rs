//! Expressions that would build huge values fail their node, naming the
//! field and the limit, before the value exists.

use std::time::{Duration, Instant};

use crate::common::*;

/// Resident memory of this test process, in bytes.
pub fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_expression_fails_its_node_and_memory_stays_flat() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let before = resident_bytes();

    // Constants are folded by the compiler: too large ones are refused at save.
    for attack in ["{{ [0] * 3000000000 }}", "{{ 'a' * 100000000 }}", "{{ ('a' * 900000) ~ ('a' * 900000) }}"] {
        let workflow = json!({"id": "huge", "nodes": [
            {"id": "reply", "builtin": "respond", "config": {"body": attack}}]});
        let (status, error) = s.save_workflow(key, workflow).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{attack}: {error}");
        let text = error.to_string();
        assert!(text.contains("config.body") && text.contains("1048576 bytes"), "{attack}: {text}");
    }
    // Computed from the input, they fail their node when run.
    for attack in
        ["{{ [input.s] * 3000000000 }}", "{{ input.s * 100000000 }}", "{{ range(100000) | join(input.s * 100000) }}"]
    {
        let workflow = json!({"id": "huge", "nodes": [
            {"id": "reply", "builtin": "respond", "config": {"body": attack}}]});
        let (status, saved) = s.save_workflow(key, workflow).await;
        assert!(status.is_success(), "{saved}");
        let started = Instant::now();
        let huge =
            s.call(Method::POST, "/v1/workflows/huge/runs?wait=10", Some(key), Some(json!({"input": {"s": "a"}})));
        let (status, run) = s.during(&bystander, huge).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        assert!(started.elapsed() < Duration::from_secs(5), "{attack} took {:?}", started.elapsed());
        assert_eq!(run["run"]["status"], "failed", "{attack}: {run}");
        let node = &run["nodes"].as_array().unwrap()[0];
        assert_eq!(node["error"]["code"], "invalid_config", "{node}");
        let message = node["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("config.body") && message.contains("payload limit of 1048576 bytes"), "{message}");
        assert!(run.to_string().len() < 64 << 10, "the run record stays small");
    }
    let grown = resident_bytes().saturating_sub(before);
    assert!(grown < 256 << 20, "the process grew by {} MiB", grown >> 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn capturing_and_recursive_constructs_are_refused_at_save() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let workflow = json!({"id": "macro", "nodes": [{"id": "reply", "builtin": "respond",
        "config": {"body": "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"}}]});
    let save = s.call(Method::POST, "/v1/workflows", Some(&acme.api_key), Some(workflow));
    let (status, error) = s.during(&bystander, save).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error.to_string().contains("macros are not supported"), "{error}");
}
