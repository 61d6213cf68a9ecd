//! The grading pinned to what the Observatory gives: its own captured
//! scans, and header sets whose results come from its unit tests and
//! score table.

use serde_json::Value;

use super::*;

fn response(headers: &[(&str, &str)]) -> Response {
    let mut headers: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_lowercase(), (*v).to_owned())).collect();
    if !headers.iter().any(|(k, _)| k == "content-type") {
        headers.push(("content-type".into(), "text/html".into()));
    }
    Response { status: 200, headers, verified: true }
}

/// A site on HTTPS that redirects from HTTP, answering `headers`.
fn site(headers: &[(&str, &str)]) -> Requests {
    let final_response = response(headers);
    Requests {
        host: "example.com".into(),
        auto: Some(final_response.clone()),
        http: Some(final_response.clone()),
        https: Some(final_response.clone()),
        cors: Some(final_response),
        http_redirects: vec![
            Hop { url: "http://example.com/".into(), status: 301 },
            Hop { url: "https://example.com/".into(), status: 301 },
            Hop { url: "https://www.example.com/".into(), status: 200 },
        ],
        html: String::new(),
        session_url: Some("https://www.example.com/".into()),
        cookies: Vec::new(),
    }
}

fn result_of(grading: &Grading, test: &str) -> String {
    grading.findings.iter().find(|f| f.test == test).map(|f| f.result.clone()).unwrap()
}

