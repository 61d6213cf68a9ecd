//! The MDN HTTP Observatory's grading, ported from its analyzer
//! (`mdn/mdn-http-observatory`, MPL-2.0): twelve tests over what a site
//! answered, a score that starts at 100 and adds each test's modifier —
//! bonuses count only when the penalties alone leave at least 90 — and the
//! grade table A+ … F.
//!
//! Where this port departs: the HSTS preload list is not consulted (a
//! preloaded site is graded on its own header), the "same second-level
//! domain" of subresource integrity compares the last two host labels, and
//! CSP sources are sorted bytewise rather than by locale.

mod cookies;
mod csp;
mod headers;
pub mod scores;

use serde::Serialize;
use serde_json::Value;

pub use scores::grade;

/// Penalties must leave at least this for bonuses to count.
pub const MINIMUM_SCORE_FOR_EXTRA_CREDIT: i32 = 90;

/// One HTTP answer.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    /// Lower-case names; a repeated header appears once per value.
    pub headers: Vec<(String, String)>,
    /// The TLS certificate was trusted (always true over plain HTTP).
    pub verified: bool,
}

impl Response {
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.all(name).into_iter().next()
    }
}

/// A step of a redirect chain: the URL asked for and its status.
#[derive(Debug, Clone)]
pub struct Hop {
    pub url: String,
    pub status: u16,
}

/// Everything the tests look at, as the Observatory's retriever gathers it.
#[derive(Debug, Clone, Default)]
pub struct Requests {
    /// The host scanned.
    pub host: String,
    /// The final answer of the scan (over HTTPS when HTTPS answered).
    pub auto: Option<Response>,
    /// The final answers when starting from `http://` and `https://`.
    pub http: Option<Response>,
    pub https: Option<Response>,
    /// The answer to a CORS preflight with [`CORS_ORIGIN`].
    pub cors: Option<Response>,
    /// Every hop starting from `http://`, the first request included.
    pub http_redirects: Vec<Hop>,
    /// The final page's body.
    pub html: String,
    /// The URL the scan ended on.
    pub session_url: Option<String>,
    /// Every `Set-Cookie` of the session, in order.
    pub cookies: Vec<String>,
}

/// The origin the preflight claims, as the Observatory sends it.
pub const CORS_ORIGIN: &str = "https://http-observatory.security.mozilla.org";

impl Requests {
    fn session_is_https(&self) -> bool {
        self.session_url.as_deref().is_some_and(|u| u.starts_with("https:"))
    }
}

/// What one test found.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// The test's name, e.g. `content-security-policy`.
    pub test: String,
    pub title: String,
    pub pass: bool,
    /// The Observatory's result id, e.g. `csp-not-implemented`.
    pub result: String,
    /// What this result adds to the score.
    pub modifier: i32,
    pub description: String,
    /// What to change; empty when there is nothing to do.
    pub recommendation: String,
    /// What the test saw (the header's value, the redirect route…).
    pub evidence: Value,
}

/// A test's verdict before the score table is applied.
pub(crate) struct Outcome {
    pub result: &'static str,
    pub pass: bool,
    pub evidence: Value,
}

/// The whole grading.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Grading {
    pub score: i32,
    pub grade: String,
    pub tests_passed: usize,
    pub tests_failed: usize,
    pub findings: Vec<Finding>,
}

type Test = (&'static str, &'static str, fn(&Requests) -> Outcome);

/// The Observatory's tests, in its order.
const TESTS: &[Test] = &[
    ("content-security-policy", "Content Security Policy (CSP)", |r| csp::test(r).outcome),
    ("cookies", "Cookies", cookies::test),
    ("cross-origin-embedder-policy", "Cross Origin Embedder Policy", headers::coep),
    ("cross-origin-opener-policy", "Cross Origin Opener Policy", headers::coop),
    ("cross-origin-resource-sharing", "Cross Origin Resource Sharing (CORS)", headers::cors),
    ("redirection", "Redirection", headers::redirection),
    ("referrer-policy", "Referrer Policy", headers::referrer_policy),
    ("strict-transport-security", "Strict Transport Security (HSTS)", |r| headers::hsts(r).0),
    ("subresource-integrity", "Subresource Integrity", headers::subresource_integrity),
    ("x-content-type-options", "X-Content-Type-Options", headers::x_content_type_options),
    ("x-frame-options", "X-Frame-Options", headers::x_frame_options),
    ("cross-origin-resource-policy", "Cross Origin Resource Policy", headers::corp),
];

/// Grades what a site answered. `None` when the site gave no usable answer.
pub fn analyze(requests: &Requests) -> Result<Grading, String> {
    let Some(auto) = &requests.auto else { return Err("the site seems to be down".to_owned()) };
    if auto.status < 200 || (auto.status >= 400 && ![401, 403].contains(&auto.status)) {
        return Err(format!("the site answered with an unexpected HTTP status {}", auto.status));
    }
    let mut findings = Vec::new();
    let (mut with_extra_credit, mut uncurved) = (100, 100);
    for (test, title, run) in TESTS {
        let outcome = run(requests);
        let (modifier, description, recommendation) = scores::entry(outcome.result);
        with_extra_credit += modifier;
        if modifier < 0 {
            uncurved += modifier;
        }
        findings.push(Finding {
            test: (*test).to_owned(),
            title: (*title).to_owned(),
            pass: outcome.pass,
            result: outcome.result.to_owned(),
            modifier,
            description: description.to_owned(),
            recommendation: recommendation.to_owned(),
            evidence: outcome.evidence,
        });
    }
    let score = if uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT { with_extra_credit } else { uncurved }.max(0);
    let passed = findings.iter().filter(|f| f.pass).count();
    Ok(Grading {
        score,
        grade: grade(score).to_owned(),
        tests_passed: passed,
        tests_failed: TESTS.len() - passed,
        findings,
    })
}

/// The values of `<meta http-equiv="NAME" content>` (and, for
/// `referrer-policy`, `<meta name="referrer">`) in a page.
pub(crate) fn http_equiv(html: &str, name: &str) -> Vec<String> {
    let Ok(dom) = tl::parse(html, tl::ParserOptions::default()) else { return Vec::new() };
    let parser = dom.parser();
    let mut found = Vec::new();
    let Some(metas) = dom.query_selector("meta") else { return found };
    for meta in metas.filter_map(|h| h.get(parser)).filter_map(|n| n.as_tag()) {
        let attr = |key: &str| meta.attributes().get(key).flatten().map(|v| v.as_utf8_str().trim().to_owned());
        let content = attr("content");
        match (attr("http-equiv"), content) {
            (Some(equiv), Some(content)) if equiv.eq_ignore_ascii_case(name) && name == "content-security-policy" => {
                found.push(content)
            }
            (None, Some(content))
                if name == "referrer-policy" && attr("name").is_some_and(|n| n.eq_ignore_ascii_case("referrer")) =>
            {
                found = vec![content];
            }
            _ => {}
        }
    }
    found
}

/// Which test results are `pass`, besides the expectation itself.
pub(crate) fn outcome(result: &'static str, passing: &[&str], evidence: Value) -> Outcome {
    Outcome { result, pass: passing.contains(&result), evidence }
}

#[cfg(test)]
mod tests;
