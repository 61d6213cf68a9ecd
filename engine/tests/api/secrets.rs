//! Secrets: write-only, sealed at rest, readable by granted plugins only,
//! per tenant.

use crate::common::*;

const READ_SECRET: &str = r#"{"id": "reader", "nodes": [{"id": "read", "uses": "local/hostile", "kind": "read-secret",
  "config": {"name": "API_TOKEN"}}]}"#;

impl Server {
    async fn run_reader(&self, key: &str) -> Value {
        let (status, run) =
            self.call(Method::POST, "/v1/workflows/reader/runs?wait=30", Some(key), Some(json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{run}");
        run
    }
}

/// Every byte SQLite holds, WAL included.
fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("trellis.db")) {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_write_only_sealed_and_granted_per_plugin() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let globex = s.tenant("owner@globex.test").await;
    let (acme_key, globex_key) = (acme.api_key.as_str(), globex.api_key.as_str());
    let value = "sk_live_acme_7f3a9c1e";

    let (status, _) =
        s.call(Method::PUT, "/v1/secrets/API_TOKEN", Some(acme_key), Some(json!({ "value": value }))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    s.call(Method::PUT, "/v1/secrets/API_TOKEN", Some(globex_key), Some(json!({"value": "globex-value"}))).await;

    // Names are listed, values never.
    let (status, listed) = s.call(Method::GET, "/v1/secrets", Some(acme_key), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["secrets"][0]["name"], "API_TOKEN");
    assert!(!listed.to_string().contains(value), "{listed}");
    let (status, _) = s.call(Method::GET, "/v1/secrets/API_TOKEN", Some(acme_key), None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "there is no route that reads a value");

    // Sealed at rest: the plaintext is nowhere in the database files.
    assert!(!database_bytes(s.dir.path()).windows(value.len()).any(|w| w == value.as_bytes()));

    // Not granted: the node fails and says so.
    for key in [acme_key, globex_key] {
        let (status, _) =
            s.call(Method::POST, "/v1/workflows", Some(key), Some(serde_json::from_str(READ_SECRET).unwrap())).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let run = s.run_reader(acme_key).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    assert!(run["nodes"][0]["error"]["message"].as_str().unwrap().contains("not granted"), "{run}");

    // Granted in acme only: acme's node reads acme's value.
    let (status, grants) = s
        .call(Method::PUT, "/v1/plugins/local/hostile/grants", Some(acme_key), Some(json!({"secrets": ["API_TOKEN"]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{grants}");
    let run = s.run_reader(acme_key).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    // The node read it; the record shows it redacted.
    assert_eq!(run["run"]["output"]["value"], "[redacted:API_TOKEN]");
    assert_eq!(run["run"]["output"]["length"], value.len());
    assert!(!run.to_string().contains(value), "{run}");
    // Globex's grants are its own: still refused there.
    let (_, globex_grants) = s.call(Method::GET, "/v1/plugins/local/hostile/grants", Some(globex_key), None).await;
    assert_eq!(globex_grants["grants"]["secrets"], json!([]));
    assert_eq!(s.run_reader(globex_key).await["run"]["status"], "failed");
    s.call(Method::PUT, "/v1/plugins/local/hostile/grants", Some(globex_key), Some(json!({"secrets": ["API_TOKEN"]})))
        .await;
    assert_eq!(s.run_reader(globex_key).await["run"]["output"]["length"], "globex-value".len());

    // A grant of another plugin does not leak: transform has none.
    let (_, transform) = s.call(Method::GET, "/v1/plugins/trellis/transform/grants", Some(acme_key), None).await;
    assert_eq!(transform["grants"]["secrets"], json!([]));

    // Audited by name, without the value.
    let (_, audit) = s.call(Method::GET, "/v1/audit", Some(acme_key), None).await;
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"secret.write") && actions.contains(&"plugin.grant"), "{actions:?}");
    assert!(!audit.to_string().contains(value));

    // Delete: gone from the list; the node now reports it unset.
    let (status, _) = s.call(Method::DELETE, "/v1/secrets/API_TOKEN", Some(acme_key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(Method::DELETE, "/v1/secrets/API_TOKEN", Some(acme_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let run = s.run_reader(acme_key).await;
    assert!(run["nodes"][0]["error"]["message"].as_str().unwrap().contains("not set"), "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_writes_refuse_bad_names_large_values_and_low_roles() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let operator = s.key(&acme.tenant_id, Role::Operator).await;
    let editor = s.key(&acme.tenant_id, Role::Editor).await;

    let (status, _) = s.call(Method::PUT, "/v1/secrets/TOKEN", Some(&operator), Some(json!({"value": "x"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = s.call(Method::PUT, "/v1/secrets/1bad", Some(&editor), Some(json!({"value": "x"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_name")));
    let big = "x".repeat(65 * 1024);
    let (status, _) = s.call(Method::PUT, "/v1/secrets/BIG", Some(&editor), Some(json!({ "value": big }))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _) = s.call(Method::PUT, "/v1/secrets/T", Some(&editor), Some(json!({"value": 5}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) =
        s.call(Method::PUT, "/v1/plugins/local/hostile/grants", Some(&editor), Some(json!({"secrets": ["T"]}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "grants need admin");
    let (_, listed) = s.call(Method::GET, "/v1/secrets", Some(&editor), None).await;
    assert_eq!(listed["secrets"], json!([]), "nothing was stored");
}

/// The day-one path: store a secret, grant it to `trellis/http-request`,
/// name it in a node's `auth`; the API called gets it, the run's record
/// never holds it, and a name not granted fails the node before any
/// request goes out.
#[tokio::test(flavor = "multi_thread")]
async fn http_request_authenticates_with_a_granted_secret_by_name() {
    use trellis_engine::executor::EngineConfig;
    use trellis_host_api::capabilities::HttpPolicy;

    let config = EngineConfig {
        http: HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["*"]) },
        ..EngineConfig::default()
    };
    let s = server_with(config).await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let record = seen.clone();
    let api = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let record = record.clone();
        async move {
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            record.lock().unwrap().push(auth);
            axum::Json(json!({"login": "octocat"}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/user", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api).await });

    for name in ["GH_TOKEN", "OTHER"] {
        let (status, _) =
            s.call(Method::PUT, &format!("/v1/secrets/{name}"), Some(key), Some(json!({"value": "ghp_v4lue"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let (status, granted) = s
        .call(
            Method::PUT,
            "/v1/plugins/trellis/http-request/grants",
            Some(key),
            Some(json!({"secrets": ["GH_TOKEN"], "hosts": ["*"]})),
        )
        .await;
    assert!(status.is_success(), "{granted}");
    let workflow = |token: &str| {
        json!({"id": "who", "nodes": [{"id": "me", "uses": "trellis/http-request@^0.1", "kind": "request",
            "config": {"url": url, "auth": {"type": "bearer", "token": token}}}]})
    };
    let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow("GH_TOKEN"))).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let (status, run) = s.call(Method::POST, "/v1/workflows/who/runs?wait=30", Some(key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["run"]["output"]["body"], json!({"login": "octocat"}), "{run}");
    assert_eq!(*seen.lock().unwrap(), ["Bearer ghp_v4lue"]);
    assert!(!run.to_string().contains("ghp_v4lue"), "the record holds the value: {run}");

    let (status, _) = s.call(Method::PUT, "/v1/workflows/who", Some(key), Some(workflow("OTHER"))).await;
    assert_eq!(status, StatusCode::OK);
    let (_, run) = s.call(Method::POST, "/v1/workflows/who/runs?wait=30", Some(key), Some(json!({}))).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    let error = run["nodes"][0]["error"].to_string();
    assert!(error.contains("config.auth.token: secret `OTHER`"), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 1, "a request went out without its credentials");
}
