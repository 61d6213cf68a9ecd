//! `security-headers`: turns the findings of `trellis/security-scan`'s
//! `headers` into the response headers that fix them, written out for
//! nginx, Apache, Caddy and a Cloudflare response-header transform ruleset.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError};

/// The `ref` our Cloudflare rule carries, so applying it again replaces it.
pub const RULE_REF: &str = "trellis_security_headers";

/// A finding as `headers` emits it; other fields are ignored.
#[derive(Deserialize, JsonSchema, Clone)]
pub(crate) struct Finding {
    pub test: String,
    #[serde(default)]
    pub pass: bool,
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub modifier: i32,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Security header fixes")]
pub(crate) struct FixConfig {
    /// The `findings` of a `headers` node.
    #[schemars(title = "Findings", example = &"{{ nodes.scan.output.findings }}")]
    findings: Vec<Finding>,
    /// The Content-Security-Policy to set when CSP failed.
    #[serde(default = "csp")]
    #[schemars(title = "Content-Security-Policy")]
    csp: String,
    /// HSTS `max-age` in seconds (two years by default).
    #[serde(default = "hsts_max_age")]
    #[schemars(title = "HSTS max-age (s)", range(min = 15552000))]
    hsts_max_age: u64,
    #[serde(default = "yes")]
    #[schemars(title = "HSTS includeSubDomains")]
    hsts_include_subdomains: bool,
    #[serde(default = "referrer_policy")]
    #[schemars(title = "Referrer-Policy")]
    referrer_policy: String,
}

fn csp() -> String {
    "default-src 'self'; frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'".to_owned()
}

fn hsts_max_age() -> u64 {
    63_072_000
}

fn yes() -> bool {
    true
}

fn referrer_policy() -> String {
    "strict-origin-when-cross-origin".to_owned()
}

#[derive(Serialize, JsonSchema, Debug)]
pub(crate) struct Fix {
    /// The Observatory test this fixes.
    test: String,
    header: String,
    value: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct FixOutput {
    fixes: Vec<Fix>,
    /// The headers to set, by name.
    headers: BTreeMap<String, String>,
    /// An nginx `server` block snippet (`add_header … always`).
    nginx: String,
    /// An Apache snippet (mod_headers, mod_rewrite).
    apache: String,
    /// A Caddyfile snippet.
    caddy: String,
    /// A Cloudflare rule for the `http_response_headers_transform` phase.
    cloudflare: Value,
    /// Whether HTTP should redirect to HTTPS (Cloudflare: Always Use HTTPS).
    redirect_to_https: bool,
    /// What headers cannot fix, in words.
    notes: Vec<String>,
}

pub(crate) struct SecurityHeaders;

impl Node for SecurityHeaders {
    const KIND: &'static str = "security-headers";
    const TITLE: &'static str = "Security header fixes";
    const DESCRIPTION: &'static str = "Turn header findings into configuration for nginx, Apache, Caddy and a Cloudflare ruleset; emits on `fixes` or `none`";
    const CATEGORY: &'static str = "fixer";
    const PORTS: &'static [&'static str] = &["fixes", "none"];
    type Config = FixConfig;
    type Input = Value;
    type Output = FixOutput;

