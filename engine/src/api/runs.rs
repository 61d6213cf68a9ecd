//! `/v1/workflows/{id}/runs` (start, optionally waiting) and `/v1/runs/{id}`.

use std::time::Duration;

use super::json::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::body::JsonBody;
use super::error::ApiError;
use super::params::{PathParams, QueryParams};
use super::principal::Principal;
use super::workflows::check_workflow_id;
use crate::executor::Driven;
use crate::store::TenantStoreExt;
use crate::store::{RunFilter, RunRecord, TenantStore};

/// Longest `?wait=` honoured.
const MAX_WAIT_SECS: u64 = 60;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    #[serde(default)]
    input: Value,
    #[serde(default)]
    version: Option<i64>,
}

#[derive(Deserialize)]
pub struct WaitQuery {
    #[serde(default)]
    wait: Option<u64>,
}

/// Drives a new run in the background; with a wait, answers the finished
/// run (200) if it ends in time, else the run as started (202). A run
/// driven to its end here is answered from its driver's records, which
/// are committed by then; one set aside or driven elsewhere is read back.
async fn drive_and_answer(
    state: &AppState,
    store: TenantStore,
    run: RunRecord,
    mut driving: tokio::task::JoinHandle<Result<Driven, crate::executor::EngineError>>,
    wait: Option<u64>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if let Some(wait) = wait.filter(|w| *w > 0) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait.min(MAX_WAIT_SECS));
        match tokio::time::timeout_at(deadline, &mut driving).await {
            Ok(Ok(driven)) => {
                let driven = driven?;
                if let (true, Some(nodes)) = (driven.run.status.is_finished(), &driven.nodes) {
                    return Ok((StatusCode::OK, Json(json!({"run": driven.run, "nodes": nodes}))));
                }
                // Set aside while it waits: its end comes from whichever
                // drive takes it up again.
                if !driven.run.status.is_finished() {
                    state.engine.wait_finished(&store, &run.id, deadline).await?;
                }
                let (run, nodes) = state.engine.details(&store, &run.id).await?;
                if run.status.is_finished() {
                    return Ok((StatusCode::OK, Json(json!({"run": run, "nodes": nodes}))));
                }
            }
            // Another worker took the run over: it is still going.
            Ok(Err(stopped)) if stopped.is_cancelled() => {}
            Ok(Err(failed)) => return Err(ApiError::internal(failed)),
            Err(_) => {}
        }
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"run": run}))))
}

pub(super) fn check_run_id(id: &str) -> Result<(), ApiError> {
    let ok =
        !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok { Ok(()) } else { Err(ApiError::bad_request("invalid_id", "not a run id")) }
}

/// Starts a run of the saved workflow. With `?wait=SECONDS` the answer is
/// the finished run (200) when it ends in time, else the running one (202).
#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/runs",
    tag = "runs",
    summary = "Start a run of the saved workflow (200 with the finished run within `wait`, else 202)",
    params(("id" = String, Path, description = "workflow id"), ("wait" = Option<u64>, Query, description = "seconds to wait for the run to finish (at most 60)")),
    request_body = StartRun,
    responses(
        (status = 200, body = super::schema::runs::RunDetail, description = "Finished within `wait`: the run and its nodes"),
        (status = 202, body = super::schema::runs::RunStarted, description = "Accepted: the run, still going")
    ),
    security(("bearer" = []))
)]
pub async fn start(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<WaitQuery>,
    JsonBody(body): JsonBody<StartRun>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_workflow_id(&id)?;
    let store = principal.store(&state);
    let (run, workflow) = state.engine.start_saved(&store, &id, body.version, body.input, &principal.subject).await?;
    // The start is audited in the statement that records the run.
    let driving = state.engine.launch(store.clone(), run.clone(), workflow);
    drive_and_answer(&state, store, run, driving, query.wait).await
}

