//! Roles, tenant isolation and bad input on every route.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn roles_are_enforced() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let workflow: Value = serde_json::from_str(WORKFLOW).unwrap();
    let (status, _) = s.call(Method::POST, "/v1/workflows", Some(&acme.api_key), Some(workflow.clone())).await;
    assert_eq!(status, StatusCode::CREATED);

    // (role, may create/change workflows, may start runs)
    for (role, edit, operate) in [
        (Role::Viewer, false, false),
        (Role::Operator, false, true),
        (Role::Editor, true, true),
        (Role::Admin, true, true),
        (Role::Owner, true, true),
    ] {
        let key = s.key(&acme.tenant_id, role).await;
        let (status, _) = s.call(Method::GET, "/v1/workflows/greet", Some(&key), None).await;
        assert_eq!(status, StatusCode::OK, "{role:?} reads");
        let (status, _) = s.call(Method::PUT, "/v1/workflows/greet", Some(&key), Some(workflow.clone())).await;
        assert_eq!(status == StatusCode::OK, edit, "{role:?} edits: {status}");
        assert!(status == StatusCode::OK || status == StatusCode::FORBIDDEN);
        let (status, _) = s.call(Method::POST, "/v1/workflows/greet/runs", Some(&key), Some(json!({}))).await;
        assert_eq!(status == StatusCode::ACCEPTED, operate, "{role:?} runs: {status}");
        assert!(status == StatusCode::ACCEPTED || status == StatusCode::FORBIDDEN);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn another_tenants_resources_are_not_found() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let globex = s.tenant("owner@globex.test").await;
    let workflow: Value = serde_json::from_str(WORKFLOW).unwrap();
    s.call(Method::POST, "/v1/workflows", Some(&acme.api_key), Some(workflow.clone())).await;
    let (_, run) = s.call(Method::POST, "/v1/workflows/greet/runs?wait=10", Some(&acme.api_key), Some(json!({}))).await;
    let run_id = run["run"]["id"].as_str().unwrap();

    for path in [
        "/v1/workflows/greet",
        "/v1/workflows/greet/versions",
        "/v1/workflows/greet/versions/1",
        &format!("/v1/runs/{run_id}"),
    ] {
        let (status, body) = s.call(Method::GET, path, Some(&globex.api_key), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (status, _) = s.call(Method::PUT, "/v1/workflows/greet", Some(&globex.api_key), Some(workflow)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::DELETE, "/v1/workflows/greet", Some(&globex.api_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::POST, &format!("/v1/runs/{run_id}/cancel"), Some(&globex.api_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::POST, "/v1/workflows/greet/runs", Some(&globex.api_key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = s.call(Method::GET, "/v1/workflows", Some(&globex.api_key), None).await;
    assert_eq!(listed["workflows"], json!([]));
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_the_error_envelope_and_stores_nothing() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = Some(acme.api_key.as_str());
    let raw = |body: Vec<u8>| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/workflows")
            .header("authorization", format!("Bearer {}", acme.api_key))
            .body(Body::from(body))
            .unwrap()
    };
    for (body, code) in [
        (b"{not json".to_vec(), "invalid_body"),
        (vec![0xff, 0xfe, 0x7b], "invalid_utf8"),
        (vec![b' '; (1 << 20) + 1], "body_too_large"),
        (
            br#"{"id": "x", "nodes": [{"id": "a", "builtin": "delay", "surprise": 1}]}"#.to_vec(),
            "invalid_workflow_document",
        ),
        (br#"{"id": 5, "nodes": []}"#.to_vec(), "invalid_workflow_document"),
    ] {
        let (status, body) = s.send(raw(body)).await;
        assert!(status.is_client_error(), "{code}: {status}");
        assert_eq!(body["error"]["code"], code, "{body}");
    }
    let (status, body) = s.call(Method::GET, "/v1/workflows/bad%20id!", key, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_id")));
    let (_, listed) = s.call(Method::GET, "/v1/workflows", key, None).await;
    assert_eq!(listed["workflows"], json!([]));
    let (status, body) = s.call(Method::GET, "/v1/nothing-here", key, None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}
