//! `POST /v1/workflows/{id}/nodes/{node}/test`: one node of a saved
//! workflow, run alone on an input the caller gives or on what an earlier
//! run recorded; the answer is its record, and no run is created.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::body::JsonBody;
use super::error::ApiError;
use super::json::Json;
use super::params::PathParams;
use super::principal::Principal;
use crate::executor::NodeTestInput;
use crate::store::TenantDocuments;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeTest {
    /// The node's input; `null` when left out.
    #[serde(default)]
    input: Option<Value>,
    /// What expressions see as `input` (the run's input); the node's
    /// input when left out.
    #[serde(default)]
    run_input: Option<Value>,
    /// Other nodes' outputs, for `nodes.<id>.output`.
    #[serde(default)]
    outputs: Map<String, Value>,
    /// Take the node's input, the run's input and every output from this
    /// earlier run instead (exclusive with the three above).
    #[serde(default)]
    from_run: Option<String>,
    /// A saved version; the latest when left out.
    #[serde(default)]
    version: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/v1/workflows/{id}/nodes/{node}/test",
    tag = "workflows",
    summary = "Run one node alone (sandboxed, under the tenant's plan) and answer its record; no run is created",
    params(("id" = String, Path, description = "workflow id"), ("node" = String, Path, description = "node id")),
    request_body = NodeTest,
    responses((status = 200, body = super::schema::tenant::NodeTested, description = "The node's record")),
    security(("bearer" = []))
)]
pub async fn test(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((id, node)): PathParams<(String, String)>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    // Read as an object first: serde would take a struct from an array too
    // (`[1, 2]` as `input` and `run_input`).
    let body: NodeTest = serde_path_to_error::deserialize(Value::Object(body)).map_err(|e| {
        let path = e.path().to_string();
        ApiError::bad_request("invalid_body", e.inner().to_string()).with_details(json!({ "path": path }))
    })?;
    super::workflows::check_workflow_id(&id)?;
    super::workflows::check_workflow_id(&node)?;
    let store = principal.store(&state);
    let (version, workflow) = store
        .get_workflow(&id, body.version)
        .await?
        .ok_or_else(|| ApiError::not_found(if body.version.is_some() { "workflow version" } else { "workflow" }))?;
    let given = match &body.from_run {
        Some(run) => {
            if body.input.is_some() || body.run_input.is_some() || !body.outputs.is_empty() {
                return Err(ApiError::bad_request(
                    "invalid_body",
                    "give `from_run` or `input` (with `run_input` and `outputs`), not both",
                ));
            }
            super::runs::check_run_id(run)?;
            state.engine.recorded_test_input(&store, run, &node).await?
        }
        None => {
            NodeTestInput { input: body.input.unwrap_or(Value::Null), run_input: body.run_input, outputs: body.outputs }
        }
    };
    let record = state.engine.test_node(&store, &workflow, &node, given).await?;
    Ok(Json(json!({"workflow": id, "version": version, "node": record})))
}
