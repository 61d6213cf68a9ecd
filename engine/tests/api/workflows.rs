//! Workflows and runs through the API.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn workflows_and_runs_through_the_api() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let workflow: Value = serde_json::from_str(WORKFLOW).unwrap();

    let (status, created) = s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created, json!({"id": "greet", "version": 1}));
    let (status, _) = s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, updated) = s.call(Method::PUT, "/v1/workflows/greet", Some(key), Some(workflow)).await;
    assert_eq!((status, updated["version"].as_i64()), (StatusCode::OK, Some(2)));
    let (_, listed) = s.call(Method::GET, "/v1/workflows", Some(key), None).await;
    assert_eq!(listed["workflows"], json!([{"id": "greet", "version": 2}]));
    let (_, versions) = s.call(Method::GET, "/v1/workflows/greet/versions", Some(key), None).await;
    let numbers: Vec<i64> =
        versions["versions"].as_array().unwrap().iter().map(|v| v["version"].as_i64().unwrap()).collect();
    assert_eq!(numbers, [1, 2]);

    let (status, run) = s
        .call(Method::POST, "/v1/workflows/greet/runs?wait=10", Some(key), Some(json!({"input": {"name": "ada"}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["run"]["status"], "succeeded");
    assert_eq!(run["run"]["output"], "hello ada");
    assert_eq!(run["nodes"][0]["status"], "succeeded");
    let run_id = run["run"]["id"].as_str().unwrap();
    let (status, fetched) = s.call(Method::GET, &format!("/v1/runs/{run_id}"), Some(key), None).await;
    assert_eq!((status, fetched["run"]["workflow_version"].as_i64()), (StatusCode::OK, Some(2)));
    let (status, rerun) =
        s.call(Method::POST, &format!("/v1/runs/{run_id}/rerun?wait=10"), Some(key), Some(json!({"node": "hi"}))).await;
    assert_eq!(status, StatusCode::OK, "{rerun}");
    assert_eq!(
        (rerun["run"]["output"].as_str(), rerun["run"]["rerun_of"]["run_id"].as_str()),
        (Some("hello ada"), Some(run_id))
    );
    let (status, _) =
        s.call(Method::POST, &format!("/v1/runs/{run_id}/rerun"), Some(key), Some(json!({"node": "nope"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // An invalid document: 422 with every problem, and nothing stored.
    let broken = json!({"id": "broken", "nodes": [{"id": "a", "uses": "trellis/transform", "kind": "nope"}]});
    let (status, error) = s.call(Method::POST, "/v1/workflows", Some(key), Some(broken.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error["error"]["details"]["problems"][0]["code"], "unknown_kind");
    let (status, _) = s.call(Method::GET, "/v1/workflows/broken", Some(key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, checked) = s.call(Method::POST, "/v1/workflows/validate", Some(key), Some(broken)).await;
    assert_eq!((status, checked["valid"].as_bool()), (StatusCode::OK, Some(false)));

    // Deleting removes every version; the run keeps the document it ran.
    let (status, _) = s.call(Method::DELETE, "/v1/workflows/greet", Some(key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(Method::GET, "/v1/workflows/greet", Some(key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::DELETE, "/v1/workflows/greet", Some(key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, kept) = s.call(Method::GET, &format!("/v1/runs/{run_id}"), Some(key), None).await;
    assert_eq!(kept["run"]["document"]["id"], "greet");
}

async fn send_yaml(
    s: &Server,
    method: Method,
    path: &str,
    key: &str,
    content_type: &str,
    yaml: &str,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", content_type)
        .body(Body::from(yaml.to_owned()))
        .unwrap();
    s.send(request).await
}

#[tokio::test(flavor = "multi_thread")]
async fn documents_may_be_yaml_when_the_content_type_says_so() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let yaml = "id: greet\nnodes:\n  - id: hi\n    uses: trellis/transform@^0.1\n    kind: render\n    config:\n      template: 'hello {{ input.name }}'\n";

    let (status, validated) =
        send_yaml(&s, Method::POST, "/v1/workflows/validate", key, "application/yaml", yaml).await;
    assert_eq!((status, &validated["valid"]), (StatusCode::OK, &json!(true)), "{validated}");
    let (status, created) = send_yaml(&s, Method::POST, "/v1/workflows", key, "application/yaml", yaml).await;
    assert_eq!((status, created), (StatusCode::CREATED, json!({"id": "greet", "version": 1})));
    let changed = yaml.replace("hello", "hi");
    let (status, updated) =
        send_yaml(&s, Method::PUT, "/v1/workflows/greet", key, "text/yaml; charset=utf-8", &changed).await;
    assert_eq!((status, &updated["version"]), (StatusCode::OK, &json!(2)), "{updated}");
    let (_, stored) = s.call(Method::GET, "/v1/workflows/greet", Some(key), None).await;
    assert_eq!(stored["document"]["nodes"][0]["config"]["template"], "hi {{ input.name }}", "{stored}");

    // A YAML syntax error and a shape error are located; nothing is stored.
    let broken = "id: greet\nnodes:\n  - id: hi\n    kind: [render\n";
    let (status, refused) = send_yaml(&s, Method::PUT, "/v1/workflows/greet", key, "application/yaml", broken).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 4 column"), "{message}");
    let shape = "id: greet\nnodes:\n  - id: hi\n    builtin: delay\n    joinn: all\n";
    let (status, refused) = send_yaml(&s, Method::PUT, "/v1/workflows/greet", key, "application/x-yaml", shape).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("nodes[0]"), "{refused}");
    let (_, versions) = s.call(Method::GET, "/v1/workflows/greet/versions", Some(key), None).await;
    assert_eq!(versions["versions"].as_array().unwrap().len(), 2);

    // Without a YAML content type the body is JSON, as before.
    let (status, refused) = send_yaml(&s, Method::POST, "/v1/workflows/validate", key, "application/json", yaml).await;
    assert_eq!((status, &refused["error"]["code"]), (StatusCode::BAD_REQUEST, &json!("invalid_body")), "{refused}");
}

/// One node runs alone, on a given input or on what a run recorded; its
/// record comes back, no run is created, and its use is metered.
#[tokio::test(flavor = "multi_thread")]
async fn one_node_is_tested_alone_without_a_run() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let chain = json!({"id": "chain", "nodes": [
        {"id": "normalize", "uses": "trellis/transform@^0.1", "kind": "reshape",
         "config": {"template": {"who": "{{ input.name | title }}"}}},
        {"id": "greet", "uses": "trellis/transform@^0.1", "kind": "render",
         "config": {"template": "Hello {{ nodes.normalize.output.who }} ({{ input.name }})"}},
        {"id": "pause", "builtin": "delay", "config": {"ms": 10}},
        {"id": "big", "builtin": "branch", "config": {"condition": "input.n > 10"}}],
        "edges": [{"from": "normalize", "to": "greet"}, {"from": "greet", "to": "pause"}]});
    assert_eq!(s.call(Method::POST, "/v1/workflows", Some(key), Some(chain)).await.0, StatusCode::CREATED);
    let test = |node: &str, body: Value| {
        let s = &s;
        let path = format!("/v1/workflows/chain/nodes/{node}/test");
        async move { s.call(Method::POST, &path, Some(key), Some(body)).await }
    };

    let body = json!({"input": {"who": "x"}, "run_input": {"name": "ada"}, "outputs": {"normalize": {"who": "Ada"}}});
    let (status, tested) = test("greet", body).await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    let node = &tested["node"];
    assert_eq!(
        (&node["status"], &node["emits"][0]["data"]),
        (&json!("succeeded"), &json!("Hello Ada (ada)")),
        "{node}"
    );
    assert!(node["fuel_used"].as_u64().unwrap() > 0 && node["finished_at"].is_string(), "{node}");
    assert_eq!(node["config"]["template"], "Hello Ada (ada)");

    // A built-in that decides at once can be tested; one that waits cannot.
    let (status, tested) = test("big", json!({"input": {"n": 11}})).await;
    assert_eq!((status, &tested["node"]["emits"][0]["port"]), (StatusCode::OK, &json!("true")), "{tested}");
    let (status, refused) = test("pause", json!({"input": {}})).await;
    assert_eq!((status, &refused["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("not_testable")));
    let (status, _) = test("nope", json!({"input": {}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // On what an earlier run recorded.
    let (_, run) = s
        .call(
            Method::POST,
            "/v1/workflows/chain/runs?wait=30",
            Some(key),
            Some(json!({"input": {"name": "grace hopper"}})),
        )
        .await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    let run_id = run["run"]["id"].as_str().unwrap();
    let (status, tested) = test("greet", json!({"from_run": run_id})).await;
    assert_eq!(status, StatusCode::OK, "{tested}");
    assert_eq!(tested["node"]["emits"][0]["data"], "Hello Grace Hopper (grace hopper)");
    let (status, _) = test("greet", json!({"from_run": run_id, "input": 1})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "from_run and input are exclusive");

    // Tests are no runs: the history holds the one run; their use is metered.
    let (_, runs) = s.call(Method::GET, "/v1/runs", Some(key), None).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
    let (_, usage) = s.call(Method::GET, "/v1/usage", Some(key), None).await;
    let executions = usage["days"][0]["usage"]["node_executions"].as_u64().unwrap();
    assert_eq!(executions, 2 + 2, "the run's two plugin nodes and the two plugin tests: {usage}");
}
