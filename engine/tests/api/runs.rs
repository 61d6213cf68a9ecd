//! Run listing, approvals, cancel, the catalog and live events.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn runs_list_approve_cancel_and_catalog() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();

    let (status, catalog) = s.call(Method::GET, "/v1/catalog", Some(key), None).await;
    assert_eq!(status, StatusCode::OK);
    let transform = catalog["plugins"].as_array().unwrap().iter().find(|p| p["plugin"] == "trellis/transform").unwrap();
    assert_eq!(transform["kinds"][0]["name"], "reshape");

    s.call(Method::POST, "/v1/workflows", Some(key), Some(serde_json::from_str(WORKFLOW).unwrap())).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (_, run) = s.call(Method::POST, "/v1/workflows/greet/runs?wait=10", Some(key), Some(json!({}))).await;
        ids.push(run["run"]["id"].as_str().unwrap().to_owned());
        // Answered from the driver's records: exactly what was committed.
        let (_, stored) =
            s.call(Method::GET, &format!("/v1/runs/{}", run["run"]["id"].as_str().unwrap()), Some(key), None).await;
        assert_eq!(run, stored);
    }
    let (_, page) = s.call(Method::GET, "/v1/runs?limit=2", Some(key), None).await;
    let first: Vec<&str> = page["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(first, [ids[2].as_str(), ids[1].as_str()], "newest first");
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page) = s.call(Method::GET, &format!("/v1/runs?limit=2&cursor={cursor}"), Some(key), None).await;
    assert_eq!(page["runs"][0]["id"], ids[0].as_str());
    assert_eq!(page["next_cursor"], Value::Null);
    let (_, failed) = s.call(Method::GET, "/v1/runs?status=failed", Some(key), None).await;
    assert_eq!(failed["runs"], json!([]));
    let (status, _) = s.call(Method::GET, "/v1/runs?status=bogus", Some(key), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Approve through the API.
    s.call(Method::POST, "/v1/workflows", Some(key), Some(serde_json::from_str(APPROVAL).unwrap())).await;
    let (status, started) = s.call(Method::POST, "/v1/workflows/gate/runs", Some(key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run_id = started["run"]["id"].as_str().unwrap().to_owned();

    // One workflow's runs, alone.
    let ids_of = |page: &Value| -> Vec<String> {
        page["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
    };
    let (_, gate) = s.call(Method::GET, "/v1/runs?workflow=gate", Some(key), None).await;
    assert_eq!(ids_of(&gate), std::slice::from_ref(&run_id));
    let (_, greet) = s.call(Method::GET, "/v1/runs?workflow=greet&status=succeeded", Some(key), None).await;
    assert_eq!(ids_of(&greet), [ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    let (status, refused) = s.call(Method::GET, "/v1/runs?workflow=not%20an%20id", Some(key), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    s.wait_run(key, &run_id, |r| r["nodes"].as_array().is_some_and(|n| n.iter().any(|n| n["status"] == "waiting")))
        .await;
    let viewer = s.key(&acme.tenant_id, Role::Viewer).await;
    let path = format!("/v1/runs/{run_id}/approvals/wait");
    let (status, _) = s.call(Method::POST, &path, Some(&viewer), Some(json!({"approved": true}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, decided) =
        s.call(Method::POST, &path, Some(key), Some(json!({"approved": true, "comment": "ok"}))).await;
    assert_eq!(status, StatusCode::OK, "{decided}");
    let done = s.wait_run(key, &run_id, |r| r["run"]["status"] == "succeeded").await;
    assert_eq!(done["run"]["output"], "approved");
    let (status, _) = s.call(Method::POST, &path, Some(key), Some(json!({"approved": true}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "a decided step takes no second decision");

    // Cancel through the API.
    let (_, started) = s.call(Method::POST, "/v1/workflows/gate/runs", Some(key), Some(json!({}))).await;
    let run_id = started["run"]["id"].as_str().unwrap().to_owned();
    s.wait_run(key, &run_id, |r| r["nodes"].as_array().is_some_and(|n| n.iter().any(|n| n["status"] == "waiting")))
        .await;
    let (status, _) = s.call(Method::POST, &format!("/v1/runs/{run_id}/cancel"), Some(key), None).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    s.wait_run(key, &run_id, |r| r["run"]["status"] == "cancelled").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_events_stream_a_snapshot_then_live_node_changes() {
    use http_body_util::BodyExt;
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let globex = s.tenant("owner@globex.test").await;
    let key = acme.api_key.as_str();
    s.call(Method::POST, "/v1/workflows", Some(key), Some(serde_json::from_str(APPROVAL).unwrap())).await;
    let (_, started) = s.call(Method::POST, "/v1/workflows/gate/runs", Some(key), Some(json!({}))).await;
    let run_id = started["run"]["id"].as_str().unwrap().to_owned();
    s.wait_run(key, &run_id, |r| r["nodes"].as_array().is_some_and(|n| n.iter().any(|n| n["status"] == "waiting")))
        .await;

    let (status, _) = s.call(Method::GET, &format!("/v1/runs/{run_id}/events"), Some(&globex.api_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's run has no stream");

    let request = Request::builder()
        .uri(format!("/v1/runs/{run_id}/events"))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let response = app(s.state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut seen = String::new();
    let mut next = async || {
        let frame =
            tokio::time::timeout(std::time::Duration::from_secs(10), body.frame()).await.unwrap().unwrap().unwrap();
        String::from_utf8(frame.into_data().unwrap_or_default().to_vec()).unwrap()
    };
    seen.push_str(&next().await);
    assert!(seen.contains("event: snapshot") && seen.contains("\"waiting\""), "{seen}");

    let (status, _) = s
        .call(Method::POST, &format!("/v1/runs/{run_id}/approvals/wait"), Some(key), Some(json!({"approved": true})))
        .await;
    assert_eq!(status, StatusCode::OK);
    // Everything up to the run's end, then the stream closes.
    let events = read_to_end(body).await;
    let (wait_done, ok_running, ok_done, run_done) = (
        position(&events, "node", "\"node_id\":\"wait\",\"status\":\"succeeded\""),
        position(&events, "node", "\"node_id\":\"ok\",\"status\":\"running\""),
        position(&events, "node", "\"node_id\":\"ok\",\"status\":\"succeeded\""),
        position(&events, "run", "\"status\":\"succeeded\""),
    );
    assert!(wait_done < ok_running && ok_running < ok_done && ok_done < run_done, "{events:#?}");
    assert_eq!(run_done, events.len() - 1, "the run's final event is the last: {events:#?}");

    // A finished run's stream is its snapshot, then the end.
    let request = Request::builder()
        .uri(format!("/v1/runs/{run_id}/events"))
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .unwrap();
    let events = read_to_end(app(s.state.clone()).oneshot(request).await.unwrap().into_body()).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(events[0].0 == "snapshot" && events[0].1.contains("\"succeeded\""), "{events:#?}");
    // Times in the snapshot are RFC 3339, as in every answer.
    let snapshot: Value = serde_json::from_str(&events[0].1).unwrap();
    assert!(snapshot["run"]["created_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{snapshot}");
}

/// The (event, data) pairs of an SSE body, read until it ends.
async fn read_to_end(mut body: Body) -> Vec<(String, String)> {
    use http_body_util::BodyExt;
    let mut text = String::new();
    loop {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame())
            .await
            .unwrap_or_else(|_| panic!("the stream did not end: {text}"));
        match frame {
            Some(frame) => text.push_str(std::str::from_utf8(&frame.unwrap().into_data().unwrap_or_default()).unwrap()),
            None => break,
        }
    }
    text.split("\n\n")
        .filter_map(|block| {
            let event = block.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = block.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((event.to_owned(), data.to_owned()))
        })
        .collect()
}

fn position(events: &[(String, String)], kind: &str, needle: &str) -> usize {
    events
        .iter()
        .position(|(event, data)| event == kind && data.contains(needle))
        .unwrap_or_else(|| panic!("no {kind} event with {needle}: {events:#?}"))
}

/// A failed run starts its `on_error` workflow once, with the failure as
/// input; a run so started never starts another, even failing itself.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_starts_its_error_workflow_once() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    // Plugins may not reach loopback here: the call is refused, and fails its node.
    let boom = json!({"id": "boom", "uses": "trellis/http-request@^0.1", "kind": "request",
        "config": {"url": "http://127.0.0.1:1/"}});
    let fragile = json!({"id": "fragile", "on_error": "alert", "nodes": [boom]});
    let (status, refused) = s.call(Method::POST, "/v1/workflows", Some(key), Some(fragile.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "the handler must exist first: {refused}");
    let problem = &refused["error"]["details"]["problems"][0];
    assert_eq!((&problem["path"], &problem["code"]), (&json!("$.on_error"), &json!("unknown_workflow")), "{refused}");

    let alert = json!({"id": "alert", "on_error": "alert", "nodes": [
        {"id": "note", "uses": "trellis/transform@^0.1", "kind": "render",
         "config": {"template": "{{ input.workflow_id }} failed at {{ input.failed_node.id }}"}},
        boom], "edges": [{"from": "note", "to": "boom"}]});
    assert_eq!(s.call(Method::POST, "/v1/workflows", Some(key), Some(alert)).await.0, StatusCode::CREATED);
    assert_eq!(s.call(Method::POST, "/v1/workflows", Some(key), Some(fragile)).await.0, StatusCode::CREATED);

    let (_, failed) = s.call(Method::POST, "/v1/workflows/fragile/runs?wait=30", Some(key), Some(json!({}))).await;
    assert_eq!(failed["run"]["status"], "failed", "{failed}");
    let failed_id = failed["run"]["id"].as_str().unwrap();
    let handler = loop {
        let (_, runs) = s.call(Method::GET, "/v1/runs?limit=10", Some(key), None).await;
        let found = runs["runs"].as_array().unwrap().iter().find(|r| r["workflow_id"] == "alert").cloned();
        if let Some(found) = found {
            break found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let handler_id = handler["id"].as_str().unwrap();
    let handled = s.wait_run(key, handler_id, |r| r["run"]["status"] == "failed").await;
    let input = &handled["run"]["input"];
    assert_eq!((&input["run_id"], &input["workflow_id"]), (&json!(failed_id), &json!("fragile")), "{input}");
    assert_eq!(input["failed_node"]["id"], "boom", "{input}");
    assert!(input["error"].as_str().is_some_and(|e| !e.is_empty()), "{input}");
    let note = handled["nodes"].as_array().unwrap().iter().find(|n| n["node_id"] == "note").unwrap();
    assert_eq!(note["emits"][0]["data"], "fragile failed at boom", "{note}");
    assert_eq!(handled["run"]["started_by"], "on_error");

    // The handler failed too, and started nothing: one run of each.
    let (_, runs) = s.call(Method::GET, "/v1/runs?limit=10", Some(key), None).await;
    let mut workflows: Vec<&str> =
        runs["runs"].as_array().unwrap().iter().filter_map(|r| r["workflow_id"].as_str()).collect();
    workflows.sort();
    assert_eq!(workflows, ["alert", "fragile"], "{runs}");
}
