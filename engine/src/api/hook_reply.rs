//! Synchronous webhook replies (`webhook: {respond: true}`): the request is
//! held until the run reaches a `respond` node, whose rendered config is
//! the reply (status, headers, body), or ends, up to the trigger's time-out;
//! then the answer is 202 with the run id, as for any webhook.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::json::Json;
use crate::executor::LiveEvent;
use crate::store::{NodeRecord, NodeStatus, RunStatus, TenantStore};
use crate::workflow::{Builtin, Workflow};

/// Headers a reply may set at most, and the longest value.
const MAX_HEADERS: usize = 20;
const MAX_HEADER_BYTES: usize = 4096;
/// Headers the server owns: framing, connection and cookies on its origin.
const RESERVED: &[&str] =
    &["connection", "content-length", "transfer-encoding", "keep-alive", "upgrade", "set-cookie", "trailer", "te"];

/// Waits for the run's reply; `None` when the time-out came first.
pub(super) async fn wait(
    state: &AppState,
    store: &TenantStore,
    workflow: &Workflow,
    run_id: &str,
    mut events: tokio::sync::broadcast::Receiver<LiveEvent>,
    timeout: Duration,
) -> Result<Option<Response>, ApiError> {
    let respond_nodes: Vec<&str> =
        workflow.nodes.iter().filter(|n| n.builtin == Some(Builtin::Respond)).map(|n| n.id.as_str()).collect();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(reply) = check(state, store, run_id, &respond_nodes).await? {
            return Ok(Some(reply));
        }
        // Woken by this run's events; a lagging receiver looks at the store
        // anyway. A server that does not execute hears no events (a worker
        // drives the run) and looks every quarter second.
        let look = match state.engine.executes() {
            true => deadline,
            false => deadline.min(tokio::time::Instant::now() + Duration::from_millis(250)),
        };
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        let woken = tokio::time::timeout_at(look, async {
            loop {
                match events.recv().await {
                    Ok(LiveEvent::Node(event)) if event.run_id == run_id => return,
                    Ok(LiveEvent::Run(event)) if event.run_id == run_id => return,
                    Ok(_) => continue,
                    Err(_) => return tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        })
        .await;
        if woken.is_err() && look == deadline {
            return Ok(None);
        }
    }
}

async fn check(
    state: &AppState,
    store: &TenantStore,
    run_id: &str,
    respond_nodes: &[&str],
) -> Result<Option<Response>, ApiError> {
    let (run, nodes) = state.engine.details(store, run_id).await?;
    let replied =
        nodes.iter().find(|n| respond_nodes.contains(&n.node_id.as_str()) && n.status == NodeStatus::Succeeded);
    if let Some(node) = replied {
        return Ok(Some(reply(node)));
    }
    Ok(match run.status {
        RunStatus::Succeeded => Some(
            (StatusCode::OK, Json(json!({"run_id": run.id, "status": run.status, "output": run.output})))
                .into_response(),
        ),
        RunStatus::Failed | RunStatus::Cancelled => Some(
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "run_failed",
                format!("run {} ended {} before replying", run.id, run.status.as_str()),
            )
            .into_response(),
        ),
        _ => None,
    })
}

/// The reply a `respond` node's rendered config describes: `status`
/// (default 200), `headers` (the server's own refused), `body` (a string
/// goes out as text, anything else as JSON).
fn reply(node: &NodeRecord) -> Response {
    let config = node.config.clone().unwrap_or(Value::Null);
    let status = match &config["status"] {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => Some(200),
    }
    .and_then(|code| u16::try_from(code).ok())
    .and_then(|code| StatusCode::from_u16(code).ok())
    .filter(|code| code.as_u16() >= 200)
    .unwrap_or(StatusCode::OK);
    let (body, default_type) = match &config["body"] {
        Value::Null => (Vec::new(), None),
        Value::String(text) => (text.clone().into_bytes(), Some("text/plain; charset=utf-8")),
        other => (other.to_string().into_bytes(), Some("application/json")),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    if let Some(content_type) = default_type {
        response.headers_mut().insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if let Some(headers) = config["headers"].as_object() {
        for (name, value) in headers.iter().take(MAX_HEADERS) {
            let lower = name.to_ascii_lowercase();
            let value = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if RESERVED.contains(&lower.as_str()) || value.len() > MAX_HEADER_BYTES {
                continue;
            }
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(lower.as_bytes()), HeaderValue::from_str(&value)) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}
