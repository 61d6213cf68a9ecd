//! Plans set by the operator: each quota answers 429 (or fails the node)
//! with its name, limit and use; usage is metered per day.

use trellis_engine::quota::Plan;

use crate::common::*;
use trellis_engine::store::StorePlans;

fn chain(id: &str, nodes: usize) -> Value {
    let nodes: Vec<Value> = (0..nodes)
        .map(|i| json!({"id": format!("n{i}"), "uses": "trellis/transform", "kind": "render", "config": {"template": "x"}}))
        .collect();
    let edges: Vec<Value> =
        (1..nodes.len()).map(|i| json!({"from": format!("n{}", i - 1), "to": format!("n{i}")})).collect();
    json!({"id": id, "nodes": nodes, "edges": edges})
}

impl Server {
    pub async fn set_plan(&self, tenant: &str, plan: Plan) {
        let tenant = TenantId::new(tenant);
        assert!(self.store.set_plan(&tenant, &plan).await.unwrap());
        self.state.engine.forget_plan(&tenant);
    }
}

fn assert_quota(status: StatusCode, body: &Value, quota: &str, limit: u64, used: u64) {
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert_eq!(body["error"]["details"], json!({"quota": quota, "limit": limit, "used": used}), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(quota));
}

#[tokio::test(flavor = "multi_thread")]
async fn run_quotas_refuse_with_name_limit_and_use_and_usage_is_metered() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.set_plan(&acme.tenant_id, Plan { runs_per_day: 3, payload_bytes: 100, ..Plan::default() }).await;
    s.call(Method::POST, "/v1/workflows", Some(key), Some(chain("three", 3))).await;

    for _ in 0..3 {
        let (status, run) = s.call(Method::POST, "/v1/workflows/three/runs?wait=30", Some(key), Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{run}");
    }
    let (status, body) = s.call(Method::POST, "/v1/workflows/three/runs", Some(key), Some(json!({}))).await;
    assert_quota(status, &body, "runs_per_day", 3, 3);
    let (_, runs) = s.call(Method::GET, "/v1/runs", Some(key), None).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 3, "the refused run was not stored");

    // Usage: three runs of three nodes today.
    let (status, usage) = s.call(Method::GET, "/v1/usage", Some(key), None).await;
    assert_eq!(status, StatusCode::OK);
    let today = usage["days"].as_array().unwrap().last().unwrap()["usage"].clone();
    assert_eq!((today["runs"].as_u64(), today["node_executions"].as_u64()), (Some(3), Some(9)), "{usage}");
    assert!(today["fuel"].as_u64().unwrap() > 0);
    let (_, plan) = s.call(Method::GET, "/v1/plan", Some(key), None).await;
    assert_eq!(plan["plan"]["runs_per_day"], 3);
    assert_eq!(plan["today"]["usage"]["runs"], 3);
    let (status, _) = s.call(Method::GET, "/v1/usage?from=2026-13-01", Some(key), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Payload: checked before anything is stored.
    s.set_plan(&acme.tenant_id, Plan { payload_bytes: 100, ..Plan::default() }).await;
    let big = json!({"input": {"pad": "x".repeat(200)}});
    let (status, body) = s.call(Method::POST, "/v1/workflows/three/runs", Some(key), Some(big)).await;
    assert_quota(status, &body, "payload_bytes", 100, 210);

    // The other tenant's plan and usage are its own.
    let globex = s.tenant("owner@globex.test").await;
    let (_, usage) = s.call(Method::GET, "/v1/usage", Some(&globex.api_key), None).await;
    assert_eq!(usage["days"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_runs_workflows_and_node_count_quotas() {
    // Runs that wait hold their place while their drivers wait in memory;
    // set aside, they give it back (next test).
    let s = server_with(trellis_engine::executor::EngineConfig::default()).await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.set_plan(&acme.tenant_id, Plan { concurrent_runs: 2, workflows: 2, nodes_per_workflow: 3, ..Plan::default() })
        .await;
    let (status, _) =
        s.call(Method::POST, "/v1/workflows", Some(key), Some(serde_json::from_str(APPROVAL).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED);
    // Over the node count: refused by validation with its path.
    let (status, body) = s.call(Method::POST, "/v1/workflows", Some(key), Some(chain("four", 4))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.to_string().contains("over the limit of 3"), "{body}");
    let (status, _) = s.call(Method::POST, "/v1/workflows", Some(key), Some(chain("two", 2))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = s.call(Method::POST, "/v1/workflows", Some(key), Some(chain("third", 1))).await;
    assert_quota(status, &body, "workflows", 2, 2);
    // New versions of existing workflows are not new workflows.
    let (status, _) = s.call(Method::PUT, "/v1/workflows/two", Some(key), Some(chain("two", 3))).await;
    assert_eq!(status, StatusCode::OK);

    // Two runs wait for approval; a third is refused until one finishes.
    let mut waiting = Vec::new();
    for _ in 0..2 {
        let (status, run) = s.call(Method::POST, "/v1/workflows/gate/runs", Some(key), Some(json!({}))).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        waiting.push(run["run"]["id"].as_str().unwrap().to_owned());
    }
    let (status, body) = s.call(Method::POST, "/v1/workflows/two/runs", Some(key), Some(json!({}))).await;
    assert_quota(status, &body, "concurrent_runs", 2, 2);
    s.wait_run(key, &waiting[0], |r| r["nodes"][0]["status"] == "waiting").await;
    let (status, _) = s
        .call(
            Method::POST,
            &format!("/v1/runs/{}/approvals/wait", waiting[0]),
            Some(key),
            Some(json!({"approved": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    s.wait_run(key, &waiting[0], |r| r["run"]["status"] == "succeeded").await;
    let (status, _) = s.call(Method::POST, "/v1/workflows/two/runs", Some(key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_set_aside_while_they_wait_hold_no_place_among_concurrent_runs() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.set_plan(&acme.tenant_id, Plan { concurrent_runs: 2, ..Plan::default() }).await;
    s.call(Method::POST, "/v1/workflows", Some(key), Some(serde_json::from_str(APPROVAL).unwrap())).await;
    s.call(Method::POST, "/v1/workflows", Some(key), Some(chain("two", 2))).await;
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let (status, run) = s.call(Method::POST, "/v1/workflows/gate/runs?wait=1", Some(key), Some(json!({}))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{run}");
        waiting.push(run["run"]["id"].as_str().unwrap().to_owned());
    }
    let (status, run) = s.call(Method::POST, "/v1/workflows/two/runs?wait=30", Some(key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "three runs wait, set aside, and a fourth runs: {run}");
    for id in &waiting {
        let path = format!("/v1/runs/{id}/approvals/wait");
        let (status, _) = s.call(Method::POST, &path, Some(key), Some(json!({"approved": true}))).await;
        assert_eq!(status, StatusCode::OK);
    }
    for id in &waiting {
        s.wait_run(key, id, |r| r["run"]["status"] == "succeeded").await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node_quotas_fail_the_node_not_the_server() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    // No LLM tokens left: a node that calls no model still runs (a model
    // call is refused when it is made; tests/api/llm.rs shows it).
    s.set_plan(&acme.tenant_id, Plan { fuel_per_node: 5_000_000, llm_tokens_per_day: 0, ..Plan::default() }).await;
    let spin = json!({"id": "spin", "nodes": [{"id": "spin", "uses": "local/hostile", "kind": "spin"}]});
    s.call(Method::POST, "/v1/workflows", Some(key), Some(spin)).await;
    let (status, run) = s.call(Method::POST, "/v1/workflows/spin/runs?wait=30", Some(key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(run["run"]["status"], "failed");
    assert_eq!(run["nodes"][0]["error"]["code"], "fuel_exhausted", "{run}");
    assert!(run["nodes"][0]["fuel_used"].as_u64().unwrap() <= 5_000_000 + 100_000);
}

/// The sandbox limits a plan sells reach the node: memory, wall time and
/// kv storage, each failing the node with its own error.
#[tokio::test(flavor = "multi_thread")]
async fn memory_time_and_kv_limits_come_from_the_plan() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let one = |id: &str, uses: &str, kind: &str, config: Value| json!({"id": id, "nodes": [{"id": "n", "uses": uses, "kind": kind, "config": config}]});
    for workflow in [
        one("grow", "local/hostile", "grow-memory", json!({})),
        one("spin", "local/hostile", "spin", json!({})),
        one("count", "local/capabilities", "kv-counter", json!({"key": "visits"})),
    ] {
        let (status, body) = s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let run = |id: &'static str| {
        let s = &s;
        async move { s.call(Method::POST, &format!("/v1/workflows/{id}/runs?wait=30"), Some(key), Some(json!({}))).await.1 }
    };
    s.set_plan(
        &acme.tenant_id,
        Plan { memory_per_node_bytes: 8 << 20, time_per_node_ms: 50, kv_bytes: 4, ..Plan::default() },
    )
    .await;

    let grown = run("grow").await;
    assert_eq!(grown["nodes"][0]["error"]["code"], "memory_limit", "{grown}");
    assert!(grown["nodes"][0]["peak_memory_bytes"].as_u64().unwrap() <= 8 << 20, "{grown}");

    // The engine's own fuel ceiling (10⁹) lasts longer than 50 ms.
    let spun = run("spin").await;
    assert_eq!(spun["nodes"][0]["error"]["code"], "timeout", "{spun}");
    let wall = spun["nodes"][0]["wall_time_us"].as_u64().unwrap();
    assert!((50_000..5_000_000).contains(&wall), "stopped at the plan's 50 ms: {wall} µs");

    // Four bytes of kv: the key alone does not fit.
    let counted = run("count").await;
    assert_eq!(counted["run"]["status"], "failed", "{counted}");
    assert!(counted.to_string().contains("kv storage quota exceeded: limit 4 bytes"), "{counted}");
    // With room, the same node counts.
    s.set_plan(&acme.tenant_id, Plan { kv_bytes: 1 << 10, ..Plan::default() }).await;
    let counted = run("count").await;
    assert_eq!(counted["run"]["output"]["count"], 1, "{counted}");
}
