//! `/v1/api-keys` and `/v1/members` (admin and owner), and `/v1/audit`.

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
use crate::auth::{API_KEY_PREFIX, hash_password_bounded, new_token, token_hash};
use crate::store::TenantStoreExt;
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

/// The earlier of two optional expiries (`None` is never).
fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
    role: Role,
    #[serde(default)]
    expires_in_days: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "access",
    summary = "API keys (never their secrets)",
    responses((status = 200, body = super::schema::access::ApiKeyList, description = "OK")),
    security(("bearer" = []))
)]
pub async fn list_keys(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "api_keys": principal.store(&state).list_api_keys().await? })))
}

/// Creates a key; its secret is in this response and nowhere else.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "access",
    summary = "Create an API key; its secret is in this answer only",
    request_body = NewKey,
    responses((status = 201, body = super::schema::access::ApiKeyCreated, description = "Created")),
    security(("bearer" = []))
)]
pub async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_grantable(&principal, body.role)?;
    if body.name.trim().is_empty() || body.name.len() > 100 {
        return Err(ApiError::bad_request("invalid_name", "name must be 1 to 100 characters"));
    }
    let now = now_ms();
    let key = ApiKey {
        id: uuid::Uuid::now_v7().to_string(),
        name: body.name,
        role: body.role,
        expires_at: earliest(
            body.expires_in_days.map(|days| now.saturating_add(i64::from(days).saturating_mul(86_400_000))),
            principal.key_expires_at,
        ),
        revoked_at: None,
        created_at: now,
        created_by: Some(principal.subject.clone()),
    };
    let secret = new_token(API_KEY_PREFIX);
    let details = json!({"role": key.role, "name": key.name});
    let store = principal.store(&state).audited(&principal.subject, "api_key.create", &key.id, details);
    store.insert_api_key(&key, &token_hash(&secret)).await?;
    Ok((StatusCode::CREATED, Json(json!({"api_key": key, "secret": secret}))))
}

#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "access",
    summary = "Revoke an API key",
    params(("id" = String, Path, description = "key id")),
    responses((status = 204, description = "No Content")),
    security(("bearer" = []))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    check_id(&id)?;
    let store = principal.store(&state);
    let key =
        store.list_api_keys().await?.into_iter().find(|k| k.id == id).ok_or_else(|| ApiError::not_found("API key"))?;
    if key.role > principal.role {
        return Err(ApiError::forbidden(format!(
            "a {} cannot revoke a key with the {} role",
            principal.role.as_str(),
            key.role.as_str()
        )));
    }
    let store = store.audited(&principal.subject, "api_key.revoke", &id, Value::Null);
    if !store.revoke_api_key(&id, now_ms()).await? {
        return Err(ApiError::not_found("API key"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    email: String,
    role: Role,
}

#[utoipa::path(
    get,
    path = "/v1/members",
    tag = "access",
    summary = "Members of the tenant",
    responses((status = 200, body = super::schema::access::MemberList, description = "OK")),
    security(("bearer" = []))
)]
pub async fn list_members(State(state): State<AppState>, principal: Principal) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "members": principal.store(&state).list_members().await? })))
}

/// Adds a member with a one-time password, shown in this response only.
#[utoipa::path(
    post,
    path = "/v1/members",
    tag = "access",
    summary = "Add a member (a one-time password is in the answer)",
    request_body = NewMember,
    responses((status = 201, body = super::schema::access::MemberCreated, description = "Created")),
    security(("bearer" = []))
)]
pub async fn add_member(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<NewMember>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_grantable(&principal, body.role)?;
    let email = body.email.trim().to_ascii_lowercase();
    if !email.contains('@') || email.len() > 254 {
        return Err(ApiError::bad_request("invalid_email", "not an email address"));
    }
    let member =
        Member { id: uuid::Uuid::now_v7().to_string(), email, role: body.role, password_change_required: true };
    let password = new_token("");
    let details = json!({"email": member.email, "role": member.role});
    let store = principal.store(&state).audited(&principal.subject, "member.add", &member.id, details);
    let hash = hash_password_bounded(password.clone()).await.map_err(ApiError::internal)?;
    if !store.insert_member(&member, &hash).await? {
        return Err(ApiError::new(StatusCode::CONFLICT, "email_taken", "a member with that email exists"));
    }
    Ok((StatusCode::CREATED, Json(json!({"member": member, "password": password}))))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: Role,
}

