//! Credentials: argon2 password hashes, random secret tokens stored as
//! SHA-256 hashes (API keys, refresh tokens), and short-lived JWT access
//! tokens.

use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::rand_core::RngCore;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::store::{ApiKey, Member, Role, Store, StoreError, TenantId, now_ms};

/// Prefix that marks an API key in an `Authorization` header.
pub const API_KEY_PREFIX: &str = "trk_";
const REFRESH_PREFIX: &str = "trr_";

#[derive(Debug, Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("a member with email `{0}` already exists")]
    EmailTaken(String),
    #[error("signing key: {0}")]
    Key(String),
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// Password hashing is the costliest work an unauthenticated caller can
/// ask for (argon2: 19 MiB and tens of milliseconds of a core each time).
/// It runs on the background runtime's lower-priority blocking threads,
/// never on the request runtime's workers, and on at most half the cores
/// at once, so a flood of sign-ins cannot stall the requests of callers who
/// are already signed in.
static PASSWORD_WORK: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    tokio::sync::Semaphore::new((cores / 2).max(1))
});

async fn password_work<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, AuthError> {
    let _permit = PASSWORD_WORK.acquire().await.map_err(|e| AuthError::Hash(e.to_string()))?;
    crate::background::runtime().spawn_blocking(work).await.map_err(|e| AuthError::Hash(e.to_string()))
}

/// [`verify_password`] within the bound on password work.
pub async fn verify_password_bounded(password: String, hash: String) -> Result<bool, AuthError> {
    password_work(move || verify_password(&password, &hash)).await
}

/// [`hash_password`] within the bound on password work.
pub async fn hash_password_bounded(password: String) -> Result<String, AuthError> {
    password_work(move || hash_password(&password)).await?
}

/// 256 random bits, URL-safe, with a prefix saying what the token is.
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Tokens with 256 bits of entropy need no slow hash: SHA-256 is enough and
/// lets a lookup find them by hash.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Member id.
    pub sub: String,
    pub tenant: String,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
}

/// Issues and checks access and refresh tokens.
#[derive(Clone)]
pub struct TokenService {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
}

impl TokenService {
    pub fn new(secret: &[u8]) -> Self {
        TokenService {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
        }
    }

    /// The signing secret from `TRELLIS_JWT_SECRET`, or a random one kept in
    /// `data_dir/jwt-secret` (created mode 0600 on first start).
    pub fn load_or_create(data_dir: &Path) -> Result<Self, AuthError> {
        if let Ok(secret) = std::env::var("TRELLIS_JWT_SECRET")
            && secret.len() >= 32
        {
            return Ok(Self::new(secret.as_bytes()));
        }
        let path = data_dir.join("jwt-secret");
        if let Some(secret) =
            crate::private_file::read(&path).map_err(|e| AuthError::Key(format!("{}: {e}", path.display())))?
        {
            return Ok(Self::new(&secret));
        }
        std::fs::create_dir_all(data_dir).map_err(|e| AuthError::Key(e.to_string()))?;
        let secret = new_token("");
        crate::private_file::create(&path, secret.as_bytes())
            .map_err(|e| AuthError::Key(format!("{}: {e}", path.display())))?;
        Ok(Self::new(secret.as_bytes()))
    }

    pub fn access_token(&self, tenant: &TenantId, member: &Member) -> Result<String, AuthError> {
        let now = now_ms() / 1000;
        let claims = Claims {
            sub: member.id.clone(),
            tenant: tenant.as_str().to_owned(),
            role: member.role,
            iat: now,
            exp: now + self.access_ttl_secs,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Key(e.to_string()))
    }

    /// Claims of a valid, unexpired access token.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok().map(|d| d.claims)
    }

    /// A new refresh token in `family`, stored hashed.
    pub async fn refresh_token(
        &self,
        store: &Store,
        tenant: &TenantId,
        member_id: &str,
        family: &str,
    ) -> Result<String, AuthError> {
        let token = new_token(REFRESH_PREFIX);
        let expires = now_ms() + self.refresh_ttl_secs * 1000;
        store.tenant(tenant.clone()).insert_refresh_token(member_id, family, &token_hash(&token), expires).await?;
        Ok(token)
    }
}

