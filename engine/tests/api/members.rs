//! API keys, members and the audit log.

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_members_and_the_audit_log() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let globex = s.tenant("owner@globex.test").await;
    let owner = acme.api_key.as_str();
    let admin = s.key(&acme.tenant_id, Role::Admin).await;

    // Keys: created with the secret shown once, listed without it, revocable.
    let (status, created) =
        s.call(Method::POST, "/v1/api-keys", Some(&admin), Some(json!({"name": "ci", "role": "editor"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let key_id = created["api_key"]["id"].as_str().unwrap().to_owned();
    let (_, me) = s.call(Method::GET, "/v1/me", Some(&secret), None).await;
    assert_eq!(me["role"], "editor");
    let (_, listed) = s.call(Method::GET, "/v1/api-keys", Some(&admin), None).await;
    assert!(!listed.to_string().contains(&secret), "secrets are never listed");
    assert!(listed["api_keys"].as_array().unwrap().iter().any(|k| k["id"] == key_id.as_str()));
    let (status, _) =
        s.call(Method::POST, "/v1/api-keys", Some(&admin), Some(json!({"name": "up", "role": "owner"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "an admin cannot mint an owner key");
    let (status, _) = s.call(Method::GET, "/v1/api-keys", Some(&secret), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "editors do not manage keys");
    let (status, _) = s.call(Method::DELETE, &format!("/v1/api-keys/{key_id}"), Some(&globex.api_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another tenant's key");
    let (status, _) = s.call(Method::DELETE, &format!("/v1/api-keys/{key_id}"), Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(Method::GET, "/v1/me", Some(&secret), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked key stops working");

    // Members: one-time password, sign-in works, emails are unique.
    let (status, added) = s
        .call(Method::POST, "/v1/members", Some(owner), Some(json!({"email": "Ops@Acme.test", "role": "operator"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let password = added["password"].as_str().unwrap();
    let (status, _) = s
        .call(Method::POST, "/v1/auth/login", None, Some(json!({"email": "ops@acme.test", "password": password})))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = s
        .call(Method::POST, "/v1/members", Some(owner), Some(json!({"email": "ops@acme.test", "role": "viewer"})))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, members) = s.call(Method::GET, "/v1/members", Some(owner), None).await;
    assert_eq!(members["members"].as_array().unwrap().len(), 2);

    // The audit log saw all of it, and only this tenant sees it.
    s.call(Method::POST, "/v1/workflows", Some(owner), Some(serde_json::from_str(WORKFLOW).unwrap())).await;
    s.call(Method::POST, "/v1/workflows/greet/runs?wait=10", Some(owner), Some(json!({}))).await;
    let (status, audit) = s.call(Method::GET, "/v1/audit", Some(owner), None).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for action in ["api_key.create", "api_key.revoke", "member.add", "auth.login", "workflow.create", "run.start"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    let (_, other) = s.call(Method::GET, "/v1/audit", Some(&globex.api_key), None).await;
    assert_eq!(other["entries"], json!([]));
    let viewer = s.key(&acme.tenant_id, Role::Viewer).await;
    let (status, _) = s.call(Method::GET, "/v1/audit", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread")]
async fn role_changes_and_removals_respect_rank_keep_an_owner_and_are_audited() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let owner = acme.api_key.as_str();
    let admin = s.key(&acme.tenant_id, Role::Admin).await;
    let (_, me) = s.call(Method::GET, "/v1/me", Some(owner), None).await;
    let (_, members) = s.call(Method::GET, "/v1/members", Some(owner), None).await;
    let owner_id = members["members"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(me["tenant_id"], acme.tenant_id.as_str());

    let (_, added) = s
        .call(Method::POST, "/v1/members", Some(owner), Some(json!({"email": "ops@acme.test", "role": "operator"})))
        .await;
    let ops_id = added["member"]["id"].as_str().unwrap().to_owned();
    let password = added["password"].as_str().unwrap().to_owned();
    let ops_path = format!("/v1/members/{ops_id}");

    // An admin promotes up to admin, not to owner, and cannot touch the owner.
    let (status, changed) = s.call(Method::PATCH, &ops_path, Some(&admin), Some(json!({"role": "editor"}))).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["member"]["role"], "editor");
    let (status, _) = s.call(Method::PATCH, &ops_path, Some(&admin), Some(json!({"role": "owner"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let owner_path = format!("/v1/members/{owner_id}");
    let (status, _) = s.call(Method::PATCH, &owner_path, Some(&admin), Some(json!({"role": "viewer"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = s.call(Method::DELETE, &owner_path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The last owner stays an owner.
    let (status, body) = s.call(Method::PATCH, &owner_path, Some(owner), Some(json!({"role": "admin"}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("last_owner")));

    // The new role shows at the next refresh; a removed member cannot refresh.
    let session = s.session("ops@acme.test", &password).await;
    let (_, me) = s.call(Method::GET, "/v1/me", Some(session["access_token"].as_str().unwrap()), None).await;
    assert_eq!(me["role"], "editor");
    let (status, _) = s.call(Method::DELETE, &ops_path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let refresh = json!({"refresh_token": session["refresh_token"]});
    let (status, _) = s.call(Method::POST, "/v1/auth/refresh", None, Some(refresh)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s.call(Method::DELETE, &ops_path, Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, audit) = s.call(Method::GET, "/v1/audit", Some(owner), None).await;
    let actions: Vec<&str> =
        audit["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"member.role_change") && actions.contains(&"member.remove"), "{actions:?}");
}
