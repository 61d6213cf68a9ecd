//! `POST /hooks/{token}`: a webhook trigger. The token in the path names
//! the workflow (and its tenant); when the document's trigger names a
//! secret, the request must carry a signature made with it, in our scheme
//! or the provider's the trigger names (`verify`). The body (JSON, a form,
//! or empty for `{}`) is the run's input. Answers 202 with the run id as
//! soon as the run is recorded.

use std::sync::Arc;
use std::time::Duration;

use super::json::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;
use super::body::{RawBody, parse};
use super::error::ApiError;
use super::params::PathParams;
use crate::store::TenantDocuments;
use crate::store::{TenantId, now_ms};
use crate::triggers::WEBHOOK_TOKEN_PREFIX;
use crate::triggers::provider_signatures::{Delivery, Scheme, verify};
use crate::triggers::webhook::{SignatureError, delivery_run_id};
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
    request_body = super::schema::runs::WebhookPayload,
    responses(
        (status = 202, body = super::schema::runs::HookAccepted, description = "Accepted"),
        (status = 200, description = "With `respond: true`: the reply of the run's `respond` node, or the finished run")
    )
)]
pub async fn receive(
    State(state): State<AppState>,
    PathParams(token): PathParams<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<axum::response::Response, ApiError> {
    let query = uri.query().map(str::to_owned);
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
    let trigger = workflow.triggers.iter().find_map(|t| match t {
        Trigger::Webhook { webhook } => Some(webhook.clone()),
        Trigger::Cron { .. } => None,
    });
    let Some(trigger) = trigger else { return Err(ApiError::not_found("webhook")) };

    let mut delivery_id = None;
    if let Some(name) = &trigger.secret {
        let secret = state
            .vault
            .read(&store, name)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| unsigned(format!("the webhook's signing secret `{name}` is not set in the tenant")))?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let now = now_ms() / 1000;
        let url = called_url(&headers, &token, query.as_deref());
        let delivery = Delivery { header: &header, body: &body, url: &url, now };
        let verified = verify(trigger.verify.unwrap_or(Scheme::Trellis), &secret, &delivery)
            .map_err(|e| unsigned(e.to_string()))?;
        delivery_id = verified.map(|verified| delivery_run_id(target.tenant.as_str(), &verified));
    }

    let input = input_of(&headers, &body)?;
    // Audited as started by `webhook` in the statement that records it. A
    // signed delivery's run has an id of its own, which the store takes
    // once: a replay finds it taken.
    let run = match delivery_id {
        Some(id) => state
            .engine
            .start_loaded_as(&store, workflow, version, input, &id, "webhook")
            .await?
            .ok_or_else(|| unsigned(SignatureError::Replayed.to_string()))?,
        None => state.engine.start_loaded(&store, workflow, version, input, "webhook").await?,
    };
    let answer = json!({"run_id": run.id, "status": run.status});
    let run_id = run.id.clone();
    // Listening before the run starts, so no event of it is missed.
    let events = trigger.respond.then(|| state.engine.subscribe());
    state.engine.launch(store.clone(), run, workflow.clone());
    if let Some(events) = events {
        let timeout = Duration::from_millis(trigger.respond_timeout_ms.unwrap_or(DEFAULT_REPLY_WAIT_MS).min(30_000));
        if let Some(reply) = super::hook_reply::wait(&state, &store, workflow, &run_id, events, timeout).await? {
            return Ok(reply);
        }
    }
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// How long a `respond: true` hook holds its request by default.
const DEFAULT_REPLY_WAIT_MS: u64 = 10_000;

/// The run input: a form (`application/x-www-form-urlencoded`, as Twilio
/// and Slack send) becomes an object of its fields, anything else is JSON,
/// and an empty body is `{}`.
fn input_of(headers: &HeaderMap, body: &bytes::Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.trim_start().starts_with("application/x-www-form-urlencoded"));
    if form {
        let fields: serde_json::Map<String, Value> =
            url::form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned()))).collect();
        return Ok(Value::Object(fields));
    }
    parse(body)
}

/// The URL the provider called, as Twilio signs it: the scheme a proxy
/// reports (`X-Forwarded-Proto`, else https), the `Host` the request
/// names, the hook's path and its query.
fn called_url(headers: &HeaderMap, token: &str, query: Option<&str>) -> String {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let scheme = header("x-forwarded-proto").unwrap_or("https");
    let host = header("x-forwarded-host").or_else(|| header("host")).unwrap_or_default();
    match query {
        Some(query) => format!("{scheme}://{host}/hooks/{token}?{query}"),
        None => format!("{scheme}://{host}/hooks/{token}"),
    }
}
