//! Privilege changes hold from the next request; no key or member above
//! one's own role can be touched; no key outlives the key that made it.

use crate::common::*;

impl Server {
    /// Adds a member with `role` and signs them in: (member id, access token).
    async fn signed_in_member(&self, owner: &str, email: &str, role: &str) -> (String, String) {
        let (status, added) =
            self.call(Method::POST, "/v1/members", Some(owner), Some(json!({"email": email, "role": role}))).await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        let tokens = self.session(email, added["password"].as_str().unwrap()).await;
        (added["member"]["id"].as_str().unwrap().to_owned(), tokens["access_token"].as_str().unwrap().to_owned())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_demoted_or_removed_member_loses_access_on_the_next_request() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let owner = acme.api_key.as_str();
    let (admin_id, admin_token) = s.signed_in_member(owner, "admin@acme.test", "admin").await;

    // While an admin, they made a key: removing them later revokes it too.
    let (status, made) =
        s.call(Method::POST, "/v1/api-keys", Some(&admin_token), Some(json!({"name": "mine", "role": "editor"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let their_key = made["secret"].as_str().unwrap().to_owned();

    let (status, _) =
        s.call(Method::PATCH, &format!("/v1/members/{admin_id}"), Some(owner), Some(json!({"role": "viewer"}))).await;
    assert_eq!(status, StatusCode::OK);
    // The old access token now acts as a viewer.
    let escalate =
        s.call(Method::POST, "/v1/api-keys", Some(&admin_token), Some(json!({"name": "up", "role": "admin"})));
    let (status, _) = s.during(&bystander, escalate).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a demoted admin still minted an admin key");
    let (_, me) = s.call(Method::GET, "/v1/me", Some(&admin_token), None).await;
    assert_eq!(me["role"], "viewer");

    let (_, editor_token) = s.signed_in_member(owner, "editor@acme.test", "editor").await;
    let (status, _) = s.call(Method::GET, "/v1/workflows", Some(&their_key), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s.call(Method::DELETE, &format!("/v1/members/{admin_id}"), Some(owner), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for token in [&admin_token, &their_key] {
        let (status, _) = s.call(Method::GET, "/v1/workflows", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a removed member's token or key still works");
    }
    // A removed member can no longer save workflows either.
    let editor_id = {
        let (_, members) = s.call(Method::GET, "/v1/members", Some(owner), None).await;
        members["members"].as_array().unwrap().iter().find(|m| m["email"] == "editor@acme.test").unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    s.call(Method::DELETE, &format!("/v1/members/{editor_id}"), Some(owner), None).await;
    let (status, _) =
        s.call(Method::POST, "/v1/workflows", Some(&editor_token), Some(serde_json::from_str(WORKFLOW).unwrap())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_is_revoked_above_ones_role_nor_outlives_its_creator() {
    let s = server().await;
    let bystander = s.bystander().await;
    let acme = s.tenant("owner@acme.test").await;
    let owner = acme.api_key.as_str();
    let admin = s.key(&acme.tenant_id, Role::Admin).await;

    // An admin cannot revoke the owner's key.
    let (_, keys) = s.call(Method::GET, "/v1/api-keys", Some(owner), None).await;
    let owner_key_id = keys["api_keys"].as_array().unwrap().iter().find(|k| k["role"] == "owner").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/api-keys/{owner_key_id}");
    let revoke_owner = s.call(Method::DELETE, &path, Some(&admin), None);
    let (status, error) = s.during(&bystander, revoke_owner).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{error}");
    let (status, _) = s.call(Method::GET, "/v1/me", Some(owner), None).await;
    assert_eq!(status, StatusCode::OK);

    // A short-lived key makes a key asking for a year: it gets the parent's expiry.
    let (_, parent) = s
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&admin),
            Some(json!({"name": "p", "role": "admin", "expires_in_days": 1})),
        )
        .await;
    let parent_secret = parent["secret"].as_str().unwrap().to_owned();
    let parent_id = parent["api_key"]["id"].as_str().unwrap().to_owned();
    let (_, child) = s
        .call(
            Method::POST,
            "/v1/api-keys",
            Some(&parent_secret),
            Some(json!({"name": "c", "role": "editor", "expires_in_days": 365})),
        )
        .await;
    assert_eq!(child["api_key"]["expires_at"], parent["api_key"]["expires_at"], "{child}");
    let (_, grandchild) =
        s.call(Method::POST, "/v1/api-keys", Some(&parent_secret), Some(json!({"name": "g", "role": "admin"}))).await;
    let grandchild_secret = grandchild["secret"].as_str().unwrap().to_owned();
    let (_, great) = s
        .call(Method::POST, "/v1/api-keys", Some(&grandchild_secret), Some(json!({"name": "gg", "role": "viewer"})))
        .await;
    let child_secret = child["secret"].as_str().unwrap().to_owned();
    let great_secret = great["secret"].as_str().unwrap().to_owned();
    assert_eq!(great["api_key"]["created_by"], format!("key:{}", grandchild["api_key"]["id"].as_str().unwrap()));

    // Revoking the parent revokes everything made with it, down the chain.
    let (status, _) = s.call(Method::DELETE, &format!("/v1/api-keys/{parent_id}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for secret in [&parent_secret, &child_secret, &grandchild_secret, &great_secret] {
        let (status, _) = s.call(Method::GET, "/v1/me", Some(secret), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = s.call(Method::GET, "/v1/me", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK, "the revoking key itself is untouched");
}
