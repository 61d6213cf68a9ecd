//! `/v1/workflows/{id}/runs` (start, optionally waiting) and `/v1/runs/{id}`.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::body::JsonBody;
use super::error::ApiError;
use super::principal::Principal;
use super::workflows::check_workflow_id;
use crate::store::Role;

/// Longest `?wait=` honoured.
const MAX_WAIT_SECS: u64 = 60;

#[derive(Deserialize)]
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

fn check_run_id(id: &str) -> Result<(), ApiError> {
    let ok =
        !id.is_empty() && id.len() <= 200 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok { Ok(()) } else { Err(ApiError::bad_request("invalid_id", "not a run id")) }
}

/// Starts a run of the saved workflow. With `?wait=SECONDS` the answer is
/// the finished run (200) when it ends in time, else the running one (202).
pub async fn start(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(query): Query<WaitQuery>,
    JsonBody(body): JsonBody<StartRun>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_workflow_id(&id)?;
    principal.require(Role::Operator)?;
    let store = principal.store(&state);
    let (run, _) = state.engine.start_saved(&store, &id, body.version, body.input).await?;
    let engine = state.engine.clone();
    let driving_store = store.clone();
    let run_id = run.id.clone();
    let mut driving = tokio::spawn(async move { engine.drive(&driving_store, &run_id).await });
    if let Some(wait) = query.wait.filter(|w| *w > 0) {
        let wait = Duration::from_secs(wait.min(MAX_WAIT_SECS));
        if let Ok(joined) = tokio::time::timeout(wait, &mut driving).await {
            joined.map_err(ApiError::internal)??;
            let (run, nodes) = state.engine.details(&store, &run.id).await?;
            return Ok((StatusCode::OK, Json(json!({"run": run, "nodes": nodes}))));
        }
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"run": run}))))
}

pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    check_run_id(&id)?;
    principal.require(Role::Viewer)?;
    let (run, nodes) = state.engine.details(&principal.store(&state), &id).await?;
    Ok(Json(json!({"run": run, "nodes": nodes})))
}
