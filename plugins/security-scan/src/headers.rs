//! `headers`: grades a site's response headers the way the MDN HTTP
//! Observatory does (`observatory/`), from what this node fetches itself:
//! the site over HTTPS and over HTTP with their redirects, and a CORS
//! preflight.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_plugin_sdk::http::{HttpError, Request, Response};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError};

use crate::fetch::{self, Chain};
use crate::observatory::{self, CORS_ORIGIN, Finding, Hop, Requests};
use crate::target::Target;

const ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Grade security headers")]
pub(crate) struct HeadersConfig {
    /// The site: a host name or URL. Both `https://` and `http://` are fetched.
    #[schemars(title = "Site", example = &"acme.dev")]
    url: String,
    /// Per request, in milliseconds.
    #[serde(default = "timeout")]
    #[schemars(title = "Timeout (ms)", range(min = 100, max = 60000))]
    timeout_ms: u64,
}

fn timeout() -> u64 {
    10_000
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct HeadersOutput {
    /// The URL the scan ended on.
    url: String,
    /// 100 plus the modifiers (bonuses only when penalties leave at least 90).
    score: i32,
    /// A+, A, A-, B+ … F.
    grade: String,
    tests_passed: usize,
    tests_failed: usize,
    /// One per test, in the Observatory's order.
    findings: Vec<Finding>,
    /// The final response's headers, lower-case.
    response_headers: std::collections::BTreeMap<String, String>,
}

pub(crate) struct Headers;

impl Node for Headers {
    const KIND: &'static str = "headers";
    const TITLE: &'static str = "Grade security headers";
    const DESCRIPTION: &'static str = "Fetch a site over HTTPS and HTTP and grade its headers with the MDN HTTP Observatory's algorithm (score, grade A+ to F, a finding per test)";
    const CATEGORY: &'static str = "security";
    type Config = HeadersConfig;
    type Input = Value;
    type Output = HeadersOutput;

    fn run(_cx: &Context, config: HeadersConfig, _input: Value) -> Result<Emits<HeadersOutput>, NodeError> {
        let target = Target::parse("url", &config.url)?;
        let headers = [("accept", ACCEPT)];
        let https = fetch::follow(&target.url("https"), &headers, config.timeout_ms);
        let http = fetch::follow(&target.url("http"), &headers, config.timeout_ms);
        let requests = gather(&target, https, http, config.timeout_ms)?;
        let grading = observatory::analyze(&requests).map_err(|e| NodeError::Fatal(format!("{}: {e}", target.host)))?;
        let auto = requests.auto.as_ref();
        Ok(Emits::out(HeadersOutput {
            url: requests.session_url.clone().unwrap_or_default(),
            score: grading.score,
            grade: grading.grade,
            tests_passed: grading.tests_passed,
            tests_failed: grading.tests_failed,
            findings: grading.findings,
            response_headers: auto.map(|r| r.headers.iter().cloned().collect()).unwrap_or_default(),
        }))
    }
}

fn observed(response: &Response) -> observatory::Response {
    observatory::Response {
        status: response.status,
        headers: response.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect(),
        verified: true,
    }
}

/// What the Observatory's retriever would have: the HTTPS session when
/// HTTPS answered, else the HTTP one.
fn gather(
    target: &Target,
    https: Result<Chain, HttpError>,
    http: Result<Chain, HttpError>,
    timeout_ms: u64,
) -> Result<Requests, NodeError> {
    let final_of = |chain: &Chain| observed(&chain.last().response);
    let mut requests = Requests { host: target.host.clone(), ..Requests::default() };
    requests.https = match &https {
        Ok(chain) => Some(final_of(chain)),
        // An untrusted certificate: HTTPS is there, but not verified.
        Err(e) if fetch::is_certificate_failure(e) => {
            Some(observatory::Response { verified: false, ..Default::default() })
        }
        Err(_) => None,
    };
    requests.http = http.as_ref().ok().map(final_of);
    if let Ok(chain) = &http {
        requests.http_redirects =
            chain.steps.iter().map(|s| Hop { url: s.url.clone(), status: s.response.status }).collect();
    }
    let session = match (&https, &http) {
        (Ok(chain), _) | (Err(_), Ok(chain)) => chain,
        (Err(e), Err(_)) => {
            return Err(NodeError::Retryable(format!("{} could not be reached over HTTPS or HTTP: {e}", target.host)));
        }
    };
    let last = session.last();
    requests.auto = Some(final_of(session));
    requests.session_url = Some(last.url.clone());
    requests.cookies = session.cookies();
    if last.response.header("content-type").is_some_and(|t| t.contains("html")) {
        requests.html = last.response.text();
    }
    let preflight = Request::new("OPTIONS", &last.url)
        .header("access-control-request-method", "GET")
        .header("origin", CORS_ORIGIN)
        .timeout_ms(timeout_ms)
        .send();
    requests.cors = preflight.ok().map(|r| observed(&r));
    Ok(requests)
}
