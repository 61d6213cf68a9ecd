//! `POST /v1/auth/login`, `POST /v1/auth/refresh`, `GET /v1/me`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::body::JsonBody;
use super::error::ApiError;
use super::principal::{ClientAddress, Principal};
use super::sign_in_throttle::{Throttled, WINDOW};
use crate::auth::verify_password_bounded;
use crate::store::{Member, RefreshUse, TenantId, now_ms};

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
    })))
}

#[utoipa::path(
    post,
    path = "/v1/auth/login",
    tag = "auth",
    summary = "Sign in: a 15-minute JWT access token and a refresh token",
    request_body = Login,
    responses((status = 200, body = serde_json::Value, description = "OK"))
)]
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    JsonBody(body): JsonBody<Login>,
) -> Result<Json<Value>, ApiError> {
    let email = body.email.trim().to_ascii_lowercase();
    state.sign_ins.check(&email, address).map_err(throttled)?;
    let found = state.store.member_by_email(&email).await?;
    // Verify against a dummy hash when the email is unknown, so timing does
    // not reveal which emails exist.
    let (tenant, member, hash) = match found {
        Some(found) => found,
        None => {
            verify_password_bounded(body.password, state.dummy_hash.to_string()).await.map_err(ApiError::internal)?;
            state.sign_ins.failed(&email, address);
            return Err(ApiError::unauthorized());
        }
    };
    let store = state.store.tenant(tenant.clone());
    if !verify_password_bounded(body.password, hash).await.map_err(ApiError::internal)? {
        state.sign_ins.failed(&email, address);
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
    responses((status = 200, body = serde_json::Value, description = "OK"))
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
    security(("bearer" = []))
)]
pub async fn me(principal: Principal) -> Json<Value> {
    Json(json!({"tenant_id": principal.tenant.as_str(), "role": principal.role, "subject": principal.subject}))
}
