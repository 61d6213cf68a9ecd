//! Installing marketplace plugins into tenants:
//! ranges pinned until an explicit upgrade, grants within what a version
//! requests and enforced at run time, yanked versions never newly chosen
//! while installs that have them keep running, uninstall refused while a
//! workflow uses the plugin, and `uses` resolved against installs only.

use crate::common::*;

const ECHOER: &str = r#"{"id": "echoer", "nodes": [{"id": "e", "uses": "acme/echo@^1", "kind": "echo",
  "config": {"label": "hi"}}]}"#;

/// Publishes `acme/echo` at a version through the served registry API.
async fn publish_echo(s: &Server, key: &trellis_marketplace::PublisherSecretKey, version: &str) {
    let manifest = guest_manifest("acme/echo", version, "hosts = [\"api.example.com\", \"*.example.org\"]\nkv = true");
    let component = std::fs::read(trellis_plugin_artifacts::ECHO).unwrap();
    let signature = key.sign(&trellis_marketplace::ComponentDigest::of(&component), manifest.as_bytes());
    use base64::Engine as _;
    let body = json!({
        "manifest": manifest,
        "component": base64::engine::general_purpose::STANDARD.encode(&component),
        "signature": signature,
    });
    let body = body.to_string();
    let now = now_ms() / 1000;
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/v1/marketplace/plugins")
        .header("content-type", "application/json")
        .header("content-length", body.len());
    for (name, value) in trellis_marketplace::upload_auth::headers(key, "acme", body.len() as u64, now) {
        request = request.header(name, value);
    }
    let (status, published) = s.send(request.body(Body::from(body)).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{published}");
}

async fn yank(s: &Server, key: &trellis_marketplace::PublisherSecretKey, version: &str) {
    let signature = key.sign_yank("acme/echo", &version.parse().unwrap());
    let path = format!("/v1/marketplace/plugins/acme/echo/{version}/yank");
    let (status, yanked) = s.call(Method::POST, &path, None, Some(json!({ "signature": signature }))).await;
    assert_eq!(status, StatusCode::OK, "{yanked}");
}

fn catalog_plugins(catalog: &Value) -> Vec<String> {
    catalog["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| format!("{}@{}", p["plugin"].as_str().unwrap(), p["version"].as_str().unwrap()))
        .collect()
}

async fn install(s: &Server, key: &str, body: Value) -> (StatusCode, Value) {
    s.call(Method::POST, "/v1/plugins", Some(key), Some(body)).await
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_are_installed_with_grants_pinned_upgraded_explicitly_and_uninstalled_when_unused() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let globex = s.tenant("owner@globex.test").await;
    let (acme_key, globex_key) = (acme.api_key.as_str(), globex.api_key.as_str());

    // A new tenant's catalog: the first-party plugins (published at start,
    // installed at creation), the fixture's guests, and the built-ins.
    let (status, catalog) = s.call(Method::GET, "/v1/catalog", Some(acme_key), None).await;
    assert_eq!(status, StatusCode::OK);
    let plugins = catalog_plugins(&catalog);
    for expected in ["trellis/http-request@0.1.2", "trellis/transform@0.1.0", "local/hostile@0.1.0"] {
        assert!(plugins.contains(&expected.to_owned()), "{plugins:?}");
    }
    // Built-ins are described like plugin kinds: schemas and ports.
    let builtins = catalog["builtins"].as_array().unwrap();
    let names: Vec<&str> = builtins.iter().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, ["branch", "switch", "map", "delay", "approval", "subworkflow", "respond", "agent"]);
    let approval = builtins.iter().find(|b| b["name"] == "approval").unwrap();
    assert_eq!(approval["ports"], json!(["approved", "rejected"]));
    assert_eq!(approval["output_schema"]["required"], json!(["decision", "input"]));
    let delay = builtins.iter().find(|b| b["name"] == "delay").unwrap();
    assert_eq!(delay["config_schema"]["required"], json!(["ms"]), "{delay}");
    let (_, listed) = s.call(Method::GET, "/v1/marketplace/plugins?publisher=trellis", None, None).await;
    assert_eq!(listed["plugins"].as_array().unwrap().len(), trellis_engine::first_party::all().len(), "{listed}");

    // A partner publishes, once the operator approved it.
    let partner = trellis_marketplace::PublisherSecretKey::generate();
    let registration = json!({"name": "acme", "public_key": partner.public_key().to_text()});
    let (status, _) = s.call(Method::POST, "/v1/marketplace/publishers", None, Some(registration)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    s.state.marketplace.registry.approve_publisher("acme").await.unwrap();
    for version in ["1.0.0", "1.1.0"] {
        publish_echo(&s, &partner, version).await;
    }

    // Not installed: a workflow that uses it is refused.
    let (status, refused) =
        s.call(Method::POST, "/v1/workflows", Some(acme_key), Some(serde_json::from_str(ECHOER).unwrap())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused.to_string().contains("acme/echo"), "{refused}");

    // Installing takes admin, and a grant within the request.
    let editor = s.key(&acme.tenant_id, Role::Editor).await;
    let (status, _) = install(&s, &editor, json!({"name": "acme/echo", "version": "^1"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, too_wide) =
        install(&s, acme_key, json!({"name": "acme/echo", "version": "^1", "grants": {"hosts": ["*"]}})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{too_wide}");
    assert_eq!(too_wide["error"]["details"]["path"], "grants.hosts");
    let (status, too_wide) =
        install(&s, acme_key, json!({"name": "acme/echo", "grants": {"secrets": ["API_TOKEN"]}})).await;
    assert_eq!(
        (status, too_wide["error"]["details"]["path"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("grants.secrets"))
    );
    let (status, unknown) = install(&s, acme_key, json!({"name": "acme/nothing"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}");
    let grants = json!({"hosts": ["api.example.com"], "kv": true});
    let (status, installed) =
        install(&s, acme_key, json!({"name": "acme/echo", "version": "^1", "grants": grants})).await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    assert_eq!(installed["install"]["version"], "1.1.0", "the newest in the range");
    let (status, again) = install(&s, acme_key, json!({"name": "acme/echo"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");

    // Now the workflow saves and runs, in acme only.
    let (status, saved) =
        s.call(Method::POST, "/v1/workflows", Some(acme_key), Some(serde_json::from_str(ECHOER).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let (status, run) = s
        .call(Method::POST, "/v1/workflows/echoer/runs?wait=30", Some(acme_key), Some(json!({"input": {"n": 1}})))
        .await;
    assert_eq!(status, StatusCode::OK, "{run}");
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    let (status, _) =
        s.call(Method::POST, "/v1/workflows", Some(globex_key), Some(serde_json::from_str(ECHOER).unwrap())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "globex did not install it");

    // 1.1.0 is yanked: acme keeps running it; new installs get 1.0.0, and
    // asking for 1.1.0 exactly says why not.
    yank(&s, &partner, "1.1.0").await;
    let (_, run) = s.call(Method::POST, "/v1/workflows/echoer/runs?wait=30", Some(acme_key), Some(json!({}))).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    let (status, exact) = install(&s, globex_key, json!({"name": "acme/echo", "version": "=1.1.0"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{exact}");
    assert!(exact["error"]["message"].as_str().unwrap().contains("1.1.0 (yanked)"), "{exact}");
    let (status, installed) = install(&s, globex_key, json!({"name": "acme/echo", "version": "^1"})).await;
    assert_eq!((status, installed["install"]["version"].as_str()), (StatusCode::CREATED, Some("1.0.0")));

    // A new version is not picked up until the tenant upgrades.
    publish_echo(&s, &partner, "1.2.0").await;
    publish_echo(&s, &partner, "2.0.0").await;
    let (_, current) = s.call(Method::GET, "/v1/plugins/acme/echo", Some(acme_key), None).await;
    assert_eq!(current["install"]["version"], "1.1.0");
    let (status, _) = s.call(Method::POST, "/v1/plugins/acme/echo/upgrade", Some(&editor), Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, upgraded) =
        s.call(Method::POST, "/v1/plugins/acme/echo/upgrade", Some(acme_key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    assert_eq!((upgraded["from"].as_str(), upgraded["install"]["version"].as_str()), (Some("1.1.0"), Some("1.2.0")));
    assert_eq!(upgraded["install"]["requirement"], "^1", "upgrades stay in the range");
    let (_, catalog) = s.call(Method::GET, "/v1/catalog", Some(acme_key), None).await;
    assert!(catalog_plugins(&catalog).contains(&"acme/echo@1.2.0".to_owned()), "{catalog}");
    let (status, _) =
        s.call(Method::POST, "/v1/plugins/acme/echo/upgrade", Some(acme_key), Some(json!({"version": "^2"}))).await;
    assert_eq!(status, StatusCode::OK);
    // The workflow asks for ^1: a 2.x install no longer satisfies it, and
    // its node says so.
    let (_, run) = s.call(Method::POST, "/v1/workflows/echoer/runs?wait=30", Some(acme_key), Some(json!({}))).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    let message = run["nodes"][0]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no installed version of `acme/echo` matches `^1` (installed: 2.0.0)"), "{run}");

    // Grants stay within the installed version's request.
    let (status, refused) = s
        .call(Method::PUT, "/v1/plugins/acme/echo/grants", Some(acme_key), Some(json!({"hosts": ["evil.test"]})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, _) = s
        .call(Method::PUT, "/v1/plugins/acme/echo/grants", Some(acme_key), Some(json!({"hosts": ["eu.example.org"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.call(Method::PUT, "/v1/plugins/acme/nothing/grants", Some(acme_key), Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "grants are for installed plugins");

    // Uninstall is refused while a workflow uses the plugin, naming it.
    let (status, in_use) = s.call(Method::DELETE, "/v1/plugins/acme/echo", Some(acme_key), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{in_use}");
    assert_eq!(in_use["error"]["details"]["workflows"], json!(["echoer"]));
    s.call(Method::DELETE, "/v1/workflows/echoer", Some(acme_key), None).await;
    let (status, _) = s.call(Method::DELETE, "/v1/plugins/acme/echo", Some(acme_key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, catalog) = s.call(Method::GET, "/v1/catalog", Some(acme_key), None).await;
    assert!(!catalog_plugins(&catalog).iter().any(|p| p.starts_with("acme/echo")), "{catalog}");
    let (status, _) = s.call(Method::GET, "/v1/plugins/acme/echo", Some(acme_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::GET, "/v1/plugins/acme/echo", Some(globex_key), None).await;
    assert_eq!(status, StatusCode::OK, "globex's install is its own");
}

const FETCH: &str = r#"{"id": "fetcher", "nodes": [{"id": "get", "uses": "local/hostile", "kind": "fetch",
  "config": {"url": "http://127.0.0.1:9/"}}]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_reaches_only_the_hosts_and_kv_its_tenant_granted() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let (status, _) =
        s.call(Method::POST, "/v1/workflows", Some(key), Some(serde_json::from_str(FETCH).unwrap())).await;
    assert_eq!(status, StatusCode::CREATED);
    let error = |run: &Value| run["nodes"][0]["error"]["message"].as_str().unwrap_or_default().to_owned();

    // Granted every host: the request gets past the grant and is stopped
    // by the operator's rule on private addresses.
    let (_, run) = s.call(Method::POST, "/v1/workflows/fetcher/runs?wait=30", Some(key), Some(json!({}))).await;
    assert!(error(&run).contains("loopback"), "{run}");

    // Granted one other host: refused by the grant itself.
    let (status, _) = s
        .call(Method::PUT, "/v1/plugins/local/hostile/grants", Some(key), Some(json!({"hosts": ["api.example.com"]})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, run) = s.call(Method::POST, "/v1/workflows/fetcher/runs?wait=30", Some(key), Some(json!({}))).await;
    assert!(error(&run).contains("not on this plugin's allowed hosts"), "{run}");
}

const COUNTER: &str = r#"{"id": "counter", "nodes": [{"id": "count", "uses": "local/capabilities", "kind": "kv-counter",
  "config": {"key": "visits"}}]}"#;

/// Plugin kv: kept between runs under the grant, separate per tenant for
/// the same plugin and key, and refused once the grant is withdrawn.
#[tokio::test(flavor = "multi_thread")]
async fn plugin_kv_persists_per_tenant_and_only_while_granted() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let globex = s.tenant("owner@globex.test").await;
    for key in [&acme.api_key, &globex.api_key] {
        let (status, body) =
            s.call(Method::POST, "/v1/workflows", Some(key), Some(serde_json::from_str(COUNTER).unwrap())).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let count = |key: &str| {
        let key = key.to_owned();
        let s = &s;
        async move {
            let (_, run) =
                s.call(Method::POST, "/v1/workflows/counter/runs?wait=30", Some(&key), Some(json!({}))).await;
            run
        }
    };
    for expected in 1..=3 {
        let run = count(&acme.api_key).await;
        assert_eq!(run["run"]["output"]["count"], expected, "{run}");
    }
    // The other tenant's counter under the same plugin and key is its own.
    let run = count(&globex.api_key).await;
    assert_eq!(run["run"]["output"]["count"], 1, "{run}");

    // Withdrawn: the node fails saying so, and acme's count is untouched.
    let (status, _) = s
        .call(Method::PUT, "/v1/plugins/local/capabilities/grants", Some(&acme.api_key), Some(json!({"kv": false})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let run = count(&acme.api_key).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    assert!(run.to_string().contains("kv was not granted"), "{run}");
    let (status, _) = s
        .call(Method::PUT, "/v1/plugins/local/capabilities/grants", Some(&acme.api_key), Some(json!({"kv": true})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let run = count(&acme.api_key).await;
    assert_eq!(run["run"]["output"]["count"], 4, "{run}");
}
