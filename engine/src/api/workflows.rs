//! `/v1/workflows`: create, list, get, new versions, validate.

use super::json::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use serde_json::{Value, json};

use super::AppState;
use super::body::{self, RawBody};
use super::error::ApiError;
use super::params::PathParams;
use super::principal::Principal;
use crate::store::{TenantDocuments, TenantStoreExt};
use crate::workflow::{Workflow, WorkflowFormat};

/// Path ids have the shape of workflow ids; anything else is a 400, not a lookup.
pub fn check_workflow_id(id: &str) -> Result<(), ApiError> {
    let ok =
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(ApiError::bad_request("invalid_id", "workflow ids are 1 to 64 of [A-Za-z0-9_-]")) }
}

/// A workflow document in the body: YAML when the `Content-Type` says so
/// (`application/yaml`, `text/yaml`, `application/x-yaml`), JSON otherwise.
/// Either way the body is capped before it is parsed, and a shape error
/// names where it is (a JSON path, or a line and column).
pub struct DocumentBody(pub Workflow);

impl<S: Send + Sync> FromRequest<S> for DocumentBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let yaml = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .is_some_and(|media| {
                let media = media.trim();
                ["application/yaml", "text/yaml", "application/x-yaml"].iter().any(|y| media.eq_ignore_ascii_case(y))
            });
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        let workflow = if yaml {
            let text = std::str::from_utf8(&bytes)
                .map_err(|e| ApiError::bad_request("invalid_utf8", format!("body is not UTF-8: {e}")))?;
            Workflow::parse_as(text, WorkflowFormat::Yaml)
        } else {
            Workflow::from_value(body::parse::<Value>(&bytes)?)
        };
        workflow.map(DocumentBody).map_err(|e| ApiError::bad_request("invalid_workflow_document", e.to_string()))
    }
}

#[utoipa::path(
    get,
    path = "/v1/workflows",
    tag = "workflows",
    summary = "Workflows with their latest version",
    responses((status = 200, body = super::schema::workflow::WorkflowList, description = "Workflows and their latest versions")),
    security(("bearer" = []))
)]
pub async fn list(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    let workflows = principal.store(&state).list_workflows().await?;
    let items: Vec<Value> = workflows.into_iter().map(|(id, version)| json!({"id": id, "version": version})).collect();
    Ok(Json(json!({ "workflows": items })))
}

#[utoipa::path(
    post,
    path = "/v1/workflows",
    tag = "workflows",
    summary = "Create a workflow (validated; an invalid document is not stored)",
    request_body = super::schema::workflow::WorkflowDocument,
    responses((status = 201, body = super::schema::workflow::WorkflowSaved, description = "Version 1 saved")),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    DocumentBody(workflow): DocumentBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let store = principal.store(&state);
    if store.get_workflow(&workflow.id, None).await?.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exists",
            format!("workflow `{}` exists; PUT a new version", workflow.id),
        ));
    }
    let audited = store.audited(&principal.subject, "workflow.create", &workflow.id, json!({}));
    let version = state.engine.save(&audited, &workflow).await?;
    state.workflows_changed(store.tenant()).await;
    Ok((StatusCode::CREATED, Json(json!({"id": workflow.id, "version": version}))))
}

#[utoipa::path(
    put,
    path = "/v1/workflows/{id}",
    tag = "workflows",
    summary = "Save a new version",
    params(("id" = String, Path, description = "workflow id")),
    request_body = super::schema::workflow::WorkflowDocument,
    responses((status = 200, body = super::schema::workflow::WorkflowSaved, description = "A new version saved")),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    DocumentBody(workflow): DocumentBody,
) -> Result<Json<Value>, ApiError> {
    check_workflow_id(&id)?;
    if workflow.id != id {
        return Err(ApiError::bad_request("id_mismatch", format!("document id `{}` is not `{id}`", workflow.id)));
    }
    let store = principal.store(&state);
    if store.get_workflow(&id, None).await?.is_none() {
        return Err(ApiError::not_found("workflow"));
    }
    let audited = store.audited(&principal.subject, "workflow.update", &id, json!({}));
    let version = state.engine.save(&audited, &workflow).await?;
    state.workflows_changed(store.tenant()).await;
    Ok(Json(json!({"id": id, "version": version})))
}

