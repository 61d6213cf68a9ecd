//! `/v1/api-keys` and `/v1/members` (admin and owner), and `/v1/audit`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::body::JsonBody;
use super::error::ApiError;
use super::principal::Principal;
use crate::auth::{API_KEY_PREFIX, hash_password, new_token, token_hash};
use crate::store::{ApiKey, Member, Role, now_ms};

/// Nobody hands out more power than they hold.
fn check_grantable(principal: &Principal, role: Role) -> Result<(), ApiError> {
    if role > principal.role {
        return Err(ApiError::forbidden(format!(
            "a {} cannot grant the {} role",
            principal.role.as_str(),
            role.as_str()
        )));
    }
    Ok(())
}

fn check_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok { Ok(()) } else { Err(ApiError::bad_request("invalid_id", "not an id")) }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
    role: Role,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

pub async fn list_keys(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(json!({ "api_keys": principal.store(&state).list_api_keys().await? })))
}

/// Creates a key; its secret is in this response and nowhere else.
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require(Role::Admin)?;
    check_grantable(&principal, body.role)?;
    if body.name.trim().is_empty() || body.name.len() > 100 {
        return Err(ApiError::bad_request("invalid_name", "name must be 1 to 100 characters"));
    }
    let now = now_ms();
    let key = ApiKey {
        id: uuid::Uuid::now_v7().to_string(),
        name: body.name,
        role: body.role,
        expires_at: body.expires_in_days.map(|days| now + i64::from(days) * 86_400_000),
        revoked_at: None,
        created_at: now,
    };
    let secret = new_token(API_KEY_PREFIX);
    let store = principal.store(&state);
    store.insert_api_key(&key, &token_hash(&secret)).await?;
    store.audit(&principal.subject, "api_key.create", &key.id, json!({"role": key.role, "name": key.name})).await?;
    Ok((StatusCode::CREATED, Json(json!({"api_key": key, "secret": secret}))))
}

pub async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    check_id(&id)?;
    principal.require(Role::Admin)?;
    let store = principal.store(&state);
    if !store.revoke_api_key(&id).await? {
        return Err(ApiError::not_found("API key"));
    }
    store.audit(&principal.subject, "api_key.revoke", &id, Value::Null).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    email: String,
    role: Role,
}

pub async fn list_members(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    principal.require(Role::Admin)?;
    Ok(Json(json!({ "members": principal.store(&state).list_members().await? })))
}

/// Adds a member with a one-time password, shown in this response only.
pub async fn add_member(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewMember>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    principal.require(Role::Admin)?;
    check_grantable(&principal, body.role)?;
    let email = body.email.trim().to_ascii_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::bad_request("invalid_email", "not an email address"));
    }
    let member = Member { id: uuid::Uuid::now_v7().to_string(), email, role: body.role };
    let password = new_token("");
    let store = principal.store(&state);
    if !store.insert_member(&member, &hash_password(&password).map_err(ApiError::internal)?).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "email_taken", "a member with that email exists"));
    }
    store
        .audit(&principal.subject, "member.add", &member.id, json!({"email": member.email, "role": member.role}))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"member": member, "password": password}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

pub async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    principal.require(Role::Admin)?;
    if let Some(cursor) = &query.cursor {
        check_id(cursor)?;
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let entries = principal.store(&state).list_audit(query.cursor.as_deref(), limit).await?;
    let next = super::next_cursor(&entries, limit, |e| &e.id);
    Ok(Json(json!({"entries": entries, "next_cursor": next})))
}
