//! Who is calling: an `Authorization: Bearer` JWT access token or API key,
//! resolved to a tenant and a role. The tenant-bound store handle comes
//! from here and nowhere else.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::auth::{API_KEY_PREFIX, token_hash};
use crate::store::{Role, TenantId, TenantStore, now_ms};

#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: TenantId,
    pub role: Role,
    /// `member:<id>` or `key:<id>`.
    pub subject: String,
    /// When the API key presented expires (`None` for members and keys
    /// that never expire): a key it creates expires no later.
    pub key_expires_at: Option<i64>,
    /// A member signed in with a one-time password they have not changed.
    pub password_change_required: bool,
}

impl Principal {
    /// Refuses (403) unless the principal's role is at least `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("this needs the {} role or higher", needed.as_str())))
        }
    }

    pub fn store(&self, state: &AppState) -> TenantStore {
        state.store.tenant(self.tenant.clone())
    }
}

/// The role a route needs, put on its requests by the router group it is
/// declared in (`api::routes_for`).
#[derive(Debug, Clone, Copy)]
pub struct RequiredRole(pub Role);

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    /// Who is calling, refused (403) below the role the route needs, and
    /// held to its tenant's `requests_per_second`.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let PasswordChanger(principal) = PasswordChanger::from_request_parts(parts, state).await?;
        if principal.password_change_required {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "password_change_required",
                "this sign-in used a one-time password: choose your own with POST /v1/me/password first",
            ));
        }
        Ok(principal)
    }
}

/// A principal that may still have to change its one-time password: only
/// the route that changes it takes this instead of [`Principal`].
pub struct PasswordChanger(pub Principal);

impl FromRequestParts<AppState> for PasswordChanger {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::resolve(parts, state).await?;
        if let Some(RequiredRole(needed)) = parts.extensions.get::<RequiredRole>() {
            principal.require(*needed)?;
        }
        state.pace(&principal.store(state)).await?;
        Ok(PasswordChanger(principal))
    }
}

impl Principal {
    async fn resolve(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(ApiError::unauthorized)?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() < 4096)
            .ok_or_else(ApiError::unauthorized)?;
        if token.starts_with(API_KEY_PREFIX) {
            let (tenant, key) =
                state.store.api_key_by_hash(&token_hash(token)).await?.ok_or_else(ApiError::unauthorized)?;
            let now = now_ms();
            if key.revoked_at.is_some() || key.expires_at.is_some_and(|at| at <= now) {
                return Err(ApiError::unauthorized());
            }
            return Ok(Principal {
                tenant,
                role: key.role,
                subject: format!("key:{}", key.id),
                key_expires_at: key.expires_at,
                password_change_required: false,
            });
        }
        let claims = state.tokens.verify(token).ok_or_else(ApiError::unauthorized)?;
        // The token names the member; the store says whether they are still
        // one and with which role, so a removal or a demotion holds from the
        // next request on, not when the token expires.
        let tenant = TenantId::new(claims.tenant);
        let member =
            state.store.tenant(tenant.clone()).member(&claims.sub).await?.ok_or_else(ApiError::unauthorized)?;
        Ok(Principal {
            tenant,
            role: member.role,
            subject: format!("member:{}", member.id),
            key_expires_at: None,
            password_change_required: member.password_change_required,
        })
    }
}

/// The address the request came from: the socket's peer, or unspecified
/// where the router runs without one (in-process tests). Forwarding headers
/// are not trusted: any client can write them.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub std::net::IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress::of(&parts.extensions))
    }
}

impl ClientAddress {
    pub fn of(extensions: &axum::http::Extensions) -> Self {
        let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        ClientAddress(peer.map(|info| info.0.ip()).unwrap_or(std::net::IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)))
    }
}
