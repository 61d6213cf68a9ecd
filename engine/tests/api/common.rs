//! One in-process server per test: SQLite in a temp dir, the local
//! marketplace with the first-party plugins and the testing guests
//! published, a random master key; requests go through `app(state)` and
//! `oneshot`.

pub use axum::body::Body;
pub use axum::http::{Method, Request, StatusCode};
pub use serde_json::{Value, json};
pub use tower::ServiceExt;
pub use trellis_engine::api::{AppState, app};
use trellis_engine::auth::{API_KEY_PREFIX, NewTenant, TokenService, create_tenant, new_token, token_hash};
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::installs::{Blobs, Marketplace};
use trellis_engine::secrets::{MasterKey, Vault};
use trellis_engine::store::PluginGrants;
pub use trellis_engine::store::{ApiKey, Role, Store, TenantId, now_ms};
use trellis_host_api::{Runtime, RuntimeConfig};

pub struct Server {
    pub state: AppState,
    pub store: Store,
    pub dir: tempfile::TempDir,
}

/// A server with the first-party plugins and `local/hostile`, `local/capabilities`.
pub async fn server() -> Server {
    // Runs that wait on an approval, or on a timer 300 ms off, are set
    // aside, as in `trellis serve`.
    server_with(EngineConfig { set_aside: Some(std::time::Duration::from_millis(300)), ..EngineConfig::default() })
        .await
}

/// The same with an engine configured otherwise (its secrets are the server's vault).
pub async fn server_with(engine_config: EngineConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = trellis_engine::store::open_for_tests(dir.path()).await.unwrap();
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(std::env::temp_dir().join(format!("trellis-test-cache-{}", env!("CARGO_PKG_VERSION")))),
        max_concurrent_instances: 8,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let marketplace = Marketplace::open(dir.path(), &runtime, Blobs::Local, None).await.unwrap();
    publish_testing_guests(&marketplace.registry).await;
    let vault = Vault::new(MasterKey::random());
    let config = EngineConfig {
        secrets: std::sync::Arc::new(vault.clone()),
        llm: std::sync::Arc::new(engine_config.llm.with_vault(vault.clone())),
        ..engine_config
    };
    let engine = Engine::with_plugins(runtime, marketplace.installed.clone(), store.clone(), config);
    let tokens = TokenService::new(b"test secret that is long enough to sign");
    let state = AppState::new(engine, store.clone(), tokens, vault, marketplace).unwrap();
    Server { state, store, dir }
}

impl Server {
    /// A second server on the same store, data directory and keys, as
    /// another process of a cluster would be; both follow the store's
    /// notices.
    pub async fn and_another(&self) -> Server {
        let runtime = Runtime::new(RuntimeConfig { max_concurrent_instances: 8, ..RuntimeConfig::default() }).unwrap();
        let marketplace = Marketplace::open(self.dir.path(), &runtime, Blobs::Local, None).await.unwrap();
        let vault = self.state.vault.clone();
        let config = EngineConfig { secrets: std::sync::Arc::new(vault.clone()), ..EngineConfig::default() };
        let engine = Engine::with_plugins(runtime, marketplace.installed.clone(), self.store.clone(), config);
        let tokens = TokenService::new(b"test secret that is long enough to sign");
        let state = AppState::new(engine, self.store.clone(), tokens, vault, marketplace).unwrap();
        for server in [&self.state, &state] {
            let api = server.clone();
            server.engine.follow_notices(move |notice| api.on_notice(notice));
        }
        Server { state, store: self.store.clone(), dir: tempfile::tempdir().unwrap() }
    }
}

/// The key of the `local` publisher of the testing guests.
pub fn local_publisher() -> &'static trellis_marketplace::PublisherSecretKey {
    static KEY: std::sync::OnceLock<trellis_marketplace::PublisherSecretKey> = std::sync::OnceLock::new();
    KEY.get_or_init(trellis_marketplace::PublisherSecretKey::generate)
}

/// A manifest of a testing guest.
pub fn guest_manifest(name: &str, version: &str, capabilities: &str) -> String {
    format!(
        "name = \"{name}\"\nversion = \"{version}\"\ndescription = \"A testing guest\"\nlicense = \"Apache-2.0\"\n\
         category = \"utility\"\n\n[capabilities]\n{capabilities}\n"
    )
}

pub async fn publish(registry: &trellis_marketplace::Registry, component: &[u8], manifest: &str) -> Value {
    let key = local_publisher();
    let signature = key.sign(&trellis_marketplace::ComponentDigest::of(component), manifest.as_bytes());
    let upload =
        trellis_marketplace::publish::Upload { component, manifest: manifest.as_bytes(), signature: &signature };
    serde_json::to_value(registry.publish(&upload).await.unwrap()).unwrap()
}