#[utoipa::path(
    get,
    path = "/v1/runs/{id}",
    tag = "runs",
    summary = "A run with every node record",
    params(("id" = String, Path, description = "run id")),
    responses((status = 200, body = super::schema::runs::RunDetail, description = "The run and its nodes")),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    check_run_id(&id)?;
    let (run, nodes) = state.engine.details(&principal.store(&state), &id).await?;
    Ok(Json(json!({"run": run, "nodes": nodes})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    /// Only the runs of this workflow.
    #[serde(default)]
    workflow: Option<String>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// Runs, newest first, with cursor pagination and status and workflow filters.
#[utoipa::path(
    get,
    path = "/v1/runs",
    tag = "runs",
    summary = "Top-level runs, newest first",
    params(("status" = Option<String>, Query, description = "pending, running, succeeded, failed or cancelled"), ("workflow" = Option<String>, Query, description = "only this workflow's runs"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"), ("limit" = Option<u32>, Query, description = "page size: 50 unless given, at most 200")),
    responses((status = 200, body = super::schema::runs::RunList, description = "Runs, newest first")),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(text) => Some(
            serde_json::from_value::<crate::store::RunStatus>(Value::String(text.to_owned()))
                .map_err(|_| ApiError::bad_request("invalid_status", format!("unknown run status `{text}`")))?,
        ),
    };
    if let Some(cursor) = &query.cursor {
        check_run_id(cursor)?;
    }
    if let Some(workflow) = &query.workflow {
        check_workflow_id(workflow)?;
    }
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let filter = RunFilter { status, workflow: query.workflow.as_deref() };
    let runs = principal.store(&state).list_runs(&filter, query.cursor.as_deref(), limit).await?;
    let next = super::next_cursor(&runs, limit, |r| &r.id);
    let items: Vec<Value> = runs
        .into_iter()
        .map(|r| {
            json!({"id": r.id, "workflow_id": r.workflow_id, "workflow_version": r.workflow_version,
                   "status": r.status, "created_at": r.created_at, "finished_at": r.finished_at, "error": r.error})
        })
        .collect();
    Ok(Json(json!({"runs": items, "next_cursor": next})))
}

#[utoipa::path(
    post,
    path = "/v1/runs/{id}/cancel",
    tag = "runs",
    summary = "Ask a run to stop",
    params(("id" = String, Path, description = "run id")),
    responses((status = 202, body = super::schema::runs::CancelRequested, description = "Accepted")),
    security(("bearer" = []))
)]
pub async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_run_id(&id)?;
    let store = principal.store(&state).audited(&principal.subject, "run.cancel", &id, json!({}));
    state.engine.cancel(&store, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"id": id, "cancel_requested": true}))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    approved: bool,
    #[serde(default)]
    comment: Option<String>,
}

/// Approves or rejects a waiting `approval` node.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/approvals/{node}",
    tag = "runs",
    summary = "Approve or reject a waiting approval node",
    params(("id" = String, Path, description = "run id"), ("node" = String, Path, description = "approval node id")),
    request_body = Decision,
    responses((status = 200, body = super::schema::runs::Decided, description = "The decision")),
    security(("bearer" = []))
)]
pub async fn decide(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((id, node)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<Decision>,
) -> Result<Json<Value>, ApiError> {
    check_run_id(&id)?;
    check_workflow_id(&node)?;
    let decision = json!({"approved": body.approved, "by": principal.subject, "comment": body.comment});
    let details = json!({"node": node, "approved": body.approved});
    let store = principal.store(&state).audited(&principal.subject, "run.decide", &id, details);
    state.engine.decide(&store, &id, &node, decision.clone()).await?;
    Ok(Json(json!({"run_id": id, "node_id": node, "decision": decision})))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rerun {
    node: String,
}

/// Re-runs a finished run from a node, reusing the upstream results. With
/// `?wait=SECONDS`, answers the finished new run when it ends in time.
#[utoipa::path(
    post,
    path = "/v1/runs/{id}/rerun",
    tag = "runs",
    summary = "A new run from a node, reusing the finished upstream results",
    params(("id" = String, Path, description = "run id"), ("wait" = Option<u64>, Query, description = "seconds to wait for the run to finish (at most 60)")),
    request_body = Rerun,
    responses(
        (status = 200, body = super::schema::runs::RunDetail, description = "Finished within `wait`: the new run and its nodes"),
        (status = 202, body = super::schema::runs::RunStarted, description = "Accepted: the new run, still going")
    ),
    security(("bearer" = []))
)]
pub async fn rerun(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    QueryParams(query): QueryParams<WaitQuery>,
    JsonBody(body): JsonBody<Rerun>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_run_id(&id)?;
    check_workflow_id(&body.node)?;
    // The new run's id is added to the entry (`run`) where it is recorded.
    let details = json!({"from_run": id, "node": body.node});
    let store = principal.store(&state);
    let audited = store.audited(&principal.subject, "run.rerun", &id, details);
    let run = state.engine.rerun_from(&audited, &id, &body.node).await?;
    // Driven from the store: the reused node records are read back.
    let driving = state.engine.spawn_drive(store.clone(), run.id.clone());
    drive_and_answer(&state, store, run, driving, query.wait).await
}
