//! Replayed webhooks: the same MAC in another spelling is the same request.

use trellis_engine::triggers::webhook::sign;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_signature_is_refused_in_any_spelling_and_spent_only_when_admitted() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.call(Method::PUT, "/v1/secrets/HOOK_KEY", Some(key), Some(json!({"value": "whsec_acme"}))).await;
    let workflow = json!({"id": "hooked", "triggers": [{"webhook": {"secret": "HOOK_KEY"}}], "nodes": [
        {"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": "x"}}]});
    let (status, _) = s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, triggers) = s.call(Method::GET, "/v1/workflows/hooked/triggers", Some(key), None).await;
    let path = triggers["webhook"]["path"].as_str().unwrap().to_owned();

    let post = |body: &'static str, signature: String, timestamp: i64| {
        let request = Request::builder()
            .method(Method::POST)
            .uri(&path)
            .header("content-type", "application/json")
            .header("x-trellis-timestamp", timestamp.to_string())
            .header("x-trellis-signature", signature)
            .body(Body::from(body))
            .unwrap();
        s.send(request)
    };
    let now = now_ms() / 1000;

    // A body that is not JSON is refused after the signature checked out:
    // the signature is not spent, so the sender can send the same one again.
    let bad = "not json";
    let (status, _) = post(bad, sign(b"whsec_acme", now, bad.as_bytes()), now).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(bad, sign(b"whsec_acme", now, bad.as_bytes()), now).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a refused request spent its signature");

    let body = r#"{"order": 1}"#;
    let signature = sign(b"whsec_acme", now, body.as_bytes());
    let (status, started) = post(body, signature.clone(), now).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let replay = post(body, format!("sha256={}", signature["sha256=".len()..].to_ascii_uppercase()), now);
    let (status, _) = s.during(&bystander, replay).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a replay while the other tenant's run goes on");
    let hex = &signature["sha256=".len()..];
    let mut mixed: String =
        hex.chars().enumerate().map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect();
    mixed.insert_str(0, "sha256=");
    for replay in [signature.clone(), format!("sha256={}", hex.to_ascii_uppercase()), mixed, format!("  {signature}")] {
        let (status, error) = post(body, replay.clone(), now).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{replay}: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("already received"), "{error}");
    }
    let (_, runs) = s.call(Method::GET, "/v1/runs", Some(key), None).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");
}
