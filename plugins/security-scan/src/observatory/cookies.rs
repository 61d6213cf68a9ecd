//! Cookies: `Secure` everywhere, `HttpOnly` on session cookies, and a
//! valid `SameSite` (anti-CSRF cookies must have one).

use serde_json::{Map, Value, json};

use super::{Outcome, Requests, headers};

/// Worst last.
const GOODNESS: &[&str] = &[
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
];

const EXPECTED: &str = "cookies-secure-with-httponly-sessions";

fn worse(new: &'static str, old: Option<&'static str>) -> Option<&'static str> {
    match old {
        Some(old) if GOODNESS.iter().position(|g| *g == new) <= GOODNESS.iter().position(|g| *g == old) => Some(old),
        _ => Some(new),
    }
}

struct Cookie {
    name: String,
    secure: bool,
    http_only: bool,
    same_site: Option<String>,
}

fn parse(raw: &str) -> Option<Cookie> {
    let mut parts = raw.split(';');
    let (name, _) = parts.next()?.split_once('=')?;
    let name = name.trim().to_owned();
    if name.is_empty() || name == "heroku-session-affinity" {
        return None;
    }
    let mut cookie = Cookie { name, secure: false, http_only: false, same_site: None };
    for attribute in parts {
        let (key, value) = attribute.split_once('=').map_or((attribute, ""), |(k, v)| (k, v));
        match key.trim().to_ascii_lowercase().as_str() {
            "secure" => cookie.secure = true,
            "httponly" => cookie.http_only = true,
            "samesite" => cookie.same_site = Some(value.trim().to_ascii_lowercase()),
            _ => {}
        }
    }
    Some(cookie)
}

/// A `SameSite` with no value, or one other than lax, strict or none.
fn invalid_same_site(raw: &str) -> bool {
    raw.split(';').any(|part| {
        let (key, value) = part.trim().split_once('=').map_or((part.trim(), None), |(k, v)| (k, Some(v)));
        key.trim().eq_ignore_ascii_case("samesite")
            && value.is_none_or(|v| {
                v.is_empty() || !["lax", "strict", "none"].contains(&v.trim().to_ascii_lowercase().as_str())
            })
    })
}

pub(crate) fn test(requests: &Requests) -> Outcome {
    let hsts = headers::hsts(requests).0.pass;
    let mut result = None;
    if let Some(auto) = &requests.auto
        && auto.all("set-cookie").iter().any(|raw| invalid_same_site(raw))
    {
        result = worse("cookies-samesite-flag-invalid", result);
    }
    let cookies: Vec<Cookie> = requests.cookies.iter().filter_map(|raw| parse(raw)).collect();
    if cookies.is_empty() {
        let result = "cookies-not-found";
        return Outcome { result, pass: true, evidence: Value::Null };
    }
    let mut missing_same_site = false;
    for cookie in &cookies {
        let lower = cookie.name.to_lowercase();
        let session = lower.contains("login") || lower.contains("sess");
        let anticsrf = lower.contains("csrf");
        if !cookie.secure && cookie.same_site.as_deref() == Some("none") {
            result = worse("cookies-samesite-flag-invalid", result);
        }
        if !cookie.secure {
            result = worse(
                if hsts { "cookies-without-secure-flag-but-protected-by-hsts" } else { "cookies-without-secure-flag" },
                result,
            );
        }
        if anticsrf && cookie.same_site.is_none() {
            result = worse("cookies-anticsrf-without-samesite-flag", result);
        }
        if session && !cookie.secure {
            result = worse(
                if hsts {
                    "cookies-session-without-secure-flag-but-protected-by-hsts"
                } else {
                    "cookies-session-without-secure-flag"
                },
                result,
            );
        }
        if session && !cookie.http_only {
            result = worse("cookies-session-without-httponly-flag", result);
        }
        missing_same_site |= cookie.same_site.is_none();
    }
    let result = result.unwrap_or(if missing_same_site {
        EXPECTED
    } else {
        "cookies-secure-with-httponly-sessions-and-samesite"
    });
    let evidence: Map<String, Value> = cookies
        .iter()
        .map(|c| (c.name.clone(), json!({"secure": c.secure, "httponly": c.http_only, "samesite": c.same_site})))
        .collect();
    let pass = ["cookies-not-found", "cookies-secure-with-httponly-sessions-and-samesite", EXPECTED].contains(&result);
    Outcome { result, pass, evidence: Value::Object(evidence) }
}
