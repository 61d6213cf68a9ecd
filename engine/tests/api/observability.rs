//! The OpenAPI document and docs page, Prometheus metrics, request ids.

use crate::common::*;

async fn text(s: &Server, path: &str, headers: &[(&str, &str)]) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::builder().uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app(s.state.clone()).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_and_docs_page_are_served() {
    let s = server().await;
    let (status, _, body) = text(&s, "/openapi.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let api: Value = serde_json::from_str(&body).unwrap();
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(api["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    let start = &api["paths"]["/v1/workflows/{id}/runs"]["post"];
    assert_eq!(start["x-required-role"], "operator");
    assert!(
        start["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str().unwrap().ends_with("StartRun")
    );
    assert!(api["components"]["schemas"]["StartRun"]["properties"]["input"].is_object(), "{}", api["components"]);
    // Times are documented as RFC 3339 strings.
    assert_eq!(api["components"]["schemas"]["Timestamp"]["format"], "date-time");
    assert!(api["info"]["description"].as_str().unwrap().contains("RFC 3339"));
    // Every operation documents the error envelope.
    for (path, item) in api["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let refused = &operation["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(refused, "#/components/schemas/ErrorBody", "{method} {path}");
        }
    }
    assert!(api["components"]["schemas"]["ErrorBody"]["properties"]["error"].is_object());
    assert!(api["components"]["schemas"]["ErrorFields"]["properties"]["code"].is_object(), "no dangling $ref");
    let (status, headers, page) = text(&s, "/docs", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.contains("<code>/v1/workflows/{id}/runs</code>") && page.contains("role: operator"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_runs_and_nodes_and_requests_carry_an_id() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.call(Method::POST, "/v1/workflows", Some(key), Some(serde_json::from_str(WORKFLOW).unwrap())).await;
    for _ in 0..2 {
        let (status, _) = s.call(Method::POST, "/v1/workflows/greet/runs?wait=30", Some(key), Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, metrics) = text(&s, "/metrics", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-type"].to_str().unwrap().contains("openmetrics"));
    assert!(metrics.contains("trellis_runs_total{status=\"succeeded\"} 2"), "{metrics}");
    assert!(metrics.contains("trellis_node_executions_total{status=\"succeeded\"} 2"), "{metrics}");
    assert!(metrics.contains("trellis_node_duration_seconds_count 2"), "{metrics}");

    let (_, headers, _) = text(&s, "/healthz", &[]).await;
    let generated = headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok(), "{generated}");
    let (_, headers, _) = text(&s, "/healthz", &[("x-request-id", "trace-me-42")]).await;
    assert_eq!(headers["x-request-id"], "trace-me-42");
}
