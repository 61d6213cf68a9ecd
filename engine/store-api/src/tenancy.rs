//! Tenants, members, API keys and refresh tokens as the store keeps them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// What a principal may do in its tenant, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read workflows, runs, catalog.
    Viewer,
    /// Also start, cancel and re-run runs; approve steps.
    Operator,
    /// Also create and change workflows and triggers; write secrets.
    Editor,
    /// Also plugins, grants, members and API keys.
    Admin,
    /// Also the plan and deleting the tenant.
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Editor => "editor",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Some(match text {
            "viewer" => Role::Viewer,
            "operator" => Role::Operator,
            "editor" => Role::Editor,
            "admin" => Role::Admin,
            "owner" => Role::Owner,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: String,
    pub email: String,
    pub role: Role,
    /// Signed in with a one-time password not yet changed: such a session
    /// may only change it (`POST /v1/me/password`).
    #[serde(default)]
    pub password_change_required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub created_at: i64,
    /// The principal that created it (`member:<id>` or `key:<id>`); `None`
    /// for a tenant's bootstrap key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Unused and unexpired: now marked used.
    Fresh { tenant_id: String, member_id: String, family: String },
    /// Already used once: a stolen copy, or a replay. The family is revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Time-ordered id; also the pagination cursor.
    pub id: String,
    pub at: i64,
    /// `member:<id>`, `key:<id>` or `anonymous`.
    pub principal: String,
    /// e.g. `auth.login`, `api_key.create`, `workflow.update`, `run.start`.
    pub action: String,
    pub target: String,
    pub details: serde_json::Value,
}

impl AuditEntry {
    /// An entry made now, with a new time-ordered id.
    pub fn now(principal: &str, action: &str, target: &str, details: serde_json::Value) -> Self {
        AuditEntry {
            id: uuid::Uuid::now_v7().to_string(),
            at: crate::now_ms(),
            principal: principal.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            details,
        }
    }
}

/// A tenant's audit log.
#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn insert_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first, before the cursor id.
    async fn list_audit(&self, before: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
}
