//! `trellis/fixer` against loopback fakes of Cloudflare and GitHub: the
//! header fixes for each server, a ruleset applied without losing the
//! tenant's own rules, and a pull request a retry does not open twice.

use serde_json::{Value, json};
use trellis_fake_providers::{FakeProviders, Reply as FakeReply, keys};
use trellis_host_api::FailureCode;
use trellis_plugin_artifacts::FIXER;

use crate::common::{load, runtime};
use crate::providers::{assert_no_secret, failed, invoke, output, provider_caps};

fn findings() -> Value {
    json!([
        {"test": "content-security-policy", "pass": false, "result": "csp-not-implemented", "modifier": -25},
        {"test": "strict-transport-security", "pass": false, "result": "hsts-not-implemented", "modifier": -20},
        {"test": "x-frame-options", "pass": false, "result": "x-frame-options-not-implemented", "modifier": -20},
        {"test": "referrer-policy", "pass": true, "result": "referrer-policy-private", "modifier": 5},
        {"test": "redirection", "pass": false, "result": "redirection-missing", "modifier": -20}
    ])
}

fn caps() -> trellis_host_api::Capabilities {
    provider_caps(&[("CLOUDFLARE_API_TOKEN", keys::CLOUDFLARE.to_owned()), ("GITHUB_TOKEN", keys::GITHUB.to_owned())])
}

#[tokio::test(flavor = "multi_thread")]
async fn fixes_are_applied_in_cloudflare_and_proposed_on_github() {
    let fake = FakeProviders::start().await;
    let runtime = runtime();
    let plugin = load(&runtime, FIXER);

    let fixed = invoke(&runtime, &plugin, "security-headers", json!({"findings": findings()}), "run-1", caps()).await;
    assert_eq!(fixed.emits[0].port, "fixes");
    let fix = output(&fixed).clone();
    assert_eq!(
        fix["headers"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["Content-Security-Policy", "Strict-Transport-Security", "X-Frame-Options"]
    );
    assert!(fix["nginx"].as_str().unwrap().contains("add_header X-Frame-Options \"SAMEORIGIN\" always;"));
    assert_eq!(fix["redirect_to_https"], true);

    // Applied twice (a retry): the tenant's own rule stays, ours is there once.
    let apply = json!({"zone_id": keys::CLOUDFLARE_ZONE, "api_token": "CLOUDFLARE_API_TOKEN", "rule": fix["cloudflare"],
        "always_use_https": true, "api_base": format!("{}/client/v4", fake.url())});
    for attempt in 0..2 {
        let applied = invoke(&runtime, &plugin, "cloudflare-apply", apply.clone(), "run-1", caps()).await;
        assert_eq!(output(&applied)["rules"], 2, "attempt {attempt}");
        assert_eq!(output(&applied)["replaced"], attempt == 1);
        assert_no_secret(&applied);
    }
    let (rules, always_https) = fake.cloudflare_zone();
    let refs: Vec<&str> = rules.iter().map(|r| r["ref"].as_str().unwrap()).collect();
    assert_eq!(refs, ["tenant_api_cors", "trellis_security_headers"]);
    assert_eq!(rules[1]["action_parameters"]["headers"]["X-Frame-Options"]["value"], "SAMEORIGIN");
    assert_eq!(always_https.as_deref(), Some("on"));
    let put = fake.requests().into_iter().rfind(|s| s.method == "PUT").unwrap();
    assert_eq!(put.header("authorization"), Some(format!("Bearer {}", keys::CLOUDFLARE).as_str()));

    let mut wrong_zone = apply.clone();
    wrong_zone["zone_id"] = json!("not-a-zone");
    assert!(
        failed(&invoke(&runtime, &plugin, "cloudflare-apply", wrong_zone, "run-2", caps()).await)
            .1
            .starts_with("config.zone_id")
    );
    let mut bad_token = apply.clone();
    bad_token["api_token"] = json!("WRONG_KEY");
    let (code, message) = failed(&invoke(&runtime, &plugin, "cloudflare-apply", bad_token, "run-3", caps()).await);
    assert_eq!(
        (code, message.as_str()),
        (FailureCode::InvalidConfig, "Cloudflare answered HTTP 403: Authentication error")
    );

    // The pull request: branch, file and PR once, whatever the retries.
    let pr = json!({"repo": keys::GITHUB_REPO, "token": "GITHUB_TOKEN", "path": "deploy/nginx/security-headers.conf",
        "content": fix["nginx"], "title": "Add security headers", "body": "Found by the nightly scan.", "api_base": fake.url()});
    let opened = invoke(&runtime, &plugin, "github-pr", pr.clone(), "run-1", caps()).await;
    let out = output(&opened).clone();
    assert_eq!((out["number"].as_u64(), out["created"].as_bool()), (Some(1), Some(true)), "{out}");
    assert_eq!(out["branch"], "trellis/run-1-node");
    assert_eq!(
        fake.github_file("trellis/run-1-node", "deploy/nginx/security-headers.conf").as_deref(),
        fix["nginx"].as_str()
    );
    let again = invoke(&runtime, &plugin, "github-pr", pr.clone(), "run-1", caps()).await;
    assert_eq!((output(&again)["number"].as_u64(), output(&again)["created"].as_bool()), (Some(1), Some(false)));
    assert_eq!(fake.github_pulls().len(), 1, "a retry opens no second pull request");
    let pulls = fake.requests_to("/repos/acme/infrastructure/pulls");
    assert!(
        pulls
            .iter()
            .all(|s| s.header("user-agent").is_some() && s.header("x-github-api-version") == Some("2022-11-28"))
    );

    fake.fail_next(
        "/repos/",
        FakeReply::json(403, json!({"message": "API rate limit exceeded"})).header("x-ratelimit-remaining", "0"),
    );
    assert_eq!(
        failed(&invoke(&runtime, &plugin, "github-pr", pr.clone(), "run-4", caps()).await).0,
        FailureCode::Retryable
    );
    let mut other_repo = pr.clone();
    other_repo["repo"] = json!("acme/missing");
    let (code, message) = failed(&invoke(&runtime, &plugin, "github-pr", other_repo, "run-5", caps()).await);
    assert_eq!((code, message.as_str()), (FailureCode::InvalidConfig, "GitHub answered HTTP 404: Not Found"));
    let mut escape = pr;
    escape["path"] = json!("../../etc/passwd");
    assert!(
        failed(&invoke(&runtime, &plugin, "github-pr", escape, "run-6", caps()).await).1.starts_with("config.path")
    );
}
