//! Floods of requests and run starts: each tenant is held to its plan's
//! rates. Calls over the rate wait their turn, for up to a second, and past
//! that are refused, so a flood costs the server a refusal per call and the
//! other tenants nothing.

use std::time::{Duration, Instant};

use futures::future::join_all;
use trellis_engine::quota::Plan;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_request_flood_is_paced_then_refused_while_another_tenant_is_served() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.set_plan(&acme.tenant_id, Plan { requests_per_second: 5, ..Plan::default() }).await;

    let started = Instant::now();
    let flood = join_all((0..40).map(|_| async {
        let (status, body) = s.call(Method::GET, "/v1/workflows", Some(key), None).await;
        (status, body, started.elapsed())
    }));
    let answers = s.during(&bystander, flood).await;
    let served: Vec<_> = answers.iter().filter(|(status, ..)| *status == StatusCode::OK).collect();
    let refused: Vec<_> = answers.iter().filter(|(status, ..)| *status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert_eq!(served.len() + refused.len(), 40, "{answers:?}");
    // A second's burst (5) at once, then up to a second of turns (5 more).
    assert!((10..=15).contains(&served.len()), "served {}", served.len());
    let last = served.iter().map(|(.., at)| *at).max().unwrap_or_default();
    assert!(last >= Duration::from_millis(800), "the turns past the burst were not waited for: {last:?}");
    let (_, error, _) = refused[0];
    assert_eq!(error["error"]["code"], "quota_exceeded", "{error}");
    assert_eq!(error["error"]["details"]["quota"], "requests_per_second", "{error}");
    assert_eq!(error["error"]["details"]["limit"], 5, "{error}");

    // A refusal says when to come back.
    let request = Request::builder()
        .uri("/v1/workflows")
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = app(s.state.clone()).oneshot(request).await.unwrap();
    if response.status() == StatusCode::TOO_MANY_REQUESTS {
        let seconds: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=3).contains(&seconds), "retry-after {seconds}");
    }
    // The other tenant was never held back by the flood.
    s.bystander_is_served(&bystander).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_starts_are_paced_child_runs_included() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.set_plan(&acme.tenant_id, Plan { runs_per_second: 5, ..Plan::default() }).await;
    let fan_out = json!({"id": "fan", "nodes": [{"id": "each", "builtin": "map", "config": {
        "items": "{{ range(12) | list }}", "concurrency": 12,
        "nodes": [{"id": "hi", "uses": "trellis/transform", "kind": "render", "config": {"template": "x"}}]}}]});
    let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(fan_out)).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");

    // Thirteen starts (the map and its twelve children) at five a second:
    // the children wait their turns instead of failing the map.
    let started = Instant::now();
    let fan = s.call(Method::POST, "/v1/workflows/fan/runs?wait=30", Some(key), Some(json!({})));
    let (_, run) = s.during(&bystander, fan).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert!(started.elapsed() >= Duration::from_millis(1_400), "13 starts at 5/s took {:?}", started.elapsed());

    // Top-level starts past a second of turns are refused, naming the rate.
    let flood = join_all(
        (0..20).map(|_| s.call(Method::POST, "/v1/workflows/greet-acme/runs", Some(key), Some(json!({"input": {}})))),
    );
    let greet = json!({"id": "greet-acme", "nodes": [
        {"id": "hi", "uses": "trellis/transform", "kind": "render", "config": {"template": "x"}}]});
    let (status, _) = s.call(Method::POST, "/v1/workflows", Some(key), Some(greet)).await;
    assert_eq!(status, StatusCode::CREATED);
    let answers = s.during(&bystander, flood).await;
    let refused: Vec<_> = answers.iter().filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS).collect();
    assert!(!refused.is_empty(), "{answers:?}");
    assert!(refused.len() < 20, "{answers:?}");
    assert_eq!(refused[0].1["error"]["details"]["quota"], "runs_per_second", "{:?}", refused[0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_looping_on_refusals_is_slowed_to_the_refusal_pace() {
    let s = server().await;
    let bystander = s.bystander().await;
    // An attacker asking again the moment it is refused, as fast as it can.
    let loop_on_refusals = async {
        let started = Instant::now();
        for _ in 0..30 {
            let (status, _) = s.call(Method::GET, "/v1/workflows", Some("trk_not-a-key"), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        started.elapsed()
    };
    let took = s.during(&bystander, loop_on_refusals).await;
    // A second's burst of twenty refusals at once, then one each 50 ms.
    assert!(took >= Duration::from_millis(450), "30 refusals in {took:?}");
    // The other tenant is served at once meanwhile, and after.
    let started = Instant::now();
    s.bystander_is_served(&bystander).await;
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}
