//! The Observatory's header tests other than CSP and cookies.

use serde_json::{Map, Value, json};

use super::{CORS_ORIGIN, Outcome, Requests, csp, http_equiv, outcome};

/// HSTS `max-age` of at least six months.
const SIX_MONTHS: i64 = 15_552_000;

fn cut(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The bare token of a structured-field item (`same-origin; report-to="x"`
/// is `same-origin`); `None` for a string, number or malformed item.
fn structured_token(value: &str) -> Option<String> {
    let item = value.split(';').next()?.trim();
    let mut chars = item.chars();
    let first = chars.next()?;
    let valid = (first.is_ascii_alphabetic() || first == '*')
        && chars.all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~:/".contains(c));
    valid.then(|| item.to_owned())
}

fn single_token_policy(
    requests: &Requests,
    header: &str,
    results: &[(&str, &'static str)],
    not_implemented: &'static str,
    invalid: &'static str,
) -> Outcome {
    let Some(response) = &requests.auto else { return outcome(not_implemented, &[not_implemented], Value::Null) };
    let values = response.all(header);
    let (result, evidence) = match values.as_slice() {
        [] => (not_implemented, Value::Null),
        [one] => {
            let value = cut(one.trim(), 1024);
            let token = structured_token(&value);
            let result = results.iter().find(|(t, _)| Some(*t) == token.as_deref()).map_or(invalid, |(_, r)| *r);
            (result, json!(value))
        }
        _ => (invalid, json!(values)),
    };
    let passing: Vec<&str> = std::iter::once(not_implemented).chain(results.iter().map(|(_, r)| *r)).collect();
    outcome(result, &passing, evidence)
}

pub(crate) fn coep(requests: &Requests) -> Outcome {
    single_token_policy(
        requests,
        "cross-origin-embedder-policy",
        &[
            ("require-corp", "coep-implemented-with-require-corp"),
            ("credentialless", "coep-implemented-with-credentialless"),
            ("unsafe-none", "coep-implemented-with-unsafe-none"),
        ],
        "coep-not-implemented",
        "coep-header-invalid",
    )
}

pub(crate) fn coop(requests: &Requests) -> Outcome {
    single_token_policy(
        requests,
        "cross-origin-opener-policy",
        &[
            ("same-origin", "coop-implemented-with-same-origin"),
            ("same-origin-allow-popups", "coop-implemented-with-same-origin-allow-popups"),
            ("noopener-allow-popups", "coop-implemented-with-noopener-allow-popups"),
            ("unsafe-none", "coop-implemented-with-unsafe-none"),
        ],
        "coop-not-implemented",
        "coop-header-invalid",
    )
}

pub(crate) fn corp(requests: &Requests) -> Outcome {
    let not = "corp-not-implemented";
    let passing = [
        not,
        "corp-implemented-with-same-site",
        "corp-implemented-with-same-origin",
        "corp-implemented-with-cross-origin",
    ];
    let Some(response) = &requests.auto else { return outcome(not, &passing, Value::Null) };
    let header = response.all("cross-origin-resource-policy").join(", ");
    if header.is_empty() {
        return outcome(not, &passing, Value::Null);
    }
    let value = cut(header.trim(), 256).to_lowercase();
    let result = match value.as_str() {
        "same-site" => "corp-implemented-with-same-site",
        "same-origin" => "corp-implemented-with-same-origin",
        "cross-origin" => "corp-implemented-with-cross-origin",
        _ => "corp-header-invalid",
    };
    outcome(result, &passing, json!(value))
}

pub(crate) fn cors(requests: &Requests) -> Outcome {
    let passing = [
        "cross-origin-resource-sharing-not-implemented",
        "cross-origin-resource-sharing-implemented-with-public-access",
        "cross-origin-resource-sharing-implemented-with-restricted-access",
    ];
    let acao = requests.cors.as_ref().and_then(|r| r.first("access-control-allow-origin"));
    let Some(acao) = acao else { return outcome(passing[0], &passing, Value::Null) };
    let credentials = requests.cors.as_ref().and_then(|r| r.first("access-control-allow-credentials"));
    let data = cut(acao, 256).trim().to_lowercase();
    let result = if data == "*" {
        passing[1]
    } else if acao == CORS_ORIGIN && credentials.is_some_and(|c| c.trim().eq_ignore_ascii_case("true")) {
        "cross-origin-resource-sharing-implemented-with-universal-access"
    } else {
        passing[2]
    };
    outcome(result, &passing, json!(data))
}

fn scheme(url: &str) -> &str {
    url.split_once(':').map_or("", |(s, _)| s)
}

fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(authority, |(h, _)| h)
}

pub(crate) fn redirection(requests: &Requests) -> Outcome {
    let expected = "redirection-to-https";
    let passing = [expected, "redirection-not-needed-no-http", "redirection-all-redirects-preloaded"];
    let route = &requests.http_redirects;
    let evidence = json!({
        "route": route.iter().map(|h| json!({"url": h.url, "status": h.status})).collect::<Vec<_>>(),
        "status": requests.http.as_ref().map(|r| r.status),
    });
    let result = match &requests.http {
        None => "redirection-not-needed-no-http",
        Some(response) if !response.verified => "redirection-invalid-cert",
        Some(_) if route.len() <= 1 => "redirection-missing",
        Some(_) if route.last().is_some_and(|h| scheme(&h.url) != "https") => "redirection-not-to-https",
        Some(_) if route.get(1).is_some_and(|h| scheme(&h.url) == "http") => {
            "redirection-not-to-https-on-initial-redirection"
        }
        Some(_)
            if scheme(&route[0].url) == "http"
                && scheme(&route[1].url) == "https"
                && host(&route[0].url) != host(&route[1].url) =>
        {
            "redirection-off-host-from-http"
        }
        Some(_) => expected,
    };
    outcome(result, &passing, evidence)
}

pub(crate) fn referrer_policy(requests: &Requests) -> Outcome {
    let good = ["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"];
    let bad = ["origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade"];
    let passing = ["referrer-policy-private", "referrer-policy-not-implemented"];
    let Some(response) = &requests.auto else { return outcome(passing[1], &passing, Value::Null) };
    let mut values: Vec<String> = response.all("referrer-policy").into_iter().map(str::to_owned).collect();
    values.extend(http_equiv(&requests.html, "referrer-policy"));
    if values.is_empty() {
        return outcome(passing[1], &passing, Value::Null);
    }
    let data = values.join(", ");
    let policy = data
        .split(',')
        .map(|p| p.trim().to_lowercase())
        .rfind(|p| good.contains(&p.as_str()) || bad.contains(&p.as_str()))
        .unwrap_or_default();
    let result = if good.contains(&policy.as_str()) {
        "referrer-policy-private"
    } else if bad.contains(&policy.as_str()) {
        "referrer-policy-unsafe"
    } else {
        "referrer-policy-header-invalid"
    };
    outcome(result, &passing, json!(data))
}

/// The verdict, and the `max-age` read.
pub(crate) fn hsts(requests: &Requests) -> (Outcome, Option<i64>) {
    let expected = "hsts-implemented-max-age-at-least-six-months";
    let passing = [expected, "hsts-preloaded"];
    let Some(response) = &requests.https else {
        return (outcome("hsts-not-implemented-no-https", &passing, Value::Null), None);
    };
    if !response.verified {
        return (outcome("hsts-invalid-cert", &passing, Value::Null), None);
    }
    let Some(header) = response.first("strict-transport-security") else {
        return (outcome("hsts-not-implemented", &passing, Value::Null), None);
    };
    let data = cut(header, 1024);
    let mut max_age = None;
    let mut parsed = !data.contains(',');
    for parameter in data.split(';').map(|p| p.trim().to_lowercase()) {
        if let Some(age) = parameter.strip_prefix("max-age=") {
            let digits: String = age.trim_matches('"').chars().take_while(char::is_ascii_digit).collect();
            max_age = digits.parse::<i64>().ok();
            parsed &= max_age.is_some();
        }
    }
    let result = match max_age {
        Some(age) if parsed && age >= SIX_MONTHS => expected,
        Some(_) if parsed => "hsts-implemented-max-age-less-than-six-months",
        _ => "hsts-header-invalid",
    };
    (outcome(result, &passing, json!(data)), max_age)
}

/// The last two labels of a host: what the Observatory's "same
/// second-level domain" compares, without a public-suffix list.
fn second_level(host: &str) -> String {
    let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
    labels[labels.len().saturating_sub(2)..].join(".").to_lowercase()
}

pub(crate) fn subresource_integrity(requests: &Requests) -> Outcome {
    const GOODNESS: &[&str] = &[
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-implemented-but-external-scripts-not-loaded-securely",
        "sri-not-implemented-but-external-scripts-loaded-securely",
        "sri-not-implemented-and-external-scripts-not-loaded-securely",
        "sri-not-implemented-response-not-html",
    ];
    let passing = [
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-not-implemented-response-not-html",
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
        "sri-not-implemented-but-no-scripts-loaded",
    ];
    let worse = |new: &'static str, old: Option<&'static str>| match old {
        Some(old) if GOODNESS.iter().position(|g| *g == new) <= GOODNESS.iter().position(|g| *g == old) => Some(old),
        _ => Some(new),
    };
    let Some(response) = &requests.auto else {
        return outcome("sri-not-implemented-but-no-scripts-loaded", &passing, Value::Null);
    };
    let mime = response.first("content-type").unwrap_or("").split(';').next().unwrap_or("").trim().to_lowercase();
    if !mime.is_empty() && mime != "text/html" && mime != "application/xhtml+xml" {
        return outcome("sri-not-implemented-response-not-html", &passing, Value::Null);
    }
    let Ok(dom) = tl::parse(&requests.html, tl::ParserOptions::default()) else {
        return outcome("html-not-parseable", &passing, Value::Null);
    };
    let parser = dom.parser();
    let scripts: Vec<&tl::HTMLTag> = dom
        .query_selector("script")
        .map(|found| found.filter_map(|h| h.get(parser)).filter_map(|n| n.as_tag()).collect())
        .unwrap_or_default();
    let site = second_level(&requests.host);
    let session_https = requests.session_is_https();
    let mut result = None;
    let mut foreign = false;
    let mut data = Map::new();
    for script in &scripts {
        let attr = |key: &str| {
            script.attributes().get(key).flatten().map(|v| v.as_utf8_str().trim().to_owned()).filter(|v| !v.is_empty())
        };
        let Some(src) = attr("src") else { continue };
        let integrity = attr("integrity");
        let relative_protocol = src.starts_with("//") && !src.starts_with("///");
        let full = src.starts_with("http://") || src.starts_with("https://");
        let relative_origin = !relative_protocol && !full;
        let same_domain = !full || second_level(host(&src)) == site;
        let secure_origin = relative_origin || (same_domain && !relative_protocol);
        foreign |= !secure_origin;
        let secure_scheme = src.starts_with("https:") || (relative_origin && session_https);
        if !secure_origin {
            data.insert(src.clone(), json!({"integrity": integrity, "crossorigin": attr("crossorigin")}));
            result = match (integrity.is_some(), secure_scheme) {
                (true, false) => worse("sri-implemented-but-external-scripts-not-loaded-securely", result),
                (false, true) => worse("sri-not-implemented-but-external-scripts-loaded-securely", result),
                (false, false) => worse("sri-not-implemented-and-external-scripts-not-loaded-securely", result),
                (true, true) => result,
            };
        } else if integrity.is_some() && secure_scheme && result.is_none() {
            result = Some("sri-implemented-and-all-scripts-loaded-securely");
        }
    }
    let result = if scripts.is_empty() {
        "sri-not-implemented-but-no-scripts-loaded"
    } else {
        result.unwrap_or(if foreign {
            "sri-implemented-and-external-scripts-loaded-securely"
        } else {
            "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
        })
    };
    outcome(result, &passing, Value::Object(data))
}

pub(crate) fn x_content_type_options(requests: &Requests) -> Outcome {
    let expected = "x-content-type-options-nosniff";
    let header = requests.auto.as_ref().and_then(|r| r.first("x-content-type-options"));
    match header {
        None => outcome("x-content-type-options-not-implemented", &[expected], Value::Null),
        Some(value) => {
            let data = cut(value, 256);
            let result = if data.trim().eq_ignore_ascii_case("nosniff") {
                expected
            } else {
                "x-content-type-options-header-invalid"
            };
            outcome(result, &[expected], json!(data))
        }
    }
}

pub(crate) fn x_frame_options(requests: &Requests) -> Outcome {
    let passing = [
        "x-frame-options-allow-from-origin",
        "x-frame-options-sameorigin-or-deny",
        "x-frame-options-implemented-via-csp",
    ];
    let header = requests.auto.as_ref().and_then(|r| r.first("x-frame-options"));
    let (mut result, evidence) = match header {
        None => ("x-frame-options-not-implemented", Value::Null),
        Some(value) => {
            let data = cut(value, 1024);
            let xfo = data.trim().to_lowercase();
            let result = if xfo == "deny" || xfo == "sameorigin" {
                "x-frame-options-sameorigin-or-deny"
            } else if xfo.starts_with("allow-from") {
                "x-frame-options-allow-from-origin"
            } else {
                "x-frame-options-header-invalid"
            };
            (result, json!(data))
        }
    };
    if csp::test(requests).data.is_some_and(|policy| policy.contains_key("frame-ancestors")) {
        result = "x-frame-options-implemented-via-csp";
    }
    outcome(result, &passing, evidence)
}
