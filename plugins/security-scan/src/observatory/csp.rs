//! Content Security Policy: the Observatory's parser (several policies
//! intersect; duplicate directives make a policy invalid) and its test.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Outcome, Requests, http_equiv, outcome};

/// `img-src` minus one: anything shorter cannot be a policy.
const SHORTEST_POLICY: usize = "img-src".len() - 1;
const DISALLOWED_IN_META: &[&str] = &["frame-ancestors", "report-uri", "sandbox"];
const ALLOWED_DUPLICATES: &[&str] = &["report-uri", "report-to"];
const DANGEROUSLY_BROAD: &[&str] =
    &["ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"];
const UNSAFE_INLINE: &[&str] = &["'unsafe-inline'", "data:"];
const NONCES_HASHES: &[&str] = &["'sha256-", "'sha384-", "'sha512-", "'nonce-"];

pub(crate) type Policy = BTreeMap<String, BTreeSet<String>>;

/// A parsed policy, and whether a directive allowed twice was repeated.
pub(crate) struct Parsed {
    pub policy: Policy,
    pub duplicate_warnings: bool,
}

struct Source {
    source: String,
    index: usize,
    keep: bool,
}

/// Parses and intersects policies (the first decides; later ones can only
/// narrow). An error when one is too short or repeats a directive.
pub(crate) fn parse(policies: &[String]) -> Result<Parsed, String> {
    let clean: Vec<String> = policies.iter().map(|p| p.replace(['\r', '\n'], "").trim().to_owned()).collect();
    if clean.is_empty() {
        return Ok(Parsed { policy: Policy::new(), duplicate_warnings: false });
    }
    if let Some(bad) = clean.iter().find(|p| p.is_empty() || p.len() < SHORTEST_POLICY) {
        return Err(format!("invalid policy: {bad}"));
    }
    let mut csp: BTreeMap<String, Vec<Source>> = BTreeMap::new();
    let mut duplicate_warnings = false;
    for (index, policy) in clean.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for entry in policy.split(';') {
            let mut words = entry.split_whitespace();
            let Some(directive) = words.next() else { continue };
            let directive = directive.to_lowercase();
            if !seen.insert(directive.clone()) {
                if ALLOWED_DUPLICATES.contains(&directive.as_str()) {
                    duplicate_warnings = true;
                } else {
                    return Err(format!("duplicate directive {directive} in policy {index}"));
                }
            }
            let keep = index == 0;
            let mut values: Vec<Source> =
                words.map(|w| Source { source: w.trim().to_lowercase(), index, keep }).collect();
            if values.is_empty() && directive.ends_with("-src") {
                values.push(Source { source: "'none'".to_owned(), index, keep });
            }
            let mut combined = if index == 0 {
                values
            } else {
                let mut earlier = csp.remove(&directive).unwrap_or_default();
                earlier.extend(values);
                earlier
            };
            combined.sort_by(|a, b| a.source.cmp(&b.source));
            for i in 1..combined.len() {
                let (prev_source, prev_index) = (combined[i - 1].source.clone(), combined[i - 1].index);
                let source = &mut combined[i];
                if source.index == prev_index && source.source.starts_with(&prev_source) {
                    source.keep = false;
                }
                if source.index != prev_index && path_part_match(&prev_source, &source.source) {
                    source.keep = true;
                }
            }
            combined.retain(|s| s.keep);
            if index == 0 && policies.len() > 1 {
                for source in &mut combined {
                    source.keep = false;
                }
            }
            csp.insert(directive, combined);
        }
    }
    let policy = csp
        .into_iter()
        .map(|(directive, sources)| {
            let set: BTreeSet<String> = if sources.is_empty() {
                ["'none'".to_owned()].into()
            } else {
                sources.into_iter().map(|s| s.source).collect()
            };
            (directive, set)
        })
        .collect();
    Ok(Parsed { policy, duplicate_warnings })
}

fn path_part_match(a: &str, b: &str) -> bool {
    if a.is_empty() || (a == "/" && b.is_empty()) {
        return true;
    }
    let exact = !a.ends_with('/');
    let mut list_a: Vec<&str> = a.split('/').collect();
    let list_b: Vec<&str> = b.split('/').collect();
    if list_a.len() > list_b.len() || (exact && list_a.len() != list_b.len()) {
        return false;
    }
    if !exact {
        list_a.pop();
    }
    list_a.iter().zip(&list_b).all(|(x, y)| x == y)
}

fn split_headers(values: &[&str]) -> Vec<String> {
    values.iter().flat_map(|v| v.split(',').map(|s| s.trim().to_owned())).collect()
}

fn any_starts(set: &BTreeSet<String>, prefixes: &[&str]) -> bool {
    set.iter().any(|s| prefixes.iter().any(|p| s.starts_with(p)))
}

/// The test's verdict and the policy it read (`data`).
pub(crate) struct CspResult {
    pub outcome: Outcome,
    pub data: Option<Policy>,
}

