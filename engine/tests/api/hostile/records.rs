//! Run records stay bounded and free of secret values, whatever a plugin
//! writes into them.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_log_flood_is_capped_by_line_count() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let workflow = json!({"id": "flood", "nodes": [{"id": "logs", "uses": "local/hostile", "kind": "log-flood",
        "config": {"lines": 2_000_000}}]});
    let (status, saved) = s.save_workflow(key, workflow).await;
    assert!(status.is_success(), "{saved}");
    let flood = s.call(Method::POST, "/v1/workflows/flood/runs?wait=60", Some(key), Some(json!({})));
    let (_, run) = s.during(&bystander, flood).await;
    assert_eq!(run["run"]["status"], "succeeded", "{}", &run.to_string()[..run.to_string().len().min(2000)]);
    let node = &run["nodes"][0];
    assert_eq!(node["logs"].as_array().map(Vec::len), Some(1_000), "capped at 1,000 lines");
    assert_eq!(node["logs_truncated"], true);
    assert!(run.to_string().len() < 256 << 10, "the record is {} bytes", run.to_string().len());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_granted_secret_is_redacted_from_every_part_of_the_record() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let value = "sk_live_leaky_0123456789";
    s.call(Method::PUT, "/v1/secrets/API_TOKEN", Some(key), Some(json!({"value": value}))).await;
    let (status, _) = s
        .call(Method::PUT, "/v1/plugins/local/hostile/grants", Some(key), Some(json!({"secrets": ["API_TOKEN"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    // A listener that answers anything: the request goes out with the secret in its URL.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Loopback is denied by the policy; the call is still recorded with its URL.
    for fail in [false, true] {
        let workflow = json!({"id": "leak", "nodes": [{"id": "leak", "uses": "local/hostile", "kind": "leak-secret",
            "config": {"name": "API_TOKEN", "url": format!("http://127.0.0.1:{port}"), "fail": fail}}]});
        let (status, saved) = s.save_workflow(key, workflow).await;
        assert!(status.is_success(), "{saved}");
        let leak = s.call(Method::POST, "/v1/workflows/leak/runs?wait=30", Some(key), Some(json!({})));
        let (_, run) = s.during(&bystander, leak).await;
        let text = run.to_string();
        assert!(!text.contains(value), "the secret is in the record: {text}");
        let node = &run["nodes"][0];
        assert!(node["logs"].to_string().contains("[redacted:API_TOKEN]"), "{node}");
        assert!(node["http_calls"][0]["url"].as_str().unwrap().contains("[redacted:API_TOKEN]"), "{node}");
        if fail {
            assert!(node["error"]["message"].as_str().unwrap().contains("[redacted:API_TOKEN]"), "{node}");
        } else {
            assert_eq!(run["run"]["output"]["value"], "[redacted:API_TOKEN]", "{run}");
            assert_eq!(run["run"]["output"]["nested"][0], "x[redacted:API_TOKEN]x");
            assert_eq!(run["run"]["output"]["[redacted:API_TOKEN]"], true);
        }
        let (_, events) = s.call(Method::GET, "/v1/runs?limit=10", Some(key), None).await;
        assert!(!events.to_string().contains(value));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn input_and_config_past_the_payload_limit_fail_the_node_not_the_store() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    // Each half fits; together the node would carry more than the limit.
    let half = "x".repeat(600 << 10);
    let workflow = json!({"id": "wide", "nodes": [{"id": "echo", "uses": "trellis/transform@^0.1", "kind": "render",
        "config": {"template": "{{ input.a }}"}}]});
    let (status, saved) = s.save_workflow(key, workflow).await;
    assert!(status.is_success(), "{saved}");
    let wide = s.call(Method::POST, "/v1/workflows/wide/runs?wait=30", Some(key), Some(json!({"input": {"a": half}})));
    let (_, run) = s.during(&bystander, wide).await;
    assert_eq!(run["run"]["status"], "failed", "{}", &run.to_string()[..300]);
    let node = &run["nodes"][0];
    assert_eq!(node["error"]["code"], "invalid_input", "{}", &node.to_string()[..300.min(node.to_string().len())]);
    assert!(node["error"]["message"].as_str().unwrap().contains("payload limit of 1048576 bytes"));

    // Built-ins too; one that passes its input on keeps it once.
    let big = "y".repeat(700 << 10);
    let pass = json!({"id": "pass", "nodes": [{"id": "gate", "builtin": "branch", "config": {"condition": "true"}}]});
    let (status, saved) = s.save_workflow(key, pass).await;
    assert!(status.is_success(), "{saved}");
    let (_, run) =
        s.call(Method::POST, "/v1/workflows/pass/runs?wait=30", Some(key), Some(json!({"input": {"a": big}}))).await;
    assert_eq!(run["run"]["status"], "succeeded", "{}", &run.to_string()[..300]);
    let gate = &run["nodes"][0];
    assert_eq!(gate["input"], Value::Null, "kept once, as the output");
    assert_eq!(gate["emits"][0]["data"]["a"].as_str().map(str::len), Some(700 << 10));
    let echo =
        json!({"id": "echo", "nodes": [{"id": "reply", "builtin": "respond", "config": {"body": "{{ input.a }}"}}]});
    s.save_workflow(key, echo).await;
    let (_, run) = s
        .call(
            Method::POST,
            "/v1/workflows/echo/runs?wait=30",
            Some(key),
            Some(json!({"input": {"a": "z".repeat(600 << 10)}})),
        )
        .await;
    assert_eq!(run["nodes"][0]["error"]["code"], "invalid_input", "{}", &run.to_string()[..300]);
}
