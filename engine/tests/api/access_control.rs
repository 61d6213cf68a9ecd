//! Roles, tenant isolation and bad input on every route. The routes come
//! from the OpenAPI document the server generates from its handlers, so a
//! new route is covered (or fails these tests for want of a sample body)
//! without anyone remembering to add it here.

use std::sync::atomic::{AtomicUsize, Ordering};

use trellis_engine::api::openapi;

use crate::common::*;

/// One operation of the OpenAPI document.
struct Route {
    method: Method,
    path: String,
    /// `none`, or the lowest role allowed.
    role: String,
    has_body: bool,
    /// The 2xx statuses the document gives for it.
    success: Vec<u16>,
}

fn routes() -> Vec<Route> {
    let api = serde_json::to_value(openapi()).unwrap();
    let mut routes = Vec::new();
    for (path, item) in api["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else { continue };
            let role = operation["x-required-role"].as_str().unwrap_or_else(|| panic!("{method} {path} has no role"));
            let success = operation["responses"]
                .as_object()
                .map(|responses| {
                    responses.keys().filter_map(|code| code.parse().ok()).filter(|c| (200..300).contains(c))
                })
                .into_iter()
                .flatten()
                .collect();
            routes.push(Route {
                method,
                path: path.clone(),
                role: role.to_owned(),
                has_body: operation.get("requestBody").is_some(),
                success,
            });
        }
    }
    assert!(routes.len() >= 30, "{} routes", routes.len());
    routes
}

fn role_named(name: &str) -> Option<Role> {
    Role::parse(name)
}