/// What `trellis admin create-tenant` hands the operator, once.
#[derive(Debug, Clone, Serialize)]
pub struct NewTenant {
    pub tenant_id: String,
    pub owner_email: String,
    pub owner_password: String,
    pub api_key: String,
}

/// Creates a tenant, its owner (with a random one-time password), an
/// owner API key, and installs the first-party plugins in it.
pub async fn create_tenant(store: &Store, name: &str, owner_email: &str) -> Result<NewTenant, AuthError> {
    let tenant = TenantId::new(uuid::Uuid::now_v7().to_string());
    let password = new_token("");
    let owner = Member {
        id: uuid::Uuid::now_v7().to_string(),
        email: owner_email.to_owned(),
        role: Role::Owner,
        password_change_required: true,
    };
    let api_key = new_token(API_KEY_PREFIX);
    let key = ApiKey {
        id: uuid::Uuid::now_v7().to_string(),
        name: "owner bootstrap key".to_owned(),
        role: Role::Owner,
        expires_at: None,
        revoked_at: None,
        created_at: now_ms(),
        created_by: None,
    };
    let installs = crate::first_party::default_installs();
    let seed = crate::store::TenantSeed {
        tenant: &tenant,
        name,
        owner: &owner,
        password_hash: &hash_password(&password)?,
        key: &key,
        key_hash: &token_hash(&api_key),
        installs: &installs,
    };
    let created = store.create_tenant(&seed).await?;
    if !created {
        return Err(AuthError::EmailTaken(owner_email.to_owned()));
    }
    Ok(NewTenant {
        tenant_id: tenant.as_str().to_owned(),
        owner_email: owner_email.to_owned(),
        owner_password: password,
        api_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a runtime with one thread, a verification must leave the thread
    /// to other tasks: the ticker ticks while it runs. Were argon2 to run
    /// on the thread itself, the ticker could not start before it ended.
    #[tokio::test(flavor = "current_thread")]
    async fn password_work_leaves_the_runtime_free() {
        let hash = hash_password("correct horse").unwrap();
        let ticks = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let ticker = tokio::spawn({
            let ticks = ticks.clone();
            async move {
                loop {
                    ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
            }
        });
        assert!(!verify_password_bounded("wrong horse".to_owned(), hash.clone()).await.unwrap());
        let ticked = ticks.load(std::sync::atomic::Ordering::Relaxed);
        ticker.abort();
        assert!(ticked >= 1, "the other task never ran during the verification");
        assert!(verify_password_bounded("correct horse".to_owned(), hash).await.unwrap());
        assert!(verify_password("correct horse", &hash_password_bounded("correct horse".to_owned()).await.unwrap()));
    }

    #[test]
    fn passwords_verify_only_with_the_right_secret() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn access_tokens_round_trip_and_reject_tampering() {
        let service = TokenService::new(b"0123456789abcdef0123456789abcdef");
        let member =
            Member { id: "m1".into(), email: "a@b.c".into(), role: Role::Editor, password_change_required: false };
        let token = service.access_token(&TenantId::new("t1"), &member).unwrap();
        let claims = service.verify(&token).unwrap();
        assert_eq!((claims.tenant.as_str(), claims.role), ("t1", Role::Editor));
        let other = TokenService::new(b"another secret that is long enough!!");
        assert!(other.verify(&token).is_none());
        assert!(service.verify(&format!("{token}x")).is_none());
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_token(API_KEY_PREFIX);
        assert!(a.starts_with("trk_") && a.len() > 40);
        assert_ne!(a, new_token(API_KEY_PREFIX));
        assert_eq!(token_hash(&a).len(), 64);
    }
}
