//! Sign-in, refresh rotation and reuse detection, rate limits.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn login_refresh_rotation_and_reuse_detection() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;

    let tokens = s.session("owner@acme.test", &acme.owner_password).await;
    let access = tokens["access_token"].as_str().unwrap();
    let (status, me) = s.call(Method::GET, "/v1/me", Some(access), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((me["tenant_id"].as_str(), me["role"].as_str()), (Some(acme.tenant_id.as_str()), Some("owner")));

    // Wrong password and unknown email answer alike.
    let (wrong, wrong_body) = s
        .call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "owner@acme.test", "password": "nope"})))
        .await;
    let (unknown, unknown_body) =
        s.call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "who@acme.test", "password": "nope"}))).await;
    assert_eq!((wrong, unknown), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    assert_eq!(wrong_body, unknown_body);

    // Refresh rotates; presenting the old token again revokes the family.
    let first = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = s.call(Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!(status, StatusCode::OK);
    let second = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(first, second);
    let (status, _) = s.call(Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": first}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s.call(Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": second}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the whole family is revoked after a reuse");

    // Garbage credentials.
    for token in ["trk_not-a-key", "not.a.jwt", ""] {
        let (status, body) = s.call(Method::GET, "/v1/me", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_sign_ins_are_rate_limited() {
    let s = server().await;
    s.tenant("owner@acme.test").await;
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        (last, _) = s
            .call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "owner@acme.test", "password": "x"})))
            .await;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

/// Expired credentials are refused on the next request: an access token
/// past its `exp` (no leeway) and an API key past its expiry, while the
/// same member's fresh token and an unexpired key are served.
#[tokio::test(flavor = "multi_thread")]
async fn expired_access_tokens_and_api_keys_are_refused() {
    use trellis_engine::auth::TokenService;
    use trellis_engine::store::Member;
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    s.session("owner@acme.test", &acme.owner_password).await;
    let (_, members) = s.call(Method::GET, "/v1/members", Some(&acme.api_key), None).await;
    let member: Member = serde_json::from_value(members["members"][0].clone()).unwrap();
    let tenant = TenantId::new(&acme.tenant_id);
    // The test server signs with this secret (`common::server_with`).
    let fresh = TokenService::new(b"test secret that is long enough to sign");
    let mut expired = fresh.clone();
    expired.access_ttl_secs = -1;
    let token = fresh.access_token(&tenant, &member).unwrap();
    assert_eq!(s.call(Method::GET, "/v1/me", Some(&token), None).await.0, StatusCode::OK);
    let token = expired.access_token(&tenant, &member).unwrap();
    assert_eq!(s.call(Method::GET, "/v1/me", Some(&token), None).await.0, StatusCode::UNAUTHORIZED);

    let key_expiring = |offset_ms: i64| {
        let s = &s;
        let tenant = tenant.clone();
        async move {
            let token = trellis_engine::auth::new_token(trellis_engine::auth::API_KEY_PREFIX);
            let key = ApiKey {
                id: uuid::Uuid::now_v7().to_string(),
                name: "timed".into(),
                role: Role::Viewer,
                expires_at: Some(now_ms() + offset_ms),
                revoked_at: None,
                created_at: now_ms(),
                created_by: None,
            };
            s.store.tenant(tenant).insert_api_key(&key, &trellis_engine::auth::token_hash(&token)).await.unwrap();
            token
        }
    };
    let live = key_expiring(3_600_000).await;
    assert_eq!(s.call(Method::GET, "/v1/me", Some(&live), None).await.0, StatusCode::OK);
    let dead = key_expiring(-1).await;
    assert_eq!(s.call(Method::GET, "/v1/me", Some(&dead), None).await.0, StatusCode::UNAUTHORIZED);
}

/// A one-time password only opens the way to choosing one's own: until then
/// the session reaches nothing else. The change needs the current password,
/// is audited, and signs out the member's other sessions.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_time_password_must_be_changed_before_anything_else() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let login = |password: &str| json!({"email": "owner@acme.test", "password": password});
    let (status, first) = s.call(Method::POST, "/v1/auth/login", None, Some(login(&acme.owner_password))).await;
    assert_eq!((status, &first["password_change_required"]), (StatusCode::OK, &json!(true)), "{first}");
    let token = first["access_token"].as_str().unwrap();
    for (method, path) in [(Method::GET, "/v1/me"), (Method::GET, "/v1/workflows"), (Method::GET, "/v1/members")] {
        let (status, refused) = s.call(method, path, Some(token), None).await;
        assert_eq!((status, &refused["error"]["code"]), (StatusCode::FORBIDDEN, &json!("password_change_required")));
    }

    let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let path = "/v1/me/password";
    let (status, refused) =
        s.call(Method::POST, path, Some(token), Some(change("guess", "a long new passphrase"))).await;
    assert_eq!((status, &refused["error"]["code"]), (StatusCode::FORBIDDEN, &json!("wrong_password")));
    let (status, refused) = s.call(Method::POST, path, Some(token), Some(change(&acme.owner_password, "short"))).await;
    assert_eq!((status, &refused["error"]["details"]["path"]), (StatusCode::BAD_REQUEST, &json!("new_password")));
    let same = change(&acme.owner_password, &acme.owner_password);
    assert_eq!(s.call(Method::POST, path, Some(token), Some(same)).await.0, StatusCode::BAD_REQUEST);
    let (status, refused) = s
        .call(Method::POST, path, Some(&acme.api_key), Some(change(&acme.owner_password, "a long new passphrase")))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an API key has no password: {refused}");

    let (status, _) =
        s.call(Method::POST, path, Some(token), Some(change(&acme.owner_password, "a long new passphrase"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // The session from before the change can no longer be refreshed.
    let (status, _) =
        s.call(Method::POST, "/v1/auth/refresh", None, Some(json!({"refresh_token": first["refresh_token"]}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The one-time password is gone; the new one signs in to a full session.
    assert_eq!(
        s.call(Method::POST, "/v1/auth/login", None, Some(login(&acme.owner_password))).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, session) = s.call(Method::POST, "/v1/auth/login", None, Some(login("a long new passphrase"))).await;
    assert_eq!((status, &session["password_change_required"]), (StatusCode::OK, &json!(false)));
    let (status, me) = s.call(Method::GET, "/v1/me", Some(session["access_token"].as_str().unwrap()), None).await;
    assert_eq!((status, &me["role"]), (StatusCode::OK, &json!("owner")));

    let (_, audit) = s.call(Method::GET, "/v1/audit", Some(&acme.api_key), None).await;
    let changes: Vec<&Value> =
        audit["entries"].as_array().unwrap().iter().filter(|e| e["action"] == "auth.password_change").collect();
    assert_eq!(changes.len(), 1, "{audit}");
    assert!(!audit.to_string().contains("a long new passphrase"));
}
