//! A run's HTTP requests come out of one budget, whatever runs in parallel
//! and however many child runs it starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use trellis_engine::executor::EngineConfig;
use trellis_engine::quota::Plan;
use trellis_host_api::capabilities::HttpPolicy;

use super::Bystander;
use crate::common::*;

struct Setup {
    s: Server,
    bystander: Bystander,
    key: String,
    /// Requests that reached the listener.
    hits: Arc<AtomicUsize>,
    url: String,
}

/// A server whose plugins may reach loopback, a tenant whose runs may make
/// three requests, and a listener counting the requests that reach it.
async fn budget_of_three() -> Setup {
    let config = EngineConfig {
        http: HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["*"]) },
        ..EngineConfig::default()
    };
    let s = server_with(config).await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    s.set_plan(&acme.tenant_id, Plan { http_requests_per_run: 3, ..Plan::default() }).await;
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hit", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Setup { s, bystander, key: acme.api_key, hits, url }
}

fn call(id: String, url: &str) -> Value {
    json!({"id": id, "uses": "trellis/http-request@^0.1", "kind": "request", "config": {"url": url}})
}

const SPENT: &str = "denied: the run's budget of 3 HTTP requests is spent";

#[tokio::test(flavor = "multi_thread")]
async fn five_parallel_nodes_share_a_budget_of_three_requests() {
    let Setup { s, bystander, key, hits, url } = budget_of_three().await;
    // Five calls in parallel; a refused one goes out on `error`, so every
    // call finishes however the budget falls.
    let mut nodes: Vec<Value> = (0..5).map(|i| call(format!("call{i}"), &url)).collect();
    nodes.push(json!({"id": "done", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": "done"}, "join": "any"}));
    let edges: Vec<Value> = (0..5)
        .flat_map(|i| {
            [
                json!({"from": format!("call{i}"), "to": "done"}),
                json!({"from": format!("call{i}"), "port": "error", "to": "done"}),
            ]
        })
        .collect();
    let (status, saved) = s.save_workflow(&key, json!({"id": "fan", "nodes": nodes, "edges": edges})).await;
    assert!(status.is_success(), "{saved}");
    let fan = s.call(Method::POST, "/v1/workflows/fan/runs?wait=30", Some(&key), Some(json!({})));
    let (_, run) = s.during(&bystander, fan).await;
    assert_eq!(hits.load(Ordering::SeqCst), 3, "exactly the budget went out: {run}");
    let denied = run["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["node_id"].as_str().is_some_and(|id| id.starts_with("call")))
        .filter(|n| n["emits"][0]["data"]["message"] == SPENT)
        .count();
    assert_eq!(denied, 2, "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn child_runs_draw_from_their_parents_budget() {
    let Setup { s, bystander, key, hits, url } = budget_of_three().await;
    // One request per map item, five items: the run tree may make three.
    let item = call("fetch".to_owned(), &url);
    let sink = json!({"id": "kept", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": "x"}, "join": "any"});
    let edges = json!([{"from": "fetch", "to": "kept"}, {"from": "fetch", "port": "error", "to": "kept"}]);
    let map = json!({"id": "each", "nodes": [{"id": "items", "builtin": "map", "config": {
        "items": [1, 2, 3, 4, 5], "concurrency": 5, "nodes": [item, sink], "edges": edges}}]});
    let (status, saved) = s.save_workflow(&key, map).await;
    assert!(status.is_success(), "{saved}");
    let each = s.call(Method::POST, "/v1/workflows/each/runs?wait=30", Some(&key), Some(json!({})));
    let (_, run) = s.during(&bystander, each).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert_eq!(hits.load(Ordering::SeqCst), 3, "the children share one budget of three: {run}");
}
