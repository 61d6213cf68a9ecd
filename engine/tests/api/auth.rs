//! Sign-in, refresh rotation and reuse detection, rate limits.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn login_refresh_rotation_and_reuse_detection() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;

    let (status, tokens) = s
        .call(
            Method::POST,
            "/v1/auth/login",
            None,
            Some(json!({"email": "owner@acme.test", "password": acme.owner_password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
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
