//! Changing and removing members.

use async_trait::async_trait;

use super::{AuditEntry, Role, StoreError, TenantId};

#[async_trait]
pub trait MemberBackend: Send + Sync {
    /// `false` when the tenant has no such member.
    async fn set_member_role(
        &self,
        tenant: &TenantId,
        id: &str,
        role: Role,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError>;
    /// Removes a member and revokes their refresh tokens and the API keys
    /// they created (with the keys those created); `false` when the tenant
    /// has no such member.
    async fn delete_member(&self, tenant: &TenantId, id: &str, audit: Option<&AuditEntry>) -> Result<bool, StoreError>;
    async fn count_owners(&self, tenant: &TenantId) -> Result<u64, StoreError>;
    /// The member's password hash, to check a password they present.
    async fn password_hash(&self, tenant: &TenantId, id: &str) -> Result<Option<String>, StoreError>;
    /// Replaces the member's password, clears `password_change_required`
    /// and revokes their refresh tokens, with the audit entry, in one
    /// transaction; `false` when the tenant has no such member.
    async fn set_password(
        &self,
        tenant: &TenantId,
        id: &str,
        password_hash: &str,
        audit: Option<&AuditEntry>,
    ) -> Result<bool, StoreError>;
}