fn from_fixture(text: &str) -> Requests {
    let fixture: Value = serde_json::from_str(text).unwrap();
    let response = |name: &str| {
        let r = &fixture["responses"][name];
        r.is_object().then(|| Response {
            status: r["status"].as_u64().unwrap() as u16,
            headers: r["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.to_lowercase(), v.as_str().unwrap_or_default().to_owned()))
                .collect(),
            verified: r["verified"].as_bool().unwrap_or(false),
        })
    };
    Requests {
        host: fixture["site"]["hostname"].as_str().unwrap().into(),
        auto: response("auto"),
        http: response("http"),
        https: response("https"),
        cors: response("cors"),
        http_redirects: fixture["responses"]["httpRedirects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| Hop { url: h["url"].as_str().unwrap().into(), status: h["status"].as_u64().unwrap() as u16 })
            .collect(),
        html: fixture["resources"]["path"].as_str().unwrap_or_default().into(),
        session_url: fixture["session"]["url"].as_str().map(str::to_owned),
        cookies: Vec::new(),
    }
}

#[test]
fn the_observatorys_captured_scans_get_its_grades() {
    let observatory = analyze(&from_fixture(include_str!("fixtures/observatory-mozilla-org.json"))).unwrap();
    assert_eq!((observatory.score, observatory.grade.as_str()), (110, "A+"), "{:#?}", observatory.findings);
    assert_eq!((observatory.tests_passed, observatory.tests_failed), (12, 0));

    let mozilla = analyze(&from_fixture(include_str!("fixtures/mozilla-org.json"))).unwrap();
    assert_eq!((mozilla.score, mozilla.grade.as_str()), (75, "B"), "{:#?}", mozilla.findings);
    assert_eq!((mozilla.tests_passed, mozilla.tests_failed), (10, 2));
    // 100 - 20 (script-src 'unsafe-inline') - 5 (third-party scripts without integrity).
    assert_eq!(result_of(&mozilla, "content-security-policy"), "csp-implemented-with-unsafe-inline");
    assert_eq!(
        result_of(&mozilla, "subresource-integrity"),
        "sri-not-implemented-but-external-scripts-loaded-securely"
    );
}

/// Header sets and the score and grade the Observatory's table gives them.
#[test]
fn header_sets_score_and_grade_by_the_table() {
    let hardened = [
        ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
        ("Strict-Transport-Security", "max-age=63072000; includeSubDomains"),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Embedder-Policy", "require-corp"),
    ];
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, i32, &'a str);
    let cases: Vec<Case> = vec![
        // -25 CSP, -20 HSTS, -5 nosniff, -20 XFO.
        ("nothing", vec![], 30, "D"),
        // +10 +5 (XFO via CSP) +5 +10 +10 +10, all counted: no penalty.
        ("hardened", hardened.to_vec(), 150, "A+"),
        // Only the penalties count once they leave under 90: 100 - 25.
        ("no CSP", hardened[1..].to_vec(), 75, "B"),
        // -10 leaves 90: the bonuses (+10 CSP, +5 XFO via CSP) still count.
        (
            "HSTS under six months",
            vec![hardened[0], ("Strict-Transport-Security", "max-age=86400"), hardened[2], hardened[3]],
            105,
            "A+",
        ),
        (
            "unsafe inline script",
            vec![
                ("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'"),
                hardened[1],
                hardened[2],
                hardened[3],
            ],
            80,
            "B+",
        ),
        (
            "report-only CSP",
            vec![("Content-Security-Policy-Report-Only", "default-src 'none'"), hardened[1], hardened[2], hardened[3]],
            75,
            "B",
        ),
        ("unsafe referrer", vec![hardened[0], hardened[1], hardened[2], ("Referrer-Policy", "unsafe-url")], 110, "A+"),
        (
            "invalid COOP and XCTO",
            vec![
                hardened[0],
                hardened[1],
                ("X-Content-Type-Options", "yes"),
                ("Cross-Origin-Opener-Policy", "\"same-origin\""),
            ],
            105,
            "A+",
        ),
        // Bonuses lost: 100 - 20 (HSTS) - 5 - 5.
        (
            "invalid COOP, no HSTS",
            vec![hardened[0], ("X-Content-Type-Options", "yes"), ("Cross-Origin-Opener-Policy", "\"same-origin\"")],
            70,
            "B",
        ),
    ];
    for (name, headers, score, grade) in cases {
        let grading = analyze(&site(&headers)).unwrap();
        assert_eq!(
            (grading.score, grading.grade.as_str()),
            (score, grade),
            "{name}: {:#?}",
            grading.findings.iter().map(|f| (&f.result, f.modifier)).collect::<Vec<_>>()
        );
    }
}

#[test]
fn csp_results_match_the_observatorys_unit_tests() {
    let cases: &[(&str, &[&str])] = &[
        (
            "csp-header-invalid",
            &[
                "  ",
                "default-src 'none'; default-src 'none'",
                "default-src 'none'; script-src 'strict-dynamic'",
                "defa",
            ],
        ),
        (
            "csp-implemented-with-unsafe-inline",
            &[
                "script-src 'unsafe-inline'",
                "script-src data:",
                "default-src 'UNSAFE-INLINE'",
                "upgrade-insecure-requests",
                "default-src 'none'; script-src 'none'; object-src *",
                "object-src https:; script-src 'none'",
            ],
        ),
        (
            "csp-implemented-with-insecure-scheme",
            &["default-src http://mozilla.org", "default-src 'none'; script-src ftp://mozilla.org"],
        ),
        (
            "csp-implemented-with-insecure-scheme-in-passive-content-only",
            &[
                "default-src 'none'; img-src http://mozilla.org",
                "default-src 'self'; img-src ftp:",
                "default-src 'none'; img-src 'none'; media-src http:; script-src 'self'; style-src 'unsafe-inline'",
            ],
        ),
        ("csp-implemented-with-unsafe-eval", &["default-src 'none'; script-src 'unsafe-eval'"]),
        (
            "csp-implemented-with-unsafe-inline-in-style-src-only",
            &["default-src 'none'; style-src 'unsafe-inline'", "default-src 'none'; style-src data:"],
        ),
        (
            "csp-implemented-with-no-unsafe-default-src-none",
            &[
                "default-src 'none'",
                "default-src 'none'; script-src 'self'",
                "default-src 'none'; script-src 'nonce-abc' 'strict-dynamic' 'unsafe-inline' https:; object-src 'none'",
            ],
        ),
        (
            "csp-implemented-with-no-unsafe",
            &[
                "default-src 'self'",
                "default-src 'self'; object-src 'none'",
                "default-src 'self'; script-src 'sha256-abc' 'strict-dynamic' 'unsafe-inline' https:; object-src 'none'",
            ],
        ),
        ("csp-implemented-but-duplicate-directives", &["default-src 'none'; report-uri /a; report-uri /b"]),
    ];
    for (expected, policies) in cases {
        for policy in *policies {
            let grading = analyze(&site(&[("Content-Security-Policy", policy)])).unwrap();
            assert_eq!(result_of(&grading, "content-security-policy"), *expected, "{policy}");
        }
    }
    // A policy in a <meta> tag counts; frame-ancestors there does not.
    let mut meta = site(&[]);
    meta.html = r#"<html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; frame-ancestors 'none'"></head></html>"#.into();
    let grading = analyze(&meta).unwrap();
    assert_eq!(result_of(&grading, "content-security-policy"), "csp-implemented-with-no-unsafe-default-src-none");
}

#[test]
fn cookies_redirection_and_sri_follow_the_observatory() {
    let mut cookies = site(&[("Strict-Transport-Security", "max-age=31536000")]);
    cookies.cookies = vec!["SESSIONID=1; Path=/; Secure".into()];
    assert_eq!(result_of(&analyze(&cookies).unwrap(), "cookies"), "cookies-session-without-httponly-flag");
    cookies.cookies =
        vec!["SESSIONID=1; Secure; HttpOnly; SameSite=Lax".into(), "theme=dark; Secure; SameSite=Strict".into()];
    assert_eq!(result_of(&analyze(&cookies).unwrap(), "cookies"), "cookies-secure-with-httponly-sessions-and-samesite");
    cookies.cookies = vec!["csrftoken=1; Secure".into()];
    assert_eq!(result_of(&analyze(&cookies).unwrap(), "cookies"), "cookies-anticsrf-without-samesite-flag");
    cookies.cookies = vec!["login=1; HttpOnly".into()];
    assert_eq!(
        result_of(&analyze(&cookies).unwrap(), "cookies"),
        "cookies-session-without-secure-flag-but-protected-by-hsts"
    );

    let mut plain = site(&[]);
    plain.http_redirects.truncate(1);
    assert_eq!(result_of(&analyze(&plain).unwrap(), "redirection"), "redirection-missing");
    plain.http_redirects = vec![
        Hop { url: "http://example.com/".into(), status: 301 },
        Hop { url: "https://evil.example.net/".into(), status: 200 },
    ];
    assert_eq!(result_of(&analyze(&plain).unwrap(), "redirection"), "redirection-off-host-from-http");

    let mut page = site(&[]);
    page.html = r#"<script src="https://cdn.other.net/a.js"></script><script src="/b.js"></script>"#.into();
    assert_eq!(
        result_of(&analyze(&page).unwrap(), "subresource-integrity"),
        "sri-not-implemented-but-external-scripts-loaded-securely"
    );
    page.html = r#"<script src="http://cdn.other.net/a.js"></script>"#.into();
    assert_eq!(
        result_of(&analyze(&page).unwrap(), "subresource-integrity"),
        "sri-not-implemented-and-external-scripts-not-loaded-securely"
    );
    page.html =
        r#"<script src="https://cdn.other.net/a.js" integrity="sha384-x" crossorigin="anonymous"></script>"#.into();
    assert_eq!(
        result_of(&analyze(&page).unwrap(), "subresource-integrity"),
        "sri-implemented-and-external-scripts-loaded-securely"
    );
}

#[test]
fn the_grade_table_and_a_site_that_is_down() {
    for (score, grade) in [
        (130, "A+"),
        (100, "A+"),
        (99, "A"),
        (90, "A"),
        (85, "A-"),
        (80, "B+"),
        (70, "B"),
        (65, "B-"),
        (60, "C+"),
        (50, "C"),
        (45, "C-"),
        (40, "D+"),
        (30, "D"),
        (25, "D-"),
        (24, "F"),
        (0, "F"),
        (-30, "F"),
    ] {
        assert_eq!(super::grade(score), grade, "{score}");
    }
    assert!(analyze(&Requests::default()).is_err());
    let mut broken = site(&[]);
    broken.auto.as_mut().unwrap().status = 500;
    assert!(analyze(&broken).unwrap_err().contains("500"));
}
