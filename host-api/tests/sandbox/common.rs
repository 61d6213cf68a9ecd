//! Shared test helpers: a runtime, component loading, and a real HTTP
//! server on loopback.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use trellis_host_api::{Capabilities, Execution, Invocation, Limits, Plugin, Runtime, RuntimeConfig};

pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig { max_concurrent_instances: 8, ..RuntimeConfig::default() }).expect("runtime")
}

pub fn load(runtime: &Runtime, path: &str) -> Plugin {
    let bytes = std::fs::read(path).expect("component file");
    runtime.load(&bytes).expect("component loads")
}

pub async fn run(
    runtime: &Runtime,
    plugin: &Plugin,
    kind: &str,
    config: Value,
    limits: &Limits,
    capabilities: Capabilities,
) -> Execution {
    let invocation = Invocation::standalone(kind, config, Value::Null);
    runtime.execute(plugin, &invocation, limits, capabilities).await
}

/// Runs the echo guest and checks it answers: proof the host still works
/// after whatever the previous guest did.
pub async fn assert_host_still_serves(runtime: &Runtime) {
    let echo = load(runtime, trellis_plugin_artifacts::ECHO);
    let invocation = Invocation::standalone("echo", serde_json::json!({"label": "after"}), serde_json::json!([1, 2]));
    let execution = runtime.execute(&echo, &invocation, &Limits::default(), Capabilities::default()).await;
    assert!(execution.succeeded(), "echo after attack: {:?}", execution.report.failure);
    assert_eq!(execution.emits[0].data["input"], serde_json::json!([1, 2]));
}

/// What the test server answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Waits this long before answering (without blocking other requests).
    pub delay: std::time::Duration,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Bytes>) -> Self {
        Reply { status, headers: Vec::new(), body: body.into(), delay: std::time::Duration::ZERO }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn delayed(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }
}

pub type Handler = Arc<dyn Fn(http::Method, String, Bytes) -> Reply + Send + Sync>;

/// Starts an HTTP/1.1 server on 127.0.0.1 that answers with `handler`.
/// It lives until the test's runtime shuts down.
pub async fn serve(handler: Handler) -> SocketAddr {
    serve_recording(handler, Arc::default()).await
}

/// As [`serve`], also keeping each request's headers in `headers`.
pub async fn serve_recording(handler: Handler, headers: Arc<std::sync::Mutex<Vec<http::HeaderMap>>>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let handler = handler.clone();
            let headers = headers.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let handler = handler.clone();
                    if let Ok(mut seen) = headers.lock() {
                        seen.push(request.headers().clone());
                    }
                    async move {
                        use http_body_util::BodyExt;
                        let method = request.method().clone();
                        let target = request.uri().to_string();
                        let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let reply = handler(method, target, body);
                        tokio::time::sleep(reply.delay).await;
                        let mut response = Response::new(Full::new(reply.body));
                        *response.status_mut() = http::StatusCode::from_u16(reply.status).expect("status");
                        for (k, v) in reply.headers {
                            response.headers_mut().insert(
                                http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                                http::HeaderValue::from_str(&v).expect("header value"),
                            );
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

/// A server that answers every request with 200 and a small JSON body.
pub async fn serve_ok() -> SocketAddr {
    serve(Arc::new(|_, _, _| Reply::new(200, "{\"ok\":true}").header("content-type", "application/json"))).await
}