/// The member, if the principal may act on them: nobody changes or removes
/// someone whose role is above their own, and the tenant keeps an owner.
async fn changeable_member(
    principal: &Principal,
    store: &crate::store::TenantStore,
    id: &str,
    new_role: Option<Role>,
) -> Result<Member, ApiError> {
    let member = store.member(id).await?.ok_or_else(|| ApiError::not_found("member"))?;
    if member.role > principal.role {
        return Err(ApiError::forbidden(format!(
            "a {} cannot change a member who is {}",
            principal.role.as_str(),
            member.role.as_str()
        )));
    }
    let stays_owner = new_role == Some(Role::Owner);
    if member.role == Role::Owner && !stays_owner && store.count_owners().await? <= 1 {
        return Err(ApiError::new(StatusCode::CONFLICT, "last_owner", "the tenant must keep at least one owner"));
    }
    Ok(member)
}

/// Changes a member's role, from their next request on: the role is read
/// from the store at every request, not from the access token.
#[utoipa::path(
    patch,
    path = "/v1/members/{id}",
    tag = "access",
    summary = "Change a member's role",
    params(("id" = String, Path, description = "member id")),
    request_body = RoleChange,
    responses((status = 200, body = super::schema::access::MemberChanged, description = "OK")),
    security(("bearer" = []))
)]
pub async fn change_member(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody<RoleChange>,
) -> Result<Json<Value>, ApiError> {
    check_id(&id)?;
    check_grantable(&principal, body.role)?;
    let store = principal.store(&state);
    let member = changeable_member(&principal, &store, &id, Some(body.role)).await?;
    let details = json!({"from": member.role, "to": body.role});
    let store = store.audited(&principal.subject, "member.role_change", &id, details);
    if !store.set_member_role(&id, body.role).await? {
        return Err(ApiError::not_found("member"));
    }
    Ok(Json(json!({"member": Member { role: body.role, ..member }})))
}

/// Removes a member: their access tokens stop working at once, their
/// refresh tokens and the API keys they created are revoked.
#[utoipa::path(
    delete,
    path = "/v1/members/{id}",
    tag = "access",
    summary = "Remove a member",
    params(("id" = String, Path, description = "member id")),
    responses((status = 204, description = "No Content")),
    security(("bearer" = []))
)]
pub async fn remove_member(
    State(state): State<AppState>,
    principal: Principal,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    check_id(&id)?;
    let store = principal.store(&state);
    let member = changeable_member(&principal, &store, &id, None).await?;
    let store = store.audited(&principal.subject, "member.remove", &id, json!({"email": member.email}));
    if !store.delete_member(&id).await? {
        return Err(ApiError::not_found("member"));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "access",
    summary = "The audit log, newest first",
    params(("cursor" = Option<String>, Query, description = "next_cursor of the previous page"), ("limit" = Option<u32>, Query, description = "page size: 100 unless given, at most 500")),
    responses((status = 200, body = super::schema::access::AuditLog, description = "OK")),
    security(("bearer" = []))
)]
pub async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    if let Some(cursor) = &query.cursor {
        check_id(cursor)?;
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 500);
    let entries = principal.store(&state).list_audit(query.cursor.as_deref(), limit).await?;
    let next = super::next_cursor(&entries, limit, |e| &e.id);
    Ok(Json(json!({"entries": entries, "next_cursor": next})))
}