    fn run(_cx: &Context, config: FixConfig, _input: Value) -> Result<Emits<FixOutput>, NodeError> {
        for (name, value) in [("csp", &config.csp), ("referrer_policy", &config.referrer_policy)] {
            // The value is written inside double quotes in every format.
            if value.contains(['\r', '\n', '"', '\\']) {
                return Err(NodeError::InvalidConfig(format!(
                    "config.{name}: a header value cannot hold double quotes, backslashes or line breaks"
                )));
            }
        }
        let output = fixes(&config);
        let port = if output.fixes.is_empty() && !output.redirect_to_https { "none" } else { "fixes" };
        Ok(Emits::on(port, output))
    }
}

fn fixes(config: &FixConfig) -> FixOutput {
    let mut fixes = Vec::new();
    let mut notes = Vec::new();
    let mut redirect_to_https = false;
    let failed = config.findings.iter().filter(|f| !f.pass || f.modifier < 0);
    for finding in failed {
        let mut fix = |header: &str, value: String| {
            fixes.push(Fix { test: finding.test.clone(), header: header.to_owned(), value })
        };
        match finding.test.as_str() {
            "content-security-policy" => fix("Content-Security-Policy", config.csp.clone()),
            "strict-transport-security" => {
                let sub = if config.hsts_include_subdomains { "; includeSubDomains" } else { "" };
                fix("Strict-Transport-Security", format!("max-age={}{sub}", config.hsts_max_age));
            }
            "x-content-type-options" => fix("X-Content-Type-Options", "nosniff".to_owned()),
            "x-frame-options" => fix("X-Frame-Options", "SAMEORIGIN".to_owned()),
            "referrer-policy" => fix("Referrer-Policy", config.referrer_policy.clone()),
            "cross-origin-opener-policy" => fix("Cross-Origin-Opener-Policy", "same-origin".to_owned()),
            "cross-origin-resource-policy" => fix("Cross-Origin-Resource-Policy", "same-site".to_owned()),
            "cross-origin-embedder-policy" => fix("Cross-Origin-Embedder-Policy", "unsafe-none".to_owned()),
            "redirection" => redirect_to_https = true,
            "cookies" => notes.push(format!(
                "cookies ({}): set Secure, HttpOnly (session cookies) and SameSite where the application creates them; \
                 nginx can add them to proxied cookies with `proxy_cookie_flags ~ secure httponly samesite=lax;`",
                finding.result
            )),
            "cross-origin-resource-sharing" => notes.push(
                "CORS: stop reflecting the request's Origin with credentials allowed; list the origins that need access".to_owned(),
            ),
            "subresource-integrity" => notes.push(
                "subresource integrity: load third-party scripts over HTTPS with `integrity` and `crossorigin` attributes".to_owned(),
            ),
            _ => {}
        }
    }
    let headers: BTreeMap<String, String> = fixes.iter().map(|f| (f.header.clone(), f.value.clone())).collect();
    FixOutput {
        nginx: nginx(&headers, redirect_to_https),
        apache: apache(&headers, redirect_to_https),
        caddy: caddy(&headers),
        cloudflare: cloudflare(&headers),
        headers,
        fixes,
        redirect_to_https,
        notes,
    }
}

fn nginx(headers: &BTreeMap<String, String>, redirect: bool) -> String {
    let mut out = String::from("# In the HTTPS server block.\n");
    for (name, value) in headers {
        out.push_str(&format!("add_header {name} \"{value}\" always;\n"));
    }
    if redirect {
        out.push_str("\n# In the port 80 server block.\nreturn 301 https://$host$request_uri;\n");
    }
    out
}

fn apache(headers: &BTreeMap<String, String>, redirect: bool) -> String {
    let mut out = String::from("<IfModule mod_headers.c>\n");
    for (name, value) in headers {
        out.push_str(&format!("    Header always set {name} \"{value}\"\n"));
    }
    out.push_str("</IfModule>\n");
    if redirect {
        out.push_str("<IfModule mod_rewrite.c>\n    RewriteEngine On\n    RewriteCond %{HTTPS} off\n    RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]\n</IfModule>\n");
    }
    out
}

/// Caddy redirects HTTP to HTTPS on its own.
fn caddy(headers: &BTreeMap<String, String>) -> String {
    let mut out = String::from("header {\n");
    for (name, value) in headers {
        out.push_str(&format!("    {name} \"{value}\"\n"));
    }
    out.push_str("}\n");
    out
}

fn cloudflare(headers: &BTreeMap<String, String>) -> Value {
    let set: serde_json::Map<String, Value> =
        headers.iter().map(|(name, value)| (name.clone(), json!({"operation": "set", "value": value}))).collect();
    json!({
        "ref": RULE_REF,
        "description": "Security headers (Trellis)",
        "expression": "true",
        "action": "rewrite",
        "action_parameters": {"headers": set},
        "enabled": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(findings: Value) -> FixConfig {
        serde_json::from_value(json!({"findings": findings})).unwrap()
    }

    #[test]
    fn failed_findings_become_headers_for_every_server() {
        let output = fixes(&config(json!([
            {"test": "content-security-policy", "pass": false, "result": "csp-not-implemented", "modifier": -25},
            {"test": "strict-transport-security", "pass": false, "modifier": -20},
            {"test": "x-frame-options", "pass": true, "modifier": 5},
            {"test": "x-content-type-options", "pass": false, "modifier": -5},
            {"test": "redirection", "pass": false, "modifier": -20},
            {"test": "cookies", "pass": false, "result": "cookies-without-secure-flag", "modifier": -20}
        ])));
        assert_eq!(
            output.headers.keys().collect::<Vec<_>>(),
            ["Content-Security-Policy", "Strict-Transport-Security", "X-Content-Type-Options"]
        );
        assert_eq!(output.headers["Strict-Transport-Security"], "max-age=63072000; includeSubDomains");
        assert!(output.nginx.contains("add_header X-Content-Type-Options \"nosniff\" always;"));
        assert!(output.nginx.contains("return 301 https://$host$request_uri;"));
        assert!(
            output
                .apache
                .contains("Header always set Strict-Transport-Security \"max-age=63072000; includeSubDomains\"")
        );
        assert!(output.apache.contains("RewriteRule ^ https://%{HTTP_HOST}%{REQUEST_URI} [R=301,L]"));
        assert!(output.caddy.contains("    X-Content-Type-Options \"nosniff\""));
        assert_eq!(
            output.cloudflare["action_parameters"]["headers"]["X-Content-Type-Options"],
            json!({"operation": "set", "value": "nosniff"})
        );
        assert_eq!(output.cloudflare["ref"], RULE_REF);
        assert!(output.redirect_to_https);
        assert_eq!(output.notes.len(), 1);
        let nothing = fixes(&config(json!([{"test": "x-frame-options", "pass": true, "modifier": 5}])));
        assert!(nothing.fixes.is_empty() && !nothing.redirect_to_https);
    }
}
