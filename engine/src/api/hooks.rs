//! `POST /hooks/{token}`: a webhook trigger. The token in the path names
//! the workflow (and its tenant); when the document's trigger names a
//! secret, the request must carry a fresh HMAC-SHA256 signature made with
//! it. The body (JSON, or empty for `{}`) is the run's input. Answers 202
//! with the run id as soon as the run is recorded.

use std::sync::Arc;
use std::time::Duration;

use super::json::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::AppState;
use super::body::{RawBody, parse};
use super::error::ApiError;
use super::params::PathParams;
use crate::store::{TenantId, now_ms};
use crate::triggers::WEBHOOK_TOKEN_PREFIX;
use crate::triggers::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use crate::workflow::{Trigger, Workflow};

/// How long this process trusts what it read about a token. A workflow
/// saved or deleted through this process is seen at once; through another
/// process (the CLI), within this time: a webhook may start the previous
/// version meanwhile (the run records which version it ran).
pub(super) const HOOK_CACHE_TTL: Duration = Duration::from_secs(2);

/// What a webhook token starts: the workflow's latest version, parsed.
#[derive(Clone)]
pub(crate) struct HookTarget {
    tenant: TenantId,
    version: i64,
    workflow: Arc<Workflow>,
}

fn plausible_token(token: &str) -> bool {
    token.len() <= 100
        && token.strip_prefix(WEBHOOK_TOKEN_PREFIX).is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn unsigned(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", message)
}

#[utoipa::path(
    post,
    path = "/hooks/{token}",
    tag = "triggers",
    summary = "Webhook trigger: the body is the run input; 202 with the run id",
    params(("token" = String, Path, description = "the workflow's hook token")),
    request_body = serde_json::Value,
    responses((status = 202, body = serde_json::Value, description = "Accepted"))
)]
pub async fn receive(
    State(state): State<AppState>,
    PathParams(token): PathParams<String>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Unknown and malformed tokens get the same answer.
    if !plausible_token(&token) {
        return Err(ApiError::not_found("webhook"));
    }
    let target = match state.hooks.get(&token) {
        Some(target) => target,
        None => {
            let (tenant, workflow_id) =
                state.store.webhook_by_token(&token).await?.ok_or_else(|| ApiError::not_found("webhook"))?;
            let (version, workflow) = state
                .store
                .tenant(tenant.clone())
                .get_workflow(&workflow_id, None)
                .await?
                .ok_or_else(|| ApiError::not_found("webhook"))?;
            let target = HookTarget { tenant, version, workflow: Arc::new(workflow) };
            state.hooks.insert(token.clone(), target.clone());
            target
        }
    };
    let store = state.store.tenant(target.tenant.clone());
    // Deliveries count against the tenant's request rate before any work
    // is done for them (a secret read, a signature check).
    state.pace(&store).await?;
    let (version, workflow) = (target.version, &*target.workflow);
    let secret_name = workflow.triggers.iter().find_map(|t| match t {
        Trigger::Webhook { webhook } => Some(webhook.secret.clone()),
        Trigger::Cron { .. } => None,
    });
    let Some(secret_name) = secret_name else { return Err(ApiError::not_found("webhook")) };

    let mut reservation = None;
    if let Some(name) = secret_name {
        let secret = state
            .vault
            .read(&store, &name)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| unsigned(format!("the webhook's signing secret `{name}` is not set in the tenant")))?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let now = now_ms() / 1000;
        let signature = header(SIGNATURE_HEADER);
        let verified = verify(secret.as_bytes(), header(TIMESTAMP_HEADER), signature, &body, now)
            .map_err(|e| unsigned(e.to_string()))?;
        reservation = Some(state.replays.reserve(&verified, now).map_err(|e| unsigned(e.to_string()))?);
    }

    let input: Value = if body.iter().all(u8::is_ascii_whitespace) { json!({}) } else { parse(&body)? };
    // Audited as started by `webhook` in the statement that records it.
    let run = state.engine.start_loaded(&store, workflow, version, input, "webhook").await?;
    // Spent only now: a request refused above (bad body, a quota) may be sent again.
    if let Some(reservation) = reservation {
        reservation.spend();
    }
    let answer = json!({"run_id": run.id, "status": run.status});
    state.engine.launch(store, run, workflow.clone());
    Ok((StatusCode::ACCEPTED, Json(answer)))
}
