//! `trellis/security-scan` through the sandbox against sites on loopback:
//! headers graded by the Observatory's algorithm, exposed files with a
//! soft-404 baseline, TLS with certificates from a fake CT log, and
//! twelve real nuclei templates against a vulnerable and a clean server.

use std::sync::Arc;

use serde_json::{Value, json};
use trellis_fake_providers::FakeProviders;
use trellis_host_api::{Execution, FailureCode};
use trellis_plugin_artifacts::SECURITY_SCAN;

use crate::common::{Reply, load, runtime, serve};
use crate::providers::provider_caps;

/// The component, compiled once per test.
struct Scanner {
    runtime: trellis_host_api::Runtime,
    plugin: trellis_host_api::Plugin,
}

fn scanner() -> Scanner {
    let runtime = runtime();
    let plugin = load(&runtime, SECURITY_SCAN);
    Scanner { runtime, plugin }
}

impl Scanner {
    async fn scan(&self, kind: &str, config: Value) -> Execution {
        crate::providers::invoke(&self.runtime, &self.plugin, kind, config, "run-1", provider_caps(&[])).await
    }
}

fn finding<'a>(out: &'a Value, test: &str) -> &'a Value {
    out["findings"].as_array().unwrap().iter().find(|f| f["test"] == test).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_are_graded_like_the_observatory() {
    let scanner = scanner();
    let hardened = serve(Arc::new(|method, _target, _| {
        let reply = Reply::new(200, "<html><head><title>ok</title></head><body>hi</body></html>")
            .header("content-type", "text/html; charset=utf-8")
            .header("content-security-policy", "default-src 'self'; frame-ancestors 'none'")
            .header("x-frame-options", "DENY")
            .header("x-content-type-options", "nosniff")
            .header("referrer-policy", "no-referrer")
            .header("set-cookie", "theme=dark; Secure; SameSite=Lax");
        if method == http::Method::OPTIONS {
            reply.header("access-control-allow-origin", "https://partner.example")
        } else {
            reply
        }
    }))
    .await;
    let graded = scanner.scan("headers", json!({"url": format!("http://{hardened}/"), "timeout_ms": 1000})).await;
    assert!(graded.succeeded(), "{:?}", graded.report.failure);
    let out = &graded.emits[0].data;
    // No HTTPS on loopback: -20 (HSTS) and -20 (no redirect to HTTPS) leave
    // 60, so no bonus counts.
    assert_eq!((out["score"].as_i64(), out["grade"].as_str()), (Some(60), Some("C+")), "{out:#}");
    assert_eq!(finding(out, "content-security-policy")["result"], "csp-implemented-with-no-unsafe");
    assert_eq!(finding(out, "content-security-policy")["modifier"], 5);
    assert_eq!(finding(out, "strict-transport-security")["result"], "hsts-not-implemented-no-https");
    assert_eq!(finding(out, "redirection")["result"], "redirection-missing");
    assert_eq!(finding(out, "cookies")["result"], "cookies-secure-with-httponly-sessions-and-samesite");
    assert_eq!(
        finding(out, "cross-origin-resource-sharing")["result"],
        "cross-origin-resource-sharing-implemented-with-restricted-access"
    );
    assert!(!finding(out, "strict-transport-security")["recommendation"].as_str().unwrap().is_empty());
    assert_eq!(out["findings"].as_array().unwrap().len(), 12);
    assert_eq!(out["response_headers"]["x-frame-options"], "DENY");

    let careless = serve(Arc::new(|_, _, _| {
        Reply::new(200, "<html><script src=\"http://cdn.other.net/x.js\"></script></html>")
            .header("content-type", "text/html")
            .header("set-cookie", "sessionid=abc; Path=/")
            .header("access-control-allow-origin", "https://http-observatory.security.mozilla.org")
            .header("access-control-allow-credentials", "true")
    }))
    .await;
    let graded = scanner.scan("headers", json!({"url": format!("http://{careless}"), "timeout_ms": 1000})).await;
    let out = &graded.emits[0].data;
    assert_eq!((out["score"].as_i64(), out["grade"].as_str()), (Some(0), Some("F")));
    assert_eq!(finding(out, "cookies")["result"], "cookies-session-without-secure-flag");
    assert_eq!(finding(out, "cross-origin-resource-sharing")["modifier"], -50);
    assert_eq!(
        finding(out, "subresource-integrity")["result"],
        "sri-not-implemented-and-external-scripts-not-loaded-securely"
    );

    let down = scanner.scan("headers", json!({"url": "http://127.0.0.1:9"})).await;
    assert_eq!(down.failure().unwrap().code, FailureCode::Retryable, "{:?}", down.failure());
    let bad = scanner.scan("headers", json!({"url": "ftp://acme.dev"})).await;
    assert_eq!(bad.failure().unwrap().code, FailureCode::InvalidConfig);
}

