//! `POST /v1/auth/login`, `POST /v1/auth/refresh`, `GET /v1/me`.

use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::body::JsonBody;
use super::error::ApiError;
use super::principal::Principal;
use crate::auth::verify_password;
use crate::store::{Member, RefreshUse, TenantId, now_ms};

/// Sign-in attempts per email per window.
const LOGIN_ATTEMPTS: u32 = 10;
const LOGIN_WINDOW: Duration = Duration::from_secs(60);

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

/// Counts an attempt for `key`; refuses once the window's budget is spent.
fn rate_limit(state: &AppState, key: &str) -> Result<(), ApiError> {
    let mut attempts = state.login_attempts.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    attempts.retain(|_, (start, _)| now.duration_since(*start) < LOGIN_WINDOW);
    let entry = attempts.entry(key.to_owned()).or_insert((now, 0));
    entry.1 += 1;
    if entry.1 > LOGIN_ATTEMPTS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many sign-in attempts; wait a minute",
        )
        .with_details(
            json!({"quota": "login_attempts", "limit": LOGIN_ATTEMPTS, "window_seconds": LOGIN_WINDOW.as_secs()}),
        ));
    }
    Ok(())
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
    })))
}

#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    summary = "Sign in: a 15-minute JWT access token and a refresh token",
    request_body = Login,
    responses((status = 200, body = serde_json::Value, description = "OK")),
    extensions(("x-required-role" = json!("none")))
)]
pub async fn login(State(state): State<AppState>, JsonBody(body): JsonBody<Login>) -> Result<Json<Value>, ApiError> {
    let email = body.email.trim().to_ascii_lowercase();
    rate_limit(&state, &email)?;
    let found = state.store.member_by_email(&email).await?;
    // Verify against a dummy hash when the email is unknown, so timing does
    // not reveal which emails exist.
    let (tenant, member, hash) = match found {
        Some(found) => found,
        None => {
            verify_password(&body.password, &state.dummy_hash);
            return Err(ApiError::unauthorized());
        }
    };
    let store = state.store.tenant(tenant.clone());
    if !verify_password(&body.password, &hash) {
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
    responses((status = 200, body = serde_json::Value, description = "OK")),
    extensions(("x-required-role" = json!("none")))
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
    responses((status = 200, body = serde_json::Value, description = "OK")),
    security(("bearer" = [])),
    extensions(("x-required-role" = json!("viewer")))
)]
pub async fn me(principal: Principal) -> Json<Value> {
    Json(json!({"tenant_id": principal.tenant.as_str(), "role": principal.role, "subject": principal.subject}))
}
