//! Child runs are bounded: cycles refused at save, a depth limit at run
//! time, and every child admitted under the tenant's run quotas.

use trellis_engine::quota::Plan;

use crate::common::*;

fn calling(id: &str, target: &str) -> Value {
    json!({"id": id, "nodes": [{"id": "call", "builtin": "subworkflow", "config": {"workflow": target, "input": "{{ input }}"}}]})
}

#[tokio::test(flavor = "multi_thread")]
async fn subworkflow_cycles_are_refused_at_save_and_stopped_by_depth_at_run_time() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();

    // Direct: a workflow that calls itself.
    let (status, error) = s.call(Method::POST, "/v1/workflows", Some(key), Some(calling("fork", "fork"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error.to_string().contains("fork → fork"), "{error}");
    // Indirect: a → b is fine until b → a closes the loop.
    let (status, _) = s.call(Method::POST, "/v1/workflows", Some(key), Some(calling("a", "b"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, error) = s.call(Method::POST, "/v1/workflows", Some(key), Some(calling("b", "a"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error.to_string().contains("b → a → b"), "{error}");

    // An id computed at run time cannot be checked at save: the depth limit stops it.
    let dynamic = json!({"id": "fork", "nodes": [{"id": "call", "builtin": "subworkflow",
        "config": {"workflow": "{{ input.next }}", "input": "{{ input }}"}}]});
    let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(dynamic)).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let fork =
        s.call(Method::POST, "/v1/workflows/fork/runs?wait=30", Some(key), Some(json!({"input": {"next": "fork"}})));
    let (_, run) = s.during(&bystander, fork).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    assert!(run.to_string().contains("deeper than 8 levels"), "{run}");
    let (_, runs) = s.call(Method::GET, "/v1/usage", Some(key), None).await;
    let counted = runs["days"][0]["usage"]["runs"].as_u64().unwrap_or_default();
    assert!((9..=10).contains(&counted), "the top-level run and its 8 levels of children: {runs}");
}

#[tokio::test(flavor = "multi_thread")]
async fn child_runs_count_against_the_run_quotas_and_a_map_output_obeys_the_payload_limit() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.set_plan(&acme.tenant_id, Plan { runs_per_day: 6, ..Plan::default() }).await;
    // A templated concurrency far past the cap, over more items than the day allows.
    let fan_out = json!({"id": "fan", "nodes": [{"id": "each", "builtin": "map", "config": {
        "items": "{{ range(50) | list }}", "concurrency": "{{ 300 }}",
        "nodes": [{"id": "hi", "uses": "trellis/transform", "kind": "render", "config": {"template": "x"}}]}}]});
    let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(fan_out)).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let fan = s.call(Method::POST, "/v1/workflows/fan/runs?wait=30", Some(key), Some(json!({})));
    let (_, run) = s.during(&bystander, fan).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    assert!(run.to_string().contains("runs_per_day"), "{run}");
    let (_, usage) = s.call(Method::GET, "/v1/usage", Some(key), None).await;
    assert_eq!(usage["days"][0]["usage"]["runs"], 6, "{usage}");

    // Concurrency: children are admitted against concurrent_runs too.
    s.set_plan(&acme.tenant_id, Plan { concurrent_runs: 3, ..Plan::default() }).await;
    let slow = json!({"id": "slow", "nodes": [{"id": "each", "builtin": "map", "config": {
        "items": [1, 2, 3, 4, 5, 6], "concurrency": "{{ 300 }}",
        "nodes": [{"id": "wait", "builtin": "delay", "config": {"ms": 300}}]}}]});
    s.call(Method::POST, "/v1/workflows", Some(key), Some(slow)).await;
    let slow = s.call(Method::POST, "/v1/workflows/slow/runs?wait=30", Some(key), Some(json!({})));
    let (_, run) = s.during(&bystander, slow).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    assert!(run.to_string().contains("concurrent_runs"), "{run}");

    // The collected output of a map obeys the payload limit.
    s.set_plan(&acme.tenant_id, Plan { payload_bytes: 20_000, ..Plan::default() }).await;
    let wide = json!({"id": "wide", "nodes": [{"id": "each", "builtin": "map", "config": {
        "items": "{{ range(40) | list }}",
        "nodes": [{"id": "pad", "uses": "trellis/transform", "kind": "render", "config": {"template": "{{ 'x' * 1000 }}"}}]}}]});
    s.call(Method::POST, "/v1/workflows", Some(key), Some(wide)).await;
    let wide = s.call(Method::POST, "/v1/workflows/wide/runs?wait=30", Some(key), Some(json!({})));
    let (_, run) = s.during(&bystander, wide).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    assert!(run.to_string().contains("payload limit of 20000 bytes"), "{run}");
}
