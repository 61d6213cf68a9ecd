//! Members, API keys and refresh tokens: who may act in a tenant.

use async_trait::async_trait;

use crate::{ApiKey, Member, RefreshUse, Role, StoreError, TenantId};

/// A tenant's members and keys. Writes are audited when the handle is.
#[async_trait]
pub trait AccessStore: Send + Sync {
    async fn member(&self, id: &str) -> Result<Option<Member>, StoreError>;
    /// Adds a member; `false` when the email is taken.
    async fn insert_member(&self, member: &Member, password_hash: &str) -> Result<bool, StoreError>;
    async fn list_members(&self) -> Result<Vec<Member>, StoreError>;
    /// `false` when the tenant has no such member.
    async fn set_member_role(&self, id: &str, role: Role) -> Result<bool, StoreError>;
    /// Removes a member and revokes their refresh tokens and the API keys
    /// they created (with the keys those created); `false` when the tenant
    /// has no such member.
    async fn delete_member(&self, id: &str) -> Result<bool, StoreError>;
    async fn count_owners(&self) -> Result<u64, StoreError>;
    /// The member's password hash, to check a password they present.
    async fn password_hash(&self, id: &str) -> Result<Option<String>, StoreError>;
    /// Replaces the member's password, clears `password_change_required`
    /// and revokes their refresh tokens, in one transaction; `false` when
    /// the tenant has no such member.
    async fn set_password(&self, id: &str, password_hash: &str) -> Result<bool, StoreError>;
    async fn insert_refresh_token(
        &self,
        member_id: &str,
        family: &str,
        token_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    async fn insert_api_key(&self, key: &ApiKey, key_hash: &str) -> Result<(), StoreError>;
    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError>;
    /// Revokes a key and every key created with it, down the chain, as of
    /// `now`; `false` when the tenant has no such key.
    async fn revoke_api_key(&self, id: &str, now: i64) -> Result<bool, StoreError>;
}

/// Lookups made before any tenant is known; the row found names the
/// tenant.
#[async_trait]
pub trait SignIn: Send + Sync {
    /// A member by email, with their tenant and password hash.
    async fn member_by_email(&self, email: &str) -> Result<Option<(TenantId, Member, String)>, StoreError>;
    /// An API key by the hash of its secret.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<(TenantId, ApiKey)>, StoreError>;
    /// Marks a refresh token used; a second use revokes its whole family.
    async fn use_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshUse, StoreError>;
    /// The workflow a hook token starts.
    async fn webhook_by_token(&self, token: &str) -> Result<Option<(TenantId, String)>, StoreError>;
    /// Failed sign-ins counted under each of `keys` in its window as of
    /// `now`; a window starts at a key's first failure and lasts
    /// `window_ms`.
    async fn sign_in_failures(&self, keys: &[&str], now: i64, window_ms: i64) -> Result<Vec<u32>, StoreError>;
    /// Counts one failed sign-in under each of `keys` (a window past its
    /// end starts again at `now`), and forgets windows that ended.
    async fn count_sign_in_failure(&self, keys: &[&str], now: i64, window_ms: i64) -> Result<(), StoreError>;
}
