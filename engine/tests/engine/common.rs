#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use trellis_engine::catalog::Catalog;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::store::{NodeRecord, NodeStatus, RunRecord, TenantId, TenantStore};
use trellis_engine::workflow::Workflow;
use trellis_host_api::capabilities::HttpPolicy;
use trellis_host_api::{Runtime, RuntimeConfig};

pub struct Harness {
    pub engine: Engine,
    pub store: TenantStore,
    pub _dir: tempfile::TempDir,
}

/// An engine on a fresh SQLite store, with the first-party plugins plus the
/// test guests `local/capabilities` and `local/hostile`.
pub async fn harness() -> Harness {
    harness_with(test_config()).await
}

/// Plugins may reach servers the tests start on loopback.
pub fn test_config() -> EngineConfig {
    EngineConfig {
        http: HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["127.0.0.1"]) },
        // Runs leased to the engine (launched, resumed) are set aside as
        // soon as they wait on an approval or on a timer 300 ms off.
        set_aside: Some(Duration::from_millis(300)),
        ..EngineConfig::default()
    }
}

pub async fn harness_with(config: EngineConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = trellis_engine::store::open_for_tests(dir.path()).await.unwrap();
    let engine = engine_on(store.clone(), config).await;
    Harness { engine, store: store.tenant(TenantId::new("t1")), _dir: dir }
}

/// An engine on `store` (another worker, when the store has one already),
/// with the first-party plugins and the test guests.
pub async fn engine_on(store: trellis_engine::store::Store, config: EngineConfig) -> Engine {
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(shared_cache()),
        max_concurrent_instances: 16,
        ..RuntimeConfig::default()
    })
    .unwrap();
    let mut catalog = Catalog::local(&runtime, None).await.unwrap();
    for (name, path) in [
        ("local/capabilities", trellis_plugin_artifacts::CAPABILITIES),
        ("local/hostile", trellis_plugin_artifacts::HOSTILE),
    ] {
        let bytes = std::fs::read(path).unwrap();
        catalog.install(&runtime, name, semver::Version::new(0, 0, 0), &bytes).await.unwrap();
    }
    Engine::new(runtime, catalog, store, config)
}

/// Compiled components shared by the tests of one build.
fn shared_cache() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("trellis-test-cache-{}", env!("CARGO_PKG_VERSION")))
}

/// An approval, then a node that answers 2.
pub const GATED: &str = r#"
id: gated
nodes:
  - { id: wait, builtin: approval }
  - { id: next, uses: trellis/transform, kind: reshape, config: { template: 2 } }
edges:
  - { from: wait, port: approved, to: next }
"#;

pub fn workflow(yaml: &str) -> Workflow {
    Workflow::parse(yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// The sample input beside an example (`examples/NAME.input.json`).
pub fn sample_input(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(format!("{name}.input.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn example(name: &str) -> Workflow {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
    workflow(&std::fs::read_to_string(path).unwrap())
}

impl Harness {
    pub async fn run(&self, workflow: &Workflow, input: Value) -> (RunRecord, Vec<NodeRecord>) {
        let run = self.engine.run(&self.store, workflow, input).await.unwrap_or_else(|e| panic!("{e}"));
        self.engine.details(&self.store, &run.id).await.unwrap()
    }

    /// Waits until a node of the run reaches `status`.
    pub async fn wait_for(&self, run_id: &str, node_id: &str, status: NodeStatus) -> NodeRecord {
        for _ in 0..400 {
            if let Some(node) = self.store.nodes(run_id).await.unwrap().into_iter().find(|n| n.node_id == node_id)
                && node.status == status
            {
                return node;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("node {node_id} never became {status:?}");
    }
}

pub fn node<'a>(nodes: &'a [NodeRecord], id: &str) -> &'a NodeRecord {
    nodes.iter().find(|n| n.node_id == id).unwrap_or_else(|| panic!("no node {id}"))
}

/// A real HTTP server on loopback answering every request with what
/// `answer` makes of its path and query: a status and a body (sent as
/// JSON when it is JSON).
pub async fn serve(answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static) -> String {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let answer = answer.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let target = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
                    let (status, body) = answer(&target);
                    let json = serde_json::from_str::<serde_json::Value>(&body).is_ok();
                    async move {
                        let mut response = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(body)));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        if json {
                            response.headers_mut().insert("content-type", "application/json".parse().unwrap());
                        }
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    url
}
