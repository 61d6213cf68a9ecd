//! Tenants, members, API keys and refresh tokens.

use crate::{RefreshUse, Role, Store, TenantId, TenantSeed};

use super::{install, key, member, seed};

pub async fn tenants_members_and_sign_in_lookups(store: &Store) {
    assert!(!store.has_tenants().await.unwrap());
    let acme = seed(store, "acme").await;
    assert!(store.has_tenants().await.unwrap());
    // A second tenant whose owner's email is taken is not created at all.
    let taken = member("someone", "owner@acme", Role::Owner);
    let globex = TenantId::new("globex");
    let refused = TenantSeed {
        tenant: &globex,
        name: "globex",
        owner: &taken,
        password_hash: "hash",
        key: &key("k-globex", Role::Admin, None),
        key_hash: "hash-globex",
        installs: &[],
    };
    assert!(!store.create_tenant(&refused).await.unwrap());
    assert_eq!(store.tenant(globex.clone()).stored_plan().await.unwrap(), None, "no tenant row was left");
    assert_eq!(store.api_key_by_hash("hash-globex").await.unwrap(), None, "nor its key");

    let (tenant, found, hash) = store.member_by_email("owner@acme").await.unwrap().unwrap();
    assert_eq!((tenant.as_str(), found.role, hash.as_str()), ("acme", Role::Owner, "hash"));
    assert!(found.password_change_required);
    assert_eq!(store.member_by_email("nobody@acme").await.unwrap(), None);
    let (tenant, found) = store.api_key_by_hash("hash-acme").await.unwrap().unwrap();
    assert_eq!((tenant.as_str(), found.id.as_str()), ("acme", "k-acme"));

    let handle = store.tenant(acme);
    assert_eq!(handle.installs().await.unwrap(), [install("trellis/core")]);
    let editor = member("m2", "editor@acme", Role::Editor);
    assert!(handle.insert_member(&editor, "h2").await.unwrap());
    assert!(!handle.insert_member(&member("m3", "editor@acme", Role::Viewer), "h3").await.unwrap(), "email taken");
    assert_eq!(handle.list_members().await.unwrap().len(), 2);
    assert_eq!(handle.count_owners().await.unwrap(), 1);
    assert!(handle.set_member_role("m2", Role::Admin).await.unwrap());
    assert!(!handle.set_member_role("nobody", Role::Admin).await.unwrap());
    assert_eq!(handle.member("m2").await.unwrap().unwrap().role, Role::Admin);
    assert!(handle.set_password("m2", "h2b").await.unwrap());
    assert_eq!(handle.password_hash("m2").await.unwrap().as_deref(), Some("h2b"));
    assert!(!handle.member("m2").await.unwrap().unwrap().password_change_required, "a new password clears it");
    assert!(handle.delete_member("m2").await.unwrap());
    assert!(!handle.delete_member("m2").await.unwrap());
    assert_eq!(store.member_by_email("editor@acme").await.unwrap(), None);
}

pub async fn api_keys_revoke_down_their_lineage(store: &Store) {
    let tenant = seed(store, "acme").await;
    let handle = store.tenant(tenant);
    handle.insert_member(&member("m", "m@acme", Role::Admin), "h").await.unwrap();
    // m made a, a made b, b made c; d is unrelated.
    handle.insert_api_key(&key("a", Role::Admin, Some("member:m")), "hash-a").await.unwrap();
    handle.insert_api_key(&key("b", Role::Editor, Some("key:a")), "hash-b").await.unwrap();
    handle.insert_api_key(&key("c", Role::Viewer, Some("key:b")), "hash-c").await.unwrap();
    handle.insert_api_key(&key("d", Role::Viewer, None), "hash-d").await.unwrap();
    assert!(handle.revoke_api_key("b", 42).await.unwrap());
    assert!(!handle.revoke_api_key("nope", 42).await.unwrap());
    let revoked = |keys: &[crate::ApiKey], id: &str| keys.iter().find(|k| k.id == id).unwrap().revoked_at;
    let keys = handle.list_api_keys().await.unwrap();
    assert_eq!((revoked(&keys, "a"), revoked(&keys, "b"), revoked(&keys, "c")), (None, Some(42), Some(42)));
    // Removing the member revokes what it made, down the chain; an earlier
    // revocation keeps its time.
    assert!(handle.delete_member("m").await.unwrap());
    let keys = handle.list_api_keys().await.unwrap();
    assert!(revoked(&keys, "a").is_some());
    assert_eq!(revoked(&keys, "c"), Some(42));
    assert_eq!(revoked(&keys, "d"), None);
    let (_, seen) = store.api_key_by_hash("hash-c").await.unwrap().unwrap();
    assert_eq!(seen.revoked_at, Some(42));
}

pub async fn refresh_tokens_are_single_use_and_a_reuse_revokes_the_family(store: &Store) {
    let tenant = seed(store, "acme").await;
    let handle = store.tenant(tenant);
    handle.insert_refresh_token("owner-acme", "f1", "t1", 1_000).await.unwrap();
    handle.insert_refresh_token("owner-acme", "f1", "t2", 1_000).await.unwrap();
    handle.insert_refresh_token("owner-acme", "f2", "t3", 10).await.unwrap();
    let fresh = RefreshUse::Fresh { tenant_id: "acme".into(), member_id: "owner-acme".into(), family: "f1".into() };
    assert_eq!(store.use_refresh_token("t1", 500).await.unwrap(), fresh);
    assert_eq!(store.use_refresh_token("t1", 500).await.unwrap(), RefreshUse::Reused);
    assert_eq!(store.use_refresh_token("t2", 500).await.unwrap(), RefreshUse::Invalid, "its family is revoked");
    assert_eq!(store.use_refresh_token("t3", 500).await.unwrap(), RefreshUse::Invalid, "expired");
    assert_eq!(store.use_refresh_token("unknown", 500).await.unwrap(), RefreshUse::Invalid);
    // A new password signs the member out of every session.
    handle.insert_refresh_token("owner-acme", "f3", "t4", 1_000).await.unwrap();
    handle.set_password("owner-acme", "new").await.unwrap();
    assert_eq!(store.use_refresh_token("t4", 500).await.unwrap(), RefreshUse::Invalid);
}
