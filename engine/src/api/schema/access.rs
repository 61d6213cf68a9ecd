//! Sign-in, API keys, members and the audit log.

use serde_json::Value;
use utoipa::ToSchema;

use crate::store::Role;

/// Tokens of a session.
#[derive(ToSchema)]
pub struct Session {
    /// A JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds the access token lives.
    pub expires_in: u64,
    /// Trade it at `POST /v1/auth/refresh` for new tokens; single use.
    pub refresh_token: String,
    /// Until the password is changed, the tokens reach only `POST /v1/me/password`.
    pub password_change_required: bool,
}

/// Who the caller is.
#[derive(ToSchema)]
pub struct Me {
    pub tenant_id: String,
    pub role: Role,
    /// `member:<id>` or `key:<id>`.
    pub subject: String,
}

/// An API key, never its secret.
#[derive(ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
    #[schema(required = false)]
    pub created_by: Option<String>,
}

#[derive(ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKey>,
}

/// A key just created: its secret is in this answer and nowhere else.
#[derive(ToSchema)]
pub struct ApiKeyCreated {
    pub api_key: ApiKey,
    pub secret: String,
}

#[derive(ToSchema)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub password_change_required: bool,
}

#[derive(ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// A member just added, with a one-time password to give them.
#[derive(ToSchema)]
pub struct MemberCreated {
    pub member: Member,
    pub password: String,
}

#[derive(ToSchema)]
pub struct MemberChanged {
    pub member: Member,
}

#[derive(ToSchema)]
pub struct AuditEntry {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: String,
    /// Who: `member:<id>`, `key:<id>`, `webhook`, `cron`.
    pub principal: String,
    /// What: `run.start`, `secret.write`, `member.role`…
    pub action: String,
    pub target: String,
    pub details: Value,
}

#[derive(ToSchema)]
pub struct AuditLog {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    pub next_cursor: Option<String>,
}