/// What acme owns, to aim requests at.
struct World {
    tenant: String,
    owner_key: String,
    run: String,
    waiting_run: String,
    key_id: String,
    member_id: String,
    hook_token: String,
    member_email: String,
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

impl World {
    /// Acme's world; several can live in one server (each its own tenant).
    async fn new(s: &Server) -> World {
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let acme = s.tenant(&format!("owner{n}@acme.test")).await;
        let key = acme.api_key.as_str();
        let mut greet: Value = serde_json::from_str(WORKFLOW).unwrap();
        greet["triggers"] = json!([{"webhook": {}}]);
        assert_eq!(s.call(Method::POST, "/v1/workflows", Some(key), Some(greet)).await.0, StatusCode::CREATED);
        let gate: Value = serde_json::from_str(APPROVAL).unwrap();
        assert_eq!(s.call(Method::POST, "/v1/workflows", Some(key), Some(gate)).await.0, StatusCode::CREATED);
        let (_, run) = s.call(Method::POST, "/v1/workflows/greet/runs?wait=30", Some(key), Some(json!({}))).await;
        let (_, waiting) = s.call(Method::POST, "/v1/workflows/gate/runs", Some(key), Some(json!({}))).await;
        let (_, created) =
            s.call(Method::POST, "/v1/api-keys", Some(key), Some(json!({"name": "ci", "role": "viewer"}))).await;
        let member_email = format!("member{n}@acme.test");
        let (_, member) = s
            .call(Method::POST, "/v1/members", Some(key), Some(json!({"email": member_email, "role": "viewer"})))
            .await;
        let (status, _) = s.call(Method::PUT, "/v1/secrets/ACME_TOKEN", Some(key), Some(json!({"value": "v"}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "the secret the leak checks look for is set");
        let provider = json!({"kind": "openai", "default_model": "acme-model", "api_key": "sk-acme-llm-key"});
        let (status, body) = s.call(Method::PUT, "/v1/llm/providers/acme-llm", Some(key), Some(provider)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (_, triggers) = s.call(Method::GET, "/v1/workflows/greet/triggers", Some(key), None).await;
        World {
            tenant: acme.tenant_id.clone(),
            owner_key: acme.api_key.clone(),
            run: run["run"]["id"].as_str().unwrap().to_owned(),
            waiting_run: waiting["run"]["id"].as_str().unwrap().to_owned(),
            key_id: created["api_key"]["id"].as_str().unwrap().to_owned(),
            member_id: member["member"]["id"].as_str().unwrap().to_owned(),
            hook_token: triggers["webhook"]["path"].as_str().unwrap().trim_start_matches("/hooks/").to_owned(),
            member_email,
        }
    }

    /// A new member of `role`, signed in with their one-time password: the
    /// access token and that password.
    async fn member_session(&self, s: &Server, role: Role) -> (String, String) {
        let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
        let email = format!("session{n}@acme.test");
        let body = json!({"email": email, "role": role.as_str()});
        let (status, added) = s.call(Method::POST, "/v1/members", Some(&self.owner_key), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        let password = added["password"].as_str().expect("a one-time password").to_owned();
        let body = json!({"email": email, "password": password});
        let (status, signed_in) = s.call(Method::POST, "/v1/auth/login", None, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{signed_in}");
        (signed_in["access_token"].as_str().unwrap().to_owned(), password)
    }

    /// What a route needs of the world before it can succeed: an install
    /// needs the plugin not installed yet.
    async fn prepare_for(&self, s: &Server, route: &Route) {
        if (route.method.as_str(), route.path.as_str()) == ("POST", "/v1/plugins") {
            let (status, body) = s.call(Method::DELETE, "/v1/plugins/local/hostile", Some(&self.owner_key), None).await;
            assert!(status.is_success(), "{status} {body}");
        }
    }

    /// The route's path with acme's ids in it.
    fn fill(&self, route: &Route) -> String {
        let waits = route.path.contains("approvals") || route.path.ends_with("/cancel");
        let run = if waits { &self.waiting_run } else { &self.run };
        let id = if route.path.starts_with("/v1/workflows/") {
            "greet"
        } else if route.path.starts_with("/v1/api-keys/") {
            &self.key_id
        } else if route.path.starts_with("/v1/members/") {
            &self.member_id
        } else {
            run
        };
        route
            .path
            .replace("{id}", id)
            .replace("{version}", "1")
            .replace("{name}", if route.path.starts_with("/v1/llm/") { "acme-llm" } else { "ACME_TOKEN" })
            .replace("{publisher}", "local")
            .replace("{plugin}", "hostile")
            .replace("{node}", if route.path.contains("/nodes/") { "hi" } else { "wait" })
            .replace("{token}", &self.hook_token)
    }

    /// Identifiers of acme that no other tenant's answer may contain.
    fn identifiers(&self) -> Vec<String> {
        vec![
            self.tenant.clone(),
            self.run.clone(),
            self.waiting_run.clone(),
            self.key_id.clone(),
            self.member_id.clone(),
            self.member_email.clone(),
            "ACME_TOKEN".into(),
            "acme-llm".into(),
            "acme-model".into(),
            "\"greet\"".into(),
        ]
    }
}

/// A valid body for each route that takes one.
fn sample_body(route: &Route) -> Option<Value> {
    if !route.has_body {
        return None;
    }
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    let mut workflow: Value = serde_json::from_str(WORKFLOW).unwrap();
    Some(match (route.method.as_str(), route.path.as_str()) {
        ("POST", "/v1/workflows") => {
            workflow["id"] = json!(format!("w{n}"));
            workflow
        }
        ("POST", "/v1/workflows/validate") | ("PUT", "/v1/workflows/{id}") => workflow,
        ("POST", "/v1/workflows/{id}/runs") | ("POST", "/hooks/{token}") => json!({}),
        ("POST", "/v1/runs/{id}/rerun") => json!({"node": "hi"}),
        ("POST", "/v1/runs/{id}/approvals/{node}") => json!({"approved": true}),
        ("POST", "/v1/api-keys") => json!({"name": format!("k{n}"), "role": "viewer"}),
        ("POST", "/v1/members") => json!({"email": format!("m{n}@acme.test"), "role": "viewer"}),
        ("PUT", "/v1/secrets/{name}") => json!({"value": "v"}),
        ("PUT", "/v1/llm/providers/{name}") => json!({"kind": "anthropic", "default_model": "claude"}),
        ("PATCH", "/v1/members/{id}") => json!({"role": "viewer"}),
        ("PUT", "/v1/plugins/{publisher}/{plugin}/grants") => json!({"secrets": ["ACME_TOKEN"]}),
        ("POST", "/v1/plugins") => json!({"name": "local/hostile", "version": "^0.1"}),
        ("POST", "/v1/plugins/{publisher}/{plugin}/upgrade") => json!({}),
        ("POST", "/v1/marketplace/plugins") => json!({"manifest": "", "component": "", "signature": ""}),
        ("POST", "/v1/marketplace/plugins/{publisher}/{plugin}/{version}/yank") => json!({"signature": "ed25519:x"}),
        ("POST", "/v1/marketplace/publishers") => {
            json!({"name": format!("p{n}"), "public_key": local_publisher().public_key().to_text()})
        }
        ("POST", "/v1/auth/login") => json!({"email": "owner@acme.test", "password": "wrong"}),
        ("POST", "/v1/auth/refresh") => json!({"refresh_token": "not-a-token"}),
        ("POST", "/v1/workflows/{id}/nodes/{node}/test") => json!({"input": {"name": "ada"}}),
        ("POST", "/v1/me/password") => json!({"current_password": "not it", "new_password": "a long new passphrase"}),
        (method, path) => panic!("no sample body for {method} {path}: add one here"),
    })
}

impl Server {
    /// Status only: the events route streams forever.
    async fn status(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> StatusCode {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty))
            .unwrap();
        app(self.state.clone()).oneshot(request).await.unwrap().status()
    }
}

const ROLES: [Role; 5] = [Role::Viewer, Role::Operator, Role::Editor, Role::Admin, Role::Owner];

/// Each role below a route's is refused (403); each role at or above it
/// gets the route's documented success status, on a world of its own so
/// that no earlier call (a delete, a cancel) took away what it acts on.
#[tokio::test(flavor = "multi_thread")]
async fn every_route_allows_exactly_the_roles_of_the_matrix() {
    let s = server().await;
    let shared = World::new(&s).await;
    let mut keys = Vec::new();
    for role in ROLES {
        keys.push((role, s.key(&shared.tenant, role).await));
    }
    let (mut allowed, mut refused) = (0, 0);
    for route in routes() {
        let Some(needed) = role_named(&route.role) else {
            // The marketplace's writes are authorised by publisher signatures.
            assert!(
                ["/healthz", "/v1/auth/login", "/v1/auth/refresh", "/hooks/{token}"].contains(&route.path.as_str())
                    || route.path.starts_with("/v1/marketplace/"),
                "{} {} is open to anyone",
                route.method,
                route.path
            );
            continue;
        };
        assert!(!route.success.is_empty(), "{} {} documents no success status", route.method, route.path);
        for (role, key) in &keys {
            if *role >= needed {
                let world = World::new(&s).await;
                world.prepare_for(&s, &route).await;
                let path = world.fill(&route);
                let status = if path == "/v1/me/password" {
                    // Only a signed-in member has a password to change.
                    let (token, password) = world.member_session(&s, *role).await;
                    let body = json!({"current_password": password, "new_password": "a long new passphrase"});
                    s.status(route.method.clone(), &path, &token, Some(body)).await
                } else {
                    let key = s.key(&world.tenant, *role).await;
                    s.status(route.method.clone(), &path, &key, sample_body(&route)).await
                };
                assert!(
                    route.success.contains(&status.as_u16()),
                    "allowed: {role:?} {} {path}: {status}, documented {:?}",
                    route.method,
                    route.success
                );
                allowed += 1;
            } else {
                let path = shared.fill(&route);
                let status = s.status(route.method.clone(), &path, key, sample_body(&route)).await;
                assert_eq!(status, StatusCode::FORBIDDEN, "refused: {role:?} {} {path}", route.method);
                refused += 1;
            }
        }
    }
    assert!(allowed >= 100 && refused >= 40, "{allowed} allowed, {refused} refused checks");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_matrix_is_the_one_of_design_section_6() {
    let expected = [
        ("GET", "/v1/workflows", "viewer"),
        ("GET", "/v1/runs/{id}", "viewer"),
        ("GET", "/v1/catalog", "viewer"),
        ("POST", "/v1/workflows/{id}/runs", "operator"),
        ("POST", "/v1/runs/{id}/cancel", "operator"),
        ("POST", "/v1/runs/{id}/rerun", "operator"),
        ("POST", "/v1/runs/{id}/approvals/{node}", "operator"),
        ("POST", "/v1/workflows", "editor"),
        ("PUT", "/v1/workflows/{id}", "editor"),
        ("DELETE", "/v1/workflows/{id}", "editor"),
        ("PUT", "/v1/secrets/{name}", "editor"),
        ("PUT", "/v1/plugins/{publisher}/{plugin}/grants", "admin"),
        ("GET", "/v1/plugins", "viewer"),
        ("POST", "/v1/plugins", "admin"),
        ("POST", "/v1/plugins/{publisher}/{plugin}/upgrade", "admin"),
        ("DELETE", "/v1/plugins/{publisher}/{plugin}", "admin"),
        ("POST", "/v1/members", "admin"),
        ("POST", "/v1/api-keys", "admin"),
        ("DELETE", "/v1/api-keys/{id}", "admin"),
        ("PATCH", "/v1/members/{id}", "admin"),
        ("DELETE", "/v1/members/{id}", "admin"),
        ("GET", "/v1/audit", "admin"),
    ];
    let routes = routes();
    for (method, path, role) in expected {
        let route = routes.iter().find(|r| r.method.as_str() == method && r.path == path).expect(path);
        assert_eq!(route.role, role, "{method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_tenant_owned_resource_of_another_tenant_is_not_found() {
    let s = server().await;
    let world = World::new(&s).await;
    let globex = s.tenant("owner@globex.test").await;
    let before = fingerprint(&s, &world.owner_key).await;
    let mut checked = 0;
    for route in routes() {
        let tenant_owned = route.path.contains('{')
            && route.role != "none"
            // Grants are addressed by plugin name and each tenant has its own.
            && !route.path.contains("{publisher}")
            // Writing a secret by name creates the caller's own.
            && !(route.method == Method::PUT && route.path.contains("{name}"));
        if tenant_owned {
            let path = world.fill(&route);
            let status = s.status(route.method.clone(), &path, &globex.api_key, sample_body(&route)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{} {path}", route.method);
            checked += 1;
        } else if route.method == Method::GET && route.role != "none" {
            // Lists (and globex's own grants): none of acme's identifiers.
            let path = world.fill(&route);
            let (status, body) = s.call(Method::GET, &path, Some(&globex.api_key), None).await;
            assert!(status.is_success(), "{path} {status}");
            let text = body.to_string();
            for id in world.identifiers() {
                assert!(!text.contains(&id), "{} shows {id}: {text}", route.path);
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} checks");
    // Globex's writes aimed at acme's resources changed nothing of acme's.
    assert_eq!(fingerprint(&s, &world.owner_key).await, before, "another tenant's request changed acme's state");
    // Acme's usage and audit stay acme's.
    let (_, usage) = s.call(Method::GET, "/v1/usage", Some(&globex.api_key), None).await;
    assert_eq!(usage["days"], json!([]));
    let (_, audit) = s.call(Method::GET, "/v1/audit", Some(&world.owner_key), None).await;
    assert!(audit["entries"].as_array().unwrap().len() >= 5);
}

/// What acme has stored, to show a refused request changed nothing.
async fn fingerprint(s: &Server, key: &str) -> Vec<Value> {
    let mut parts = Vec::new();
    let paths = [
        "/v1/workflows",
        "/v1/runs?limit=100",
        "/v1/api-keys",
        "/v1/members",
        "/v1/secrets",
        "/v1/usage",
        "/v1/plugins",
        "/v1/llm/providers",
    ];
    for path in paths {
        let (_, body) = s.call(Method::GET, path, Some(key), None).await;
        parts.push(body);
    }
    let (_, grants) = s.call(Method::GET, "/v1/plugins/local/hostile/grants", Some(key), None).await;
    parts.push(grants);
    let (_, versions) = s.call(Method::GET, "/v1/workflows/greet/versions", Some(key), None).await;
    parts.push(versions);
    parts
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_on_every_write_route_gets_the_envelope_and_stores_nothing() {
    let s = server().await;
    let world = World::new(&s).await;
    let before = fingerprint(&s, &world.owner_key).await;
    let mut checked = 0;
    for route in routes() {
        if route.method == Method::GET {
            continue;
        }
        let path = world.fill(&route);
        let mut attempts: Vec<(String, String, Vec<u8>)> = Vec::new();
        if route.has_body {
            let sample = sample_body(&route).unwrap();
            attempts.push(("malformed JSON".into(), path.clone(), b"{\"a\": ".to_vec()));
            attempts.push(("bad UTF-8".into(), path.clone(), vec![b'{', 0xff, 0xfe, b'}']));
            attempts.push(("oversized".into(), path.clone(), vec![b' '; (1 << 20) + 1]));
            // A hook's input is free-form JSON: any field and type is valid.
            if route.path != "/hooks/{token}" {
                attempts.push(("wrong type".into(), path.clone(), b"[1, 2]".to_vec()));
                let mut unknown = sample.clone();
                unknown["surprise"] = json!(1);
                attempts.push(("unknown field".into(), path.clone(), unknown.to_string().into_bytes()));
            }
        }
        // Ids of the wrong shape, in every path parameter.
        if route.path.contains('{') {
            let bad = route
                .path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "bad%20id%21%00" } else { seg })
                .collect::<Vec<_>>()
                .join("/");
            let body = sample_body(&route).map(|b| b.to_string().into_bytes()).unwrap_or_default();
            attempts.push(("id of the wrong shape".into(), bad, body));
            let long = route
                .path
                .split('/')
                .map(|seg| if seg.starts_with('{') { "x".repeat(300) } else { seg.to_owned() })
                .collect::<Vec<_>>()
                .join("/");
            let body = sample_body(&route).map(|b| b.to_string().into_bytes()).unwrap_or_default();
            attempts.push(("overlong id".into(), long, body));
        }
        for (what, path, body) in attempts {
            let request = Request::builder()
                .method(route.method.clone())
                .uri(&path)
                .header("authorization", format!("Bearer {}", world.owner_key))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let (status, answer) = s.send(request).await;
            let context = format!("{what}: {} {path}: {status} {answer}", route.method);
            assert!(status.is_client_error(), "{context}");
            assert!(answer["error"]["code"].is_string() && answer["error"]["message"].is_string(), "{context}");
            assert!(answer["error"].get("details").is_some(), "{context}");
            checked += 1;
        }
    }
    assert!(checked >= 60, "{checked} checks");
    assert_eq!(fingerprint(&s, &world.owner_key).await, before, "a refused request stored something");
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_of_the_wrong_shape_get_the_envelope() {
    let s = server().await;
    let world = World::new(&s).await;
    for path in [
        "/v1/workflows/greet/runs?wait=soon",
        "/v1/runs?limit=many",
        "/v1/audit?limit=-1",
        "/v1/workflows/greet/versions/one",
    ] {
        let method = if path.contains("/runs?wait") { Method::POST } else { Method::GET };
        let (status, body) = s.call(method, path, Some(&world.owner_key), Some(json!({}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["error"]["code"].is_string(), "{path}: {body}");
    }
    let (status, body) = s.call(Method::GET, "/v1/nothing-here", Some(&world.owner_key), None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}