/// `local/hostile` and `local/capabilities`, published by an approved
/// `local` publisher, asking for every host, kv and the secrets the tests
/// use.
async fn publish_testing_guests(registry: &trellis_marketplace::Registry) {
    registry.register_publisher("local", &local_publisher().public_key().to_text()).await.unwrap();
    registry.approve_publisher("local").await.unwrap();
    let capabilities = r#"hosts = ["*"]
secrets = ["API_TOKEN", "ACME_TOKEN", "T"]
kv = true"#;
    for (name, path) in [
        ("local/hostile", trellis_plugin_artifacts::HOSTILE),
        ("local/capabilities", trellis_plugin_artifacts::CAPABILITIES),
    ] {
        publish(registry, &std::fs::read(path).unwrap(), &guest_manifest(name, "0.1.0", capabilities)).await;
    }
}

impl Server {
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty);
        self.send(request.header("content-type", "application/json").body(body).unwrap()).await
    }

    /// Sends a request; a JSON answer is checked against the OpenAPI
    /// schema of its route and status (`answers.rs`).
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (method, path) = (request.method().to_string(), request.uri().path().to_owned());
        let response = app(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let json = response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_some_and(|t| t.to_str().unwrap_or_default().starts_with("application/json"));
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if json {
            crate::answers::check(&method, &path, status.as_u16(), &body);
        }
        (status, body)
    }

    /// A new tenant (with the first-party plugins, as every tenant), and
    /// the testing guests installed with every host and kv but no secrets.
    pub async fn tenant(&self, email: &str) -> NewTenant {
        let tenant = create_tenant(&self.store, "acme", email).await.unwrap();
        let store = self.store.tenant(TenantId::new(&tenant.tenant_id));
        let grants = PluginGrants { hosts: ["*".to_owned()].into(), kv: true, ..PluginGrants::default() };
        for name in ["local/hostile", "local/capabilities"] {
            trellis_engine::installs::service::install(&store, &self.state.marketplace.installed, name, "*", &grants)
                .await
                .unwrap();
        }
        tenant
    }

    /// An API key with `role` in the tenant.
    pub async fn key(&self, tenant: &str, role: Role) -> String {
        let token = new_token(API_KEY_PREFIX);
        let key = ApiKey {
            id: uuid::Uuid::now_v7().to_string(),
            name: format!("{role:?}"),
            role,
            expires_at: None,
            revoked_at: None,
            created_at: now_ms(),
            created_by: None,
        };
        self.store.tenant(TenantId::new(tenant)).insert_api_key(&key, &token_hash(&token)).await.unwrap();
        token
    }
}

pub const WORKFLOW: &str = r#"{"id": "greet", "nodes": [{"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render",
  "config": {"template": "hello {{ input.name }}"}}]}"#;

pub const APPROVAL: &str = r#"{"id": "gate", "nodes": [
  {"id": "wait", "builtin": "approval"},
  {"id": "ok", "uses": "trellis/transform", "kind": "render", "config": {"template": "approved"}}],
  "edges": [{"from": "wait", "port": "approved", "to": "ok"}]}"#;

/// The password `Server::session` chooses in place of a one-time one.
pub const CHOSEN_PASSWORD: &str = "a passphrase of my own";

impl Server {
    /// Signs in with a one-time password, chooses [`CHOSEN_PASSWORD`] (as
    /// a first sign-in must) and signs in again: the login answer of a
    /// session that may use the API.
    pub async fn session(&self, email: &str, one_time_password: &str) -> Value {
        let login = |password: &str| json!({"email": email, "password": password});
        let (status, first) = self.call(Method::POST, "/v1/auth/login", None, Some(login(one_time_password))).await;
        assert_eq!((status, &first["password_change_required"]), (StatusCode::OK, &json!(true)), "{first}");
        let change = json!({"current_password": one_time_password, "new_password": CHOSEN_PASSWORD});
        let token = first["access_token"].as_str().unwrap();
        let (status, changed) = self.call(Method::POST, "/v1/me/password", Some(token), Some(change)).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{changed}");
        let (status, session) = self.call(Method::POST, "/v1/auth/login", None, Some(login(CHOSEN_PASSWORD))).await;
        assert_eq!((status, &session["password_change_required"]), (StatusCode::OK, &json!(false)), "{session}");
        session
    }

    /// Polls a run until `check` holds on its JSON.
    pub async fn wait_run(&self, key: &str, run_id: &str, check: impl Fn(&Value) -> bool) -> Value {
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
