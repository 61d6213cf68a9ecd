//! `POST /v1/auth/login`, `POST /v1/auth/refresh`, `GET /v1/me`,
//! `POST /v1/me/password`.

use super::json::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::body::JsonBody;
use super::error::ApiError;
use super::principal::{ClientAddress, PasswordChanger, Principal};
use super::sign_in_throttle::{Throttled, WINDOW};
use crate::auth::{hash_password_bounded, verify_password_bounded};
use crate::store::{Member, RefreshUse, TenantId, now_ms};
use crate::store::{TenantDocuments, TenantStoreExt};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    refresh_token: String,
}

fn throttled(refused: Throttled) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many failed sign-ins from this address; wait a minute",
    )
    .with_details(json!({"quota": refused.quota, "limit": refused.limit, "window_seconds": WINDOW.as_secs()}))
}

async fn issue(state: &AppState, tenant: &TenantId, member: &Member, family: &str) -> Result<Json<Value>, ApiError> {
    let access = state.tokens.access_token(tenant, member).map_err(ApiError::internal)?;
    let refresh =
        state.tokens.refresh_token(&state.store, tenant, &member.id, family).await.map_err(ApiError::internal)?;
    Ok(Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": state.tokens.access_ttl_secs,
        "refresh_token": refresh,
        // Until it is changed, the tokens only reach POST /v1/me/password.
        "password_change_required": member.password_change_required,
    })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    current_password: String,
    new_password: String,
}

/// Passwords are 10 to 256 characters: long enough to resist guessing at
/// the sign-in throttle's pace, short enough to hash in bounded time.
const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 10..=256;

#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    summary = "Sign in: a 15-minute JWT access token and a refresh token",
    request_body = Login,
    responses((status = 200, body = super::schema::access::Session, description = "OK"))
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<Login>,
) -> Result<Json<Value>, ApiError> {
    let email = body.email.trim().to_ascii_lowercase();
    state.sign_ins.check(&email, address).await?.map_err(throttled)?;
    let found = state.store.member_by_email(&email).await?;
    // Verify against a dummy hash when the email is unknown, so timing does
    // not reveal which emails exist.
    let (tenant, member, hash) = match found {
        Some(found) => found,
        None => {
            verify_password_bounded(body.password, state.dummy_hash.to_string()).await.map_err(ApiError::internal)?;
            state.sign_ins.failed(&email, address).await?;
            return Err(ApiError::unauthorized());
        }
    };
    let store = state.store.tenant(tenant.clone());
    if !verify_password_bounded(body.password, hash).await.map_err(ApiError::internal)? {
        state.sign_ins.failed(&email, address).await?;
        store.audit("anonymous", "auth.login_failed", &member.id, Value::Null).await?;
        return Err(ApiError::unauthorized());
    }
    store.audit(&format!("member:{}", member.id), "auth.login", &member.id, Value::Null).await?;
    let family = uuid::Uuid::now_v7().to_string();
    issue(&state, &tenant, &member, &family).await
}

#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    tag = "auth",
    summary = "Rotate a refresh token (a reused one revokes its family)",
    request_body = Refresh,
    responses((status = 200, body = super::schema::access::Session, description = "OK"))
)]
pub async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<Refresh>,
) -> Result<Json<Value>, ApiError> {
    let hash = crate::auth::token_hash(&body.refresh_token);
    match state.store.use_refresh_token(&hash, now_ms()).await? {
        RefreshUse::Fresh { tenant_id, member_id, family } => {
            let tenant = TenantId::new(tenant_id);
            let member =
                state.store.tenant(tenant.clone()).member(&member_id).await?.ok_or_else(ApiError::unauthorized)?;
            issue(&state, &tenant, &member, &family).await
        }
        RefreshUse::Reused | RefreshUse::Invalid => Err(ApiError::unauthorized()),
    }
}

#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "auth",
    summary = "Who is calling: tenant, role, subject",
    responses((status = 200, body = super::schema::access::Me, description = "OK")),
    security(("bearer" = []))
)]
pub async fn me(principal: Principal) -> Json<Value> {
    Json(json!({"tenant_id": principal.tenant.as_str(), "role": principal.role, "subject": principal.subject}))
}

#[utoipa::path(
    post,
    path = "/v1/me/password",
    tag = "auth",
    summary = "Change your password (the current one is required); signs out your other sessions",
    request_body = NewPassword,
    responses((status = 204, description = "Changed")),
    security(("bearer" = []))
)]
pub async fn change_password(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    PasswordChanger(principal): PasswordChanger,
    JsonBody(body): JsonBody<NewPassword>,
) -> Result<StatusCode, ApiError> {
    let Some(member_id) = principal.subject.strip_prefix("member:") else {
        return Err(ApiError::forbidden("an API key has no password; sign in as the member"));
    };
    let length = body.new_password.chars().count();
    if !PASSWORD_CHARS.contains(&length) {
        return Err(ApiError::bad_request(
            "invalid_password",
            format!("new_password must be {} to {} characters", PASSWORD_CHARS.start(), PASSWORD_CHARS.end()),
        )
        .with_details(json!({"path": "new_password"})));
    }
    if body.new_password == body.current_password {
        return Err(ApiError::bad_request("invalid_password", "new_password must differ from the current one")
            .with_details(json!({"path": "new_password"})));
    }
    let store = principal.store(&state);
    let member = store.member(member_id).await?.ok_or_else(ApiError::unauthorized)?;
    // Guessing the current password here counts like failed sign-ins.
    state.sign_ins.check(&member.email, address).await?.map_err(throttled)?;
    let hash = store.password_hash(member_id).await?.ok_or_else(ApiError::unauthorized)?;
    if !verify_password_bounded(body.current_password, hash).await.map_err(ApiError::internal)? {
        state.sign_ins.failed(&member.email, address).await?;
        return Err(ApiError::new(StatusCode::FORBIDDEN, "wrong_password", "current_password is not your password"));
    }
    let hash = hash_password_bounded(body.new_password).await.map_err(ApiError::internal)?;
    let audited = store.audited(&principal.subject, "auth.password_change", member_id, Value::Null);
    if !audited.set_password(member_id, &hash).await? {
        return Err(ApiError::unauthorized());
    }
    Ok(StatusCode::NO_CONTENT)
}
