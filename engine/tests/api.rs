//! The HTTP API through `app(state)` and `oneshot`: auth, roles, tenant
//! isolation, workflows and runs, bad input.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use trellis_engine::api::{AppState, app};
use trellis_engine::auth::{API_KEY_PREFIX, NewTenant, TokenService, create_tenant, new_token, token_hash};
use trellis_engine::catalog::Catalog;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::store::{ApiKey, Role, Store, TenantId, now_ms};
use trellis_host_api::{Runtime, RuntimeConfig};

struct Server {
    state: AppState,
    store: Store,
    _dir: tempfile::TempDir,
}

async fn server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path()).await.unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join(format!("trellis-test-cache-{}", env!("CARGO_PKG_VERSION")))),
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let catalog = Catalog::local(&runtime, None).await.unwrap();
    let engine = Engine::new(runtime, catalog, store.clone(), EngineConfig::default());
    let tokens = TokenService::new(b"test secret that is long enough to sign");
    let state = AppState::new(engine, store.clone(), tokens).unwrap();
    Server { state, store, _dir: dir }
}

impl Server {
    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        self.send(request.header("content-type", "application/json").body(body).unwrap()).await
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn tenant(&self, email: &str) -> NewTenant {
        create_tenant(&self.store, "acme", email).await.unwrap()
    }

    /// An API key with `role` in the tenant.
    async fn key(&self, tenant: &str, role: Role) -> String {
        let token = new_token(API_KEY_PREFIX);
        let key = ApiKey {
            id: uuid::Uuid::now_v7().to_string(),
            name: format!("{role:?}"),
            role,
            expires_at: None,
            revoked_at: None,
            created_at: now_ms(),
        };
        self.store.tenant(TenantId::new(tenant)).insert_api_key(&key, &token_hash(&token)).await.unwrap();
        token
    }
}

const WORKFLOW: &str = r#"{"id": "greet", "nodes": [{"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render",
  "config": {"template": "hello {{ input.name }}"}}]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn login_refresh_rotation_and_reuse_detection() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;

    let (status, tokens) = s
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "owner@acme.test", "password": acme.owner_password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let (status, me) = s.call(Method::GET, "/v1/me", Some(access), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((me["tenant_id"].as_str(), me["role"].as_str()), (Some(acme.tenant_id.as_str()), Some("owner")));

    // Wrong password and unknown email answer alike.
    let (wrong, wrong_body) = s
        .call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "owner@acme.test", "password": "nope"})))
        .await;
    let (unknown, unknown_body) =
        s.call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "who@acme.test", "password": "nope"}))).await;
    assert_eq!((wrong, unknown), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(wrong_body, unknown_body);

    // Refresh rotates; presenting the old token again revokes the family.
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = s.call(Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!(status, StatusCode::OK);
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let (status, _) = s.call(Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s.call(Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": second}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the whole family is revoked after a reuse");

    // Garbage credentials.
    for token in ["trk_not-a-key", "not.a.jwt", ""] {
        let (status, body) = s.call(Method::GET, "/v1/me", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_attempts_are_rate_limited() {
    let s = server().await;
    s.tenant("owner@acme.test").await;
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        (last, _) = s
            .call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "owner@acme.test", "password": "x"})))
            .await;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

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

const APPROVAL: &str = r#"{"id": "gate", "nodes": [
  {"id": "wait", "builtin": "approval"},
  {"id": "ok", "uses": "trellis/transform", "kind": "render", "config": {"template": "approved"}}],
  "edges": [{"from": "wait", "port": "approved", "to": "ok"}]}"#;

impl Server {
    /// Polls a run until `check` holds on its JSON.
    async fn wait_run(&self, key: &str, run_id: &str, check: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..200 {
            let (_, run) = self.call(Method::GET, &format!("/v1/runs/{run_id}"), Some(key), None).await;
            if check(&run) {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("run {run_id} never reached the expected state");
    }
}

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
async fn api_keys_members_and_the_audit_log() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let globex = s.tenant("owner@globex.test").await;
    let owner = acme.api_key.as_str();
    let admin = s.key(&acme.tenant_id, Role::Admin).await;

    // Keys: created with the secret shown once, listed without it, revocable.
    let (status, created) =
        s.call(Method::POST, "/v1/api-keys", Some(&admin), Some(json!({"name": "ci", "role": "editor"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let key_id = created["api_key"]["id"].as_str().unwrap().to_owned();
    let (_, me) = s.call(Method::GET, "/v1/me", Some(&secret), None).await;
    assert_eq!(me["role"], "editor");
    let (_, listed) = s.call(Method::GET, "/v1/api-keys", Some(&admin), None).await;
    assert!(!listed.to_string().contains(&secret), "secrets are never listed");
    assert!(listed["api_keys"].as_array().unwrap().iter().any(|k| k["id"] == key_id.as_str()));
    let (status, _) =
        s.call(Method::POST, "/v1/api-keys", Some(&admin), Some(json!({"name": "up", "role": "owner"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an admin cannot mint an owner key");
    let (status, _) = s.call(Method::GET, "/v1/api-keys", Some(&secret), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "editors do not manage keys");
    let (status, _) = s.call(Method::DELETE, &format!("/v1/api-keys/{key_id}"), Some(&globex.api_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's key");
    let (status, _) = s.call(Method::DELETE, &format!("/v1/api-keys/{key_id}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(Method::GET, "/v1/me", Some(&secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked key stops working");

    // Members: one-time password, sign-in works, emails are unique.
    let (status, added) = s
        .call(Method::POST, "/v1/members", Some(owner), Some(json!({"email": "Ops@Acme.test", "role": "operator"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let password = added["password"].as_str().unwrap();
    let (status, _) = s
        .call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "ops@acme.test", "password": password})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .call(Method::POST, "/v1/members", Some(owner), Some(json!({"email": "ops@acme.test", "role": "viewer"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, members) = s.call(Method::GET, "/v1/members", Some(owner), None).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 2);

    // The audit log saw all of it, and only this tenant sees it.
    s.call(Method::POST, "/v1/workflows", Some(owner), Some(serde_json::from_str(WORKFLOW).unwrap())).await;
    s.call(Method::POST, "/v1/workflows/greet/runs?wait=10", Some(owner), Some(json!({}))).await;
    let (status, audit) = s.call(Method::GET, "/v1/audit", Some(owner), None).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["api_key.create", "api_key.revoke", "member.add", "auth.login", "workflow.create", "run.start"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    let (_, other) = s.call(Method::GET, "/v1/audit", Some(&globex.api_key), None).await;
    assert_eq!(other["entries"], json!([]));
    let viewer = s.key(&acme.tenant_id, Role::Viewer).await;
    let (status, _) = s.call(Method::GET, "/v1/audit", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
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
    while !(seen.contains("\"node_id\":\"ok\"") && seen.contains("\"status\":\"succeeded\"")) {
        seen.push_str(&next().await);
    }
    assert!(seen.contains("event: node"), "{seen}");
}