#[tokio::test(flavor = "multi_thread")]
async fn exposed_files_need_real_content_not_a_soft_404() {
    let scanner = scanner();
    let leaky = serve(Arc::new(|_, target, _| match target.as_str() {
        "/.git/HEAD" => Reply::new(200, "ref: refs/heads/main\n"),
        "/.env" => Reply::new(200, "APP_KEY=base64:s3cr3t\nDB_PASSWORD=hunter2\n"),
        // A page that claims to be a backup but is the site's 404 page.
        _ => Reply::new(200, "<html><body>Page not found</body></html>").header("content-type", "text/html"),
    }))
    .await;
    let found = scanner.scan("exposed-files", json!({"url": format!("http://{leaky}")})).await;
    assert!(found.succeeded(), "{:?}", found.report.failure);
    assert_eq!(found.emits[0].port, "found");
    let ids: Vec<&str> =
        found.emits[0].data["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["git-head", "env"]);
    let record = serde_json::to_string(&found.emits).unwrap();
    assert!(!record.contains("hunter2") && !record.contains("s3cr3t"), "evidence never copies the leak: {record}");

    // Everything answers the same git-looking body: the baseline shows it
    // is the site's catch-all page, not a repository.
    let catch_all = serve(Arc::new(|_, _, _| Reply::new(200, "ref: refs/heads/main\n"))).await;
    let soft = scanner.scan("exposed-files", json!({"url": format!("http://{catch_all}")})).await;
    assert_eq!(soft.emits[0].port, "clean", "{:?}", soft.emits);

    let tidy = serve(Arc::new(|_, _, _| Reply::new(404, "not found"))).await;
    let clean =
        scanner.scan("exposed-files", json!({"url": format!("http://{tidy}"), "only": ["env", "git-head"]})).await;
    assert_eq!((clean.emits[0].port.as_str(), clean.emits[0].data["checked"].as_u64()), ("clean", Some(2)));
    let unknown = scanner.scan("exposed-files", json!({"url": format!("http://{tidy}"), "only": ["nope"]})).await;
    assert!(unknown.failure().unwrap().message.starts_with("config.only[0]: no check `nope`"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_reads_the_certificate_from_certificate_transparency() {
    let scanner = scanner();
    let fake = FakeProviders::start().await;
    fake.certificate("127.0.0.1", "C=US, O=Let's Encrypt, CN=R11", 9);
    let site = serve(Arc::new(|_, _, _| Reply::new(200, "plain http"))).await;
    let checked =
        scanner.scan("tls", json!({"url": format!("http://{site}"), "ct_api_base": fake.url(), "warn_days": 14})).await;
    assert!(checked.succeeded(), "{:?}", checked.report.failure);
    assert_eq!(checked.emits[0].port, "attention");
    let out = &checked.emits[0].data;
    assert_eq!(out["https_reachable"], false);
    assert_eq!(out["redirects_to_https"], false);
    assert_eq!(out["certificate"]["issuer"], "C=US, O=Let's Encrypt, CN=R11", "the current, not the expired one");
    assert_eq!(out["certificate"]["days_left"], 9);
    let problems = out["problems"].as_array().unwrap();
    assert!(problems.iter().any(|p| p == "the certificate expires in 9 days"), "{problems:?}");
    assert!(problems.iter().any(|p| p == "HTTP does not redirect to HTTPS"), "{problems:?}");
    assert!(fake.requests().iter().any(|s| s.path == "/" && s.query == "q=127.0.0.1&output=json"));

    fake.certificate("127.0.0.1", "Sectigo RSA Domain Validation", 200);
    let spotter = scanner
        .scan("tls", json!({"url": format!("http://{site}"), "ct_api_base": fake.url(), "ct_source": "certspotter"}))
        .await;
    let out = &spotter.emits[0].data;
    assert_eq!(
        (out["certificate"]["issuer"].as_str(), out["certificate"]["days_left"].as_i64()),
        (Some("Sectigo RSA Domain Validation"), Some(200))
    );
    assert!(fake.requests().iter().any(|s| s.path == "/v1/issuances" && s.query.starts_with("domain=127.0.0.1")));
}

fn vendored_templates() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sandbox/nuclei-templates");
    let mut templates: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    templates.sort();
    templates
}

#[tokio::test(flavor = "multi_thread")]
async fn twelve_nuclei_templates_find_a_vulnerable_server_and_pass_a_clean_one() {
    let scanner = scanner();
    let vulnerable = serve(Arc::new(|_, target, _| {
        let text = |body: &str| Reply::new(200, body.to_owned()).header("content-type", "text/plain");
        match target.as_str() {
            "/" => Reply::new(200, "<html>welcome</html>")
                .header("content-type", "text/html")
                .header("server", "Apache/2.4.41 (Ubuntu)")
                .header("via", "1.1 nginx/1.18.0"),
            "/?pretty" => {
                Reply::new(200, "{\n  \"name\" : \"node-1\",\n  \"version\" : {\n    \"number\" : \"7.10.2\"\n  }\n}")
                    .header("content-type", "application/json")
            }
            "/.svn/entries" => text("10\n\ndir\n0\nsvn://svn.example.org/repo\n"),
            "/.vscode/" => Reply::new(200, "<html><title>Index of /.vscode</title></html>"),
            "/.hg/hgrc" => text("[paths]\ndefault = https://hg.example.org/repo\n"),
            "/.bzr/branch/branch.conf" => text("parent_location = bzr+ssh://example.org/trunk/\n"),
            "/_darcs/prefs/binaries" => text("# Binary file regexps:\n\\.png$\n"),
            "/BitKeeper/etc/config" => {
                text("# BitKeeper configuration\nlogging: none\nemail: ops@example.org\ndescription: repo\n")
            }
            "/behat.yml" => text("default:\n  suites:\n    default:\n      paths: [features]\n"),
            "/.esmtprc" => text("hostname = smtp.example.org:587\nusername = \"ops\"\npassword = \"pw\"\n"),
            "/config/" => Reply::new(200, "<html><h1>Index of /config</h1><a href=\"/\">Parent Directory</a></html>"),
            _ => Reply::new(404, "not found"),
        }
    }))
    .await;
    let clean = serve(Arc::new(|_, target, _| match target.as_str() {
        "/" | "/?pretty" => {
            Reply::new(200, "<html>welcome</html>").header("content-type", "text/html").header("server", "hidden")
        }
        _ => Reply::new(404, "<html>not found</html>").header("content-type", "text/html"),
    }))
    .await;
    let templates = vendored_templates();
    assert_eq!(templates.len(), 12);
    let texts: Vec<&String> = templates.iter().map(|(_, t)| t).collect();

    let found = scanner.scan("template", json!({"url": format!("http://{vulnerable}"), "templates": texts})).await;
    assert!(found.succeeded(), "{:?}", found.report.failure);
    assert_eq!(found.emits[0].port, "matched");
    let out = &found.emits[0].data;
    let mut matched: Vec<&str> =
        out["matches"].as_array().unwrap().iter().map(|m| m["template"].as_str().unwrap()).collect();
    matched.sort_unstable();
    let mut expected: Vec<&str> = templates.iter().map(|(name, _)| name.trim_end_matches(".yaml")).collect();
    expected.sort_unstable();
    assert_eq!(matched, expected, "every template finds its flaw once");
    let by_id = |id: &str| out["matches"].as_array().unwrap().iter().find(|m| m["template"] == id).unwrap().clone();
    assert_eq!(by_id("elasticsearch")["extracted"]["extracted"], json!(["7.10.2"]));
    assert_eq!(by_id("elasticsearch")["matched_at"], format!("http://{vulnerable}/?pretty"));
    assert_eq!(by_id("apache-detect")["extracted"]["extracted"], json!(["Apache/2.4.41 (Ubuntu)"]));
    assert_eq!(by_id("nginx-version")["extracted"]["extracted"], json!(["nginx/1.18.0"]));
    assert_eq!(by_id("esmtprc-config")["severity"], "high");

    let passed = scanner.scan("template", json!({"url": format!("http://{clean}"), "templates": texts})).await;
    assert!(passed.succeeded(), "{:?}", passed.report.failure);
    assert_eq!(passed.emits[0].port, "clean", "{:?}", passed.emits[0].data);

    // What one node may ask of the scanner is bounded before any request.
    let many: Vec<&String> = std::iter::repeat_n(texts[0], 51).collect();
    let refused = scanner.scan("template", json!({"url": format!("http://{clean}"), "templates": many})).await;
    assert_eq!(refused.failure().unwrap().message, "config.templates: give 1 to 50 templates");
    let huge = format!("{}\n# {}", texts[0], "x".repeat(64 * 1024));
    let refused = scanner.scan("template", json!({"url": format!("http://{clean}"), "templates": [huge]})).await;
    assert!(refused.failure().unwrap().message.starts_with("config.templates[0]: over 65536 bytes"));
    assert!(refused.report.http_calls.is_empty(), "nothing was sent");

    let dsl = "id: x\ninfo: {name: x, severity: info}\nhttp:\n  - path: ['{{BaseURL}}']\n    matchers:\n      - type: dsl\n        dsl: ['true']\n";
    let refused = scanner.scan("template", json!({"url": format!("http://{clean}"), "templates": [dsl]})).await;
    let failure = refused.failure().unwrap();
    assert_eq!(failure.code, FailureCode::InvalidConfig);
    assert!(
        failure.message.starts_with("config.templates[0]: template `x`, http[0]: `dsl` matchers"),
        "{}",
        failure.message
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn security_scan_describes_four_kinds() {
    let runtime = runtime();
    let kinds = runtime.describe(&load(&runtime, SECURITY_SCAN)).await.unwrap();
    let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["headers", "exposed-files", "tls", "template"]);
    assert!(kinds.iter().all(|k| k.category == "security" && !k.config_schema["properties"]["url"]["title"].is_null()));
    assert_eq!(kinds[2].config_schema["properties"]["ct_api_key"]["format"], "secret-name");
    assert_eq!(kinds[1].ports, ["found", "clean"]);
}