#[utoipa::path(
    get,
    path = "/v1/workflows/{id}",
    tag = "workflows",
    summary = "The latest version with its document",
    params(("id" = String, Path, description = "workflow id")),
    responses((status = 200, body = super::schema::workflow::WorkflowVersion, description = "The version and its document")),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    version_answer(&state, &principal, id, None).await
}

#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/versions/{version}",
    tag = "workflows",
    summary = "One version with its document",
    params(("id" = String, Path, description = "workflow id"), ("version" = i64, Path, description = "version number")),
    responses((status = 200, body = super::schema::workflow::WorkflowVersion, description = "The version and its document")),
    security(("bearer" = []))
)]
pub async fn get_version(
    State(state): State<AppState>,
    principal: Principal,
    PathParams((id, version)): PathParams<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    version_answer(&state, &principal, id, Some(version)).await
}

/// A saved version (the latest when `None`) with its document.
async fn version_answer(
    state: &AppState,
    principal: &Principal,
    id: String,
    version: Option<i64>,
) -> Result<Json<Value>, ApiError> {
    check_workflow_id(&id)?;
    let (version, workflow) = principal
        .store(state)
        .get_workflow(&id, version)
        .await?
        .ok_or_else(|| ApiError::not_found(if version.is_some() { "workflow version" } else { "workflow" }))?;
    Ok(Json(json!({"id": id, "version": version, "document": workflow})))
}

/// The engine's validation, for editors; stores nothing.
#[utoipa::path(
    post,
    path = "/v1/workflows/validate",
    tag = "workflows",
    summary = "Validate a document without storing it",
    request_body = super::schema::workflow::WorkflowDocument,
    responses((status = 200, body = super::schema::workflow::Validation, description = "Every problem found")),
    security(("bearer" = []))
)]
pub async fn validate(
    State(state): State<AppState>,
    principal: Principal,
    DocumentBody(workflow): DocumentBody,
) -> Result<Json<Value>, ApiError> {
    let problems = state.engine.validate(&principal.store(&state), &workflow).await?;
    Ok(Json(json!({"valid": problems.is_empty(), "problems": problems})))
}

#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/versions",
    tag = "workflows",
    summary = "Version numbers with their times",
    params(("id" = String, Path, description = "workflow id")),
    responses((status = 200, body = super::schema::workflow::WorkflowVersionList, description = "Saved versions")),
    security(("bearer" = []))
)]
pub async fn versions(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    check_workflow_id(&id)?;
    let versions = principal.store(&state).workflow_versions(&id).await?;
    if versions.is_empty() {
        return Err(ApiError::not_found("workflow"));
    }
    let items: Vec<Value> = versions.into_iter().map(|(v, at)| json!({"version": v, "created_at": at})).collect();
    Ok(Json(json!({"id": id, "versions": items})))
}

/// The workflow's live triggers: its hook path (operators may start runs,
/// so they may see it) and its schedules with their next fires.
#[utoipa::path(
    get,
    path = "/v1/workflows/{id}/triggers",
    tag = "workflows",
    summary = "The hook path and the cron schedules with their next fires",
    params(("id" = String, Path, description = "workflow id")),
    responses((status = 200, body = super::schema::workflow::Triggers, description = "The webhook path and cron schedules")),
    security(("bearer" = []))
)]
pub async fn triggers(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    check_workflow_id(&id)?;
    let store = principal.store(&state);
    if store.get_workflow(&id, None).await?.is_none() {
        return Err(ApiError::not_found("workflow"));
    }
    let webhook = store.webhook_token(&id).await?.map(|token| json!({"path": format!("/hooks/{token}")}));
    let schedules = store.cron_schedules(&id).await?;
    Ok(Json(json!({"id": id, "webhook": webhook, "schedules": schedules})))
}

/// Deletes the workflow (every version). Runs keep the document they ran.
#[utoipa::path(
    delete,
    path = "/v1/workflows/{id}",
    tag = "workflows",
    summary = "Delete every version and the triggers",
    params(("id" = String, Path, description = "workflow id")),
    responses((status = 204, description = "No Content")),
    security(("bearer" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    check_workflow_id(&id)?;
    let store = principal.store(&state).audited(&principal.subject, "workflow.delete", &id, Value::Null);
    let deleted = store.delete_workflow(&id).await?;
    state.workflows_changed(store.tenant()).await;
    if !deleted {
        return Err(ApiError::not_found("workflow"));
    }
    Ok(StatusCode::NO_CONTENT)
}