const EXPECTED: &str = "csp-implemented-with-no-unsafe";

pub(crate) fn test(requests: &Requests) -> CspResult {
    let none = |result| CspResult { outcome: outcome(result, &[], Value::Null), data: None };
    let (Some(response), Some(url)) = (&requests.auto, &requests.session_url) else {
        return none("csp-not-implemented");
    };
    let http_policies = split_headers(&response.all("content-security-policy"));
    let meta = http_equiv(&requests.html, "content-security-policy");
    let meta_policies = split_headers(&meta.iter().map(String::as_str).collect::<Vec<_>>());
    let all: Vec<String> = http_policies.iter().chain(&meta_policies).cloned().collect();
    let Ok(Parsed { policy: mut csp, duplicate_warnings }) = parse(&all) else {
        return none("csp-header-invalid");
    };
    let http_only = parse(&http_policies).map(|p| p.policy).unwrap_or_default();
    let meta_only = parse(&meta_policies)
        .map(|mut p| {
            for directive in DISALLOWED_IN_META {
                p.policy.remove(*directive);
            }
            p.policy
        })
        .unwrap_or_default();
    if http_only.len() + meta_only.len() == 0 {
        return none(if response.first("content-security-policy-report-only").is_some() {
            "csp-not-implemented-but-reporting-enabled"
        } else {
            "csp-not-implemented"
        });
    }
    let star = || BTreeSet::from(["*".to_owned()]);
    let default_or =
        |csp: &Policy, name: &str| csp.get(name).or_else(|| csp.get("default-src")).cloned().unwrap_or_else(star);
    let object_src = default_or(&csp, "object-src");
    let mut script_src = default_or(&csp, "script-src");
    let mut style_src = default_or(&csp, "style-src");
    for sources in [&mut script_src, &mut style_src] {
        if any_starts(sources, NONCES_HASHES) {
            sources.remove("'unsafe-inline'");
        }
    }
    let mut result: Option<&'static str> = None;
    if any_starts(&script_src, NONCES_HASHES) && script_src.contains("'strict-dynamic'") {
        script_src.retain(|s| {
            !(DANGEROUSLY_BROAD.iter().any(|b| s.starts_with(b)) || s == "'self'" || s == "'unsafe-inline'")
        });
    } else if script_src.contains("'strict-dynamic'") {
        result.get_or_insert("csp-header-invalid");
    }
    let mut active: Vec<&String> = csp
        .iter()
        .filter(|(d, _)| !["img-src", "media-src", "script-src"].contains(&d.as_str()))
        .flat_map(|(_, s)| s.iter())
        .collect();
    active.extend(script_src.iter());
    let passive: Vec<String> = ["img-src", "media-src"]
        .iter()
        .flat_map(|d| csp.get(*d).or_else(|| csp.get("default-src")).cloned().unwrap_or_default())
        .collect();
    let broad_or_inline = |s: &String| DANGEROUSLY_BROAD.contains(&s.as_str()) || UNSAFE_INLINE.contains(&s.as_str());
    let https = url.starts_with("https:");
    let insecure = |s: &str| s.starts_with("http:") || s.starts_with("ftp:");
    if script_src.iter().any(broad_or_inline) || object_src.iter().any(|s| DANGEROUSLY_BROAD.contains(&s.as_str())) {
        result.get_or_insert("csp-implemented-with-unsafe-inline");
    }
    if https && active.iter().any(|s| insecure(s)) {
        result.get_or_insert("csp-implemented-with-insecure-scheme");
    }
    if script_src.contains("'unsafe-eval'") || style_src.contains("'unsafe-eval'") {
        result.get_or_insert("csp-implemented-with-unsafe-eval");
    }
    if https && passive.iter().any(|s| insecure(s)) {
        result.get_or_insert("csp-implemented-with-insecure-scheme-in-passive-content-only");
    }
    if style_src.iter().any(broad_or_inline) {
        result.get_or_insert("csp-implemented-with-unsafe-inline-in-style-src-only");
    }
    let default_none = csp.get("default-src").is_some_and(|d| d.len() == 1 && d.contains("'none'"));
    let mut result =
        result.unwrap_or(if default_none { "csp-implemented-with-no-unsafe-default-src-none" } else { EXPECTED });
    let pass = [
        EXPECTED,
        "csp-implemented-with-no-unsafe-default-src-none",
        "csp-implemented-with-unsafe-inline-in-style-src-only",
        "csp-implemented-with-insecure-scheme-in-passive-content-only",
    ]
    .contains(&result);
    if pass && duplicate_warnings {
        result = "csp-implemented-but-duplicate-directives";
    }
    csp.retain(|_, v| !v.is_empty());
    let evidence = json!({"policy": csp, "http": !http_policies.is_empty(), "meta": !meta_policies.is_empty()});
    CspResult { outcome: super::Outcome { result, pass, evidence }, data: Some(csp) }
}
