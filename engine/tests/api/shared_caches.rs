//! Two servers on one store, as two processes of a cluster: grants,
//! installs and workflow versions one changes, the other serves at once,
//! not when its caches' 2 s end. On
//! PostgreSQL the change travels as a `LISTEN/NOTIFY` notice.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use trellis_engine::secrets::SecretSource;
use trellis_engine::store::TenantId;

use crate::common::server;

/// Asks `ask` until `holds`, for at most half a second (the caches keep
/// entries for 2 s).
async fn soon(mut ask: impl AsyncFnMut() -> Value, holds: impl Fn(&Value) -> bool) -> Value {
    let asked = Instant::now();
    loop {
        let answer = ask().await;
        if holds(&answer) {
            return answer;
        }
        let shown: String = answer.to_string().chars().take(300).collect();
        assert!(asked.elapsed() < Duration::from_millis(500), "still stale: {shown}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_installs_and_workflows_changed_on_one_server_are_served_by_the_other_at_once() {
    let a = server().await;
    let b = a.and_another().await;
    let acme = a.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();

    // The secrets B lets a plugin read, cached; A grants one.
    let acme_store = b.store.tenant(TenantId::new(&acme.tenant_id));
    let granted = async || json!(b.state.vault.for_node(&acme_store, "local/hostile").await.unwrap().1);
    assert_eq!(granted().await, json!([]));
    let grants = json!({"secrets": ["API_TOKEN"], "hosts": ["*"], "kv": true});
    let (status, body) = a.call(Method::PUT, "/v1/plugins/local/hostile/grants", Some(key), Some(grants)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    soon(granted, |names| names == &json!(["API_TOKEN"])).await;

    // B's catalog, cached, lists the testing guest; A uninstalls it.
    let has_guest = |catalog: &Value| catalog.to_string().contains("local/capabilities");
    let (status, catalog) = b.call(Method::GET, "/v1/catalog", Some(key), None).await;
    assert!(status == StatusCode::OK && has_guest(&catalog), "{catalog}");
    let (status, body) = a.call(Method::DELETE, "/v1/plugins/local/capabilities", Some(key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    soon(async || b.call(Method::GET, "/v1/catalog", Some(key), None).await.1, |c| !has_guest(c)).await;

    // B's webhook target, cached, is version 1; A saves version 2.
    let doc = |n: u32| {
        json!({"id": "hooked", "triggers": [{"webhook": {}}],
            "nodes": [{"id": "a", "uses": "trellis/transform@^0.1", "kind": "reshape", "config": {"template": n}}]})
    };
    let (status, _) = a.call(Method::POST, "/v1/workflows", Some(key), Some(doc(1))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, triggers) = a.call(Method::GET, "/v1/workflows/hooked/triggers", Some(key), None).await;
    let hook = triggers["webhook"]["path"].as_str().unwrap().to_owned();
    let version_of = async |server: &crate::common::Server| {
        let (status, started) = server.call(Method::POST, &hook, None, Some(json!({}))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{started}");
        let run = started["run_id"].as_str().unwrap().to_owned();
        let (_, detail) = server.call(Method::GET, &format!("/v1/runs/{run}"), Some(key), None).await;
        detail["run"]["workflow_version"].clone()
    };
    assert_eq!(version_of(&b).await, json!(1));
    let (status, _) = a.call(Method::PUT, "/v1/workflows/hooked", Some(key), Some(doc(2))).await;
    assert_eq!(status, StatusCode::OK);
    soon(async || version_of(&b).await, |version| version == &json!(2)).await;
}
