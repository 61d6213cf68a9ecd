//! `tls`: is HTTPS there, does HTTP redirect to it, is HSTS set, and when
//! does the certificate expire. The certificate comes from a Certificate
//! Transparency log search (crt.sh's JSON or SSLMate's Cert Spotter): the
//! sandbox's HTTP client verifies certificates but does not hand them to
//! plugins, and CT also shows a renewal that is issued but not deployed.

use std::time::{SystemTime, UNIX_EPOCH};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, SecretName, provider};

use crate::fetch;
use crate::target::Target;

const DAY: i64 = 86_400;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Default, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum CtSource {
    /// `https://crt.sh/?q=HOST&output=json`.
    #[default]
    Crtsh,
    /// SSLMate Cert Spotter: `https://api.certspotter.com/v1/issuances`.
    Certspotter,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Check TLS")]
pub(crate) struct TlsConfig {
    /// The site: a host name or URL.
    #[schemars(title = "Site", example = &"acme.dev")]
    url: String,
    /// Fewer days than this before the certificate expires is a problem.
    #[serde(default = "warn_days")]
    #[schemars(title = "Warn when days left under", range(min = 0, max = 365))]
    warn_days: i64,
    #[serde(default)]
    #[schemars(title = "Certificate Transparency source")]
    ct_source: CtSource,
    /// The CT service's root; its host must be granted to this plugin.
    #[serde(default)]
    #[schemars(title = "CT API base URL", example = &"https://crt.sh")]
    ct_api_base: Option<String>,
    /// A Cert Spotter API key (optional; raises its rate limit).
    #[serde(default)]
    #[schemars(title = "Cert Spotter API key secret", example = &"CERTSPOTTER_API_KEY")]
    ct_api_key: Option<SecretName>,
    #[serde(default = "timeout")]
    #[schemars(title = "Timeout (ms)", range(min = 100, max = 60000))]
    timeout_ms: u64,
}

fn warn_days() -> i64 {
    21
}

fn timeout() -> u64 {
    10_000
}

#[derive(Serialize, JsonSchema, Debug, PartialEq)]
struct Certificate {
    issuer: String,
    /// The names it covers.
    names: Vec<String>,
    not_before: String,
    not_after: String,
    /// Whole days until `not_after` (negative once expired).
    days_left: i64,
    /// Where it was found (`crt.sh`, `certspotter`).
    source: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct TlsOutput {
    host: String,
    https_reachable: bool,
    /// Why HTTPS failed, when it did.
    https_error: Option<String>,
    redirects_to_https: bool,
    /// The HTTP request's route, first URL included.
    http_route: Vec<String>,
    hsts_max_age: Option<i64>,
    certificate: Option<Certificate>,
    /// Each problem in words; empty when all is well.
    problems: Vec<String>,
}

pub(crate) struct Tls;

impl Node for Tls {
    const KIND: &'static str = "tls";
    const TITLE: &'static str = "Check TLS";
    const DESCRIPTION: &'static str = "Check HTTPS, the HTTP to HTTPS redirect, HSTS, and the certificate's expiry and issuer from Certificate Transparency; emits on `ok` or `attention`";
    const CATEGORY: &'static str = "security";
    const PORTS: &'static [&'static str] = &["ok", "attention"];
    type Config = TlsConfig;
    type Input = Value;
    type Output = TlsOutput;

    fn run(_cx: &Context, config: TlsConfig, _input: Value) -> Result<Emits<TlsOutput>, NodeError> {
        let target = Target::parse("url", &config.url)?;
        let mut problems = Vec::new();
        let https = Request::get(target.url("https")).timeout_ms(config.timeout_ms).send();
        let (https_reachable, https_error, hsts_max_age) = match &https {
            Ok(response) => (true, None, response.header("strict-transport-security").and_then(max_age)),
            Err(e) => (false, Some(e.to_string()), None),
        };
        if let Some(error) = &https_error {
            problems.push(format!("HTTPS is not reachable: {error}"));
        }
        let (redirects_to_https, http_route) = match fetch::follow(&target.url("http"), &[], config.timeout_ms) {
            Ok(chain) => {
                (chain.last().url.starts_with("https://"), chain.steps.iter().map(|s| s.url.clone()).collect())
            }
            Err(_) => (false, Vec::new()),
        };
        if !redirects_to_https && !http_route.is_empty() {
            problems.push("HTTP does not redirect to HTTPS".to_owned());
        }
        if https_reachable {
            match hsts_max_age {
                None => problems.push("no Strict-Transport-Security header".to_owned()),
                Some(age) if age < 180 * DAY => problems.push(format!("HSTS max-age is {age} s, under six months")),
                Some(_) => {}
            }
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let certificate = match config.ct_source {
            CtSource::Crtsh => crtsh(&config, &target.host, now)?,
            CtSource::Certspotter => certspotter(&config, &target.host, now)?,
        };
        match &certificate {
            None => problems.push(format!("no current certificate for {} in Certificate Transparency", target.host)),
            Some(cert) if cert.days_left < 0 => {
                problems.push(format!("the certificate expired {} days ago", -cert.days_left))
            }
            Some(cert) if cert.days_left < config.warn_days => {
                problems.push(format!("the certificate expires in {} days", cert.days_left))
            }
            Some(_) => {}
        }
        let port = if problems.is_empty() { "ok" } else { "attention" };
        Ok(Emits::on(
            port,
            TlsOutput {
                host: target.host,
                https_reachable,
                https_error,
                redirects_to_https,
                http_route,
                hsts_max_age,
                certificate,
                problems,
            },
        ))
    }
}

fn max_age(header: &str) -> Option<i64> {
    header.split(';').find_map(|p| {
        p.trim().to_ascii_lowercase().strip_prefix("max-age=").and_then(|v| v.trim_matches('"').parse().ok())
    })
}

fn ct_get(config: &TlsConfig, url: String, provider_name: &str) -> Result<Value, NodeError> {
    let mut request = Request::get(url).header("accept", "application/json").timeout_ms(config.timeout_ms.max(20_000));
    if let Some(key) = &config.ct_api_key {
        request =
            request.header("authorization", &format!("Bearer {}", key.read("ct_api_key", "trellis/security-scan")?));
    }
    let response = provider::call(provider_name, &request)?;
    response.json().map_err(|e| NodeError::Retryable(format!("{provider_name}: {e}")))
}

/// crt.sh: `[{issuer_name, common_name, name_value, not_before, not_after}]`,
/// `name_value` holding the names one per line.
fn crtsh(config: &TlsConfig, host: &str, now: i64) -> Result<Option<Certificate>, NodeError> {
    let base = config.ct_api_base.as_deref().unwrap_or("https://crt.sh").trim_end_matches('/');
    let url = format!("{base}/?{}", provider::form([("q", host), ("output", "json")]));
    let entries = ct_get(config, url, "crt.sh")?;
    let candidates = entries.as_array().into_iter().flatten().filter_map(|e| {
        let names: Vec<String> = e["name_value"].as_str()?.lines().map(|n| n.trim().to_lowercase()).collect();
        Some((
            e["issuer_name"].as_str()?.to_owned(),
            names,
            e["not_before"].as_str()?.to_owned(),
            e["not_after"].as_str()?.to_owned(),
        ))
    });
    Ok(current(candidates, host, now, "crt.sh"))
}

/// Cert Spotter: `[{dns_names, not_before, not_after, issuer: {name}}]`.
fn certspotter(config: &TlsConfig, host: &str, now: i64) -> Result<Option<Certificate>, NodeError> {
    let base = config.ct_api_base.as_deref().unwrap_or("https://api.certspotter.com").trim_end_matches('/');
    let query = provider::form([("domain", host), ("expand", "dns_names"), ("expand", "issuer")]);
    let entries = ct_get(config, format!("{base}/v1/issuances?{query}"), "Cert Spotter")?;
    let candidates = entries.as_array().into_iter().flatten().filter_map(|e| {
        let names = e["dns_names"].as_array()?.iter().filter_map(|n| n.as_str()).map(str::to_lowercase).collect();
        let issuer = e["issuer"]["friendly_name"].as_str().or_else(|| e["issuer"]["name"].as_str())?.to_owned();
        Some((issuer, names, e["not_before"].as_str()?.to_owned(), e["not_after"].as_str()?.to_owned()))
    });
    Ok(current(candidates, host, now, "certspotter"))
}

/// Of the certificates that cover `host` and have started, the newest.
fn current(
    candidates: impl Iterator<Item = (String, Vec<String>, String, String)>,
    host: &str,
    now: i64,
    source: &str,
) -> Option<Certificate> {
    candidates
        .filter(|(_, names, _, _)| names.iter().any(|n| covers(n, host)))
        .filter_map(|(issuer, names, not_before, not_after)| {
            let start = unix_time(&not_before)?;
            let end = unix_time(&not_after)?;
            (start <= now).then_some((start, end, issuer, names, not_before, not_after))
        })
        .max_by_key(|(start, end, ..)| (*start, *end))
        .map(|(_, end, issuer, names, not_before, not_after)| Certificate {
            issuer,
            names,
            not_before,
            not_after,
            days_left: (end - now).div_euclid(DAY),
            source: source.to_owned(),
        })
}

/// A certificate name covers a host exactly or as a one-label wildcard.
fn covers(name: &str, host: &str) -> bool {
    match name.strip_prefix("*.") {
        Some(parent) => host.split_once('.').is_some_and(|(_, rest)| rest == parent),
        None => name == host,
    }
}

/// Seconds since 1970 of `YYYY-MM-DDTHH:MM:SS` (an optional `Z` or
/// fraction is ignored: CT services answer in UTC).
fn unix_time(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(['T', ' '])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let mut t = time.split(['.', '+'].as_ref()).next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (t.next()??, t.next()??, t.next().flatten().unwrap_or(0));
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * DAY + hour * 3600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_utc() {
        assert_eq!(unix_time("1970-01-01T00:00:00"), Some(0));
        assert_eq!(unix_time("2026-01-01T00:00:00Z"), Some(1_767_225_600));
        assert_eq!(unix_time("2024-02-29T12:30:15.123Z"), Some(1_709_209_815));
        assert_eq!(unix_time("2024-13-01T00:00:00"), None);
        assert_eq!(unix_time("yesterday"), None);
    }

    #[test]
    fn the_newest_started_certificate_covering_the_host_wins() {
        let now = unix_time("2026-06-01T00:00:00").unwrap();
        let cert = |issuer: &str, names: &[&str], from: &str, to: &str| {
            (issuer.to_owned(), names.iter().map(|n| n.to_string()).collect(), from.to_owned(), to.to_owned())
        };
        let found = current(
            vec![
                cert("old", &["acme.dev"], "2025-01-01T00:00:00", "2025-04-01T00:00:00"),
                cert("current", &["*.acme.dev", "acme.dev"], "2026-05-01T00:00:00", "2026-07-30T00:00:00"),
                cert("future", &["acme.dev"], "2026-07-01T00:00:00", "2026-10-01T00:00:00"),
                cert("other", &["other.dev"], "2026-05-20T00:00:00", "2026-08-20T00:00:00"),
            ]
            .into_iter(),
            "www.acme.dev",
            now,
            "crt.sh",
        )
        .unwrap();
        assert_eq!((found.issuer.as_str(), found.days_left), ("current", 59));
        assert!(
            covers("*.acme.dev", "www.acme.dev")
                && !covers("*.acme.dev", "a.b.acme.dev")
                && !covers("*.acme.dev", "acme.dev")
        );
        assert_eq!(max_age("max-age=\"31536000\"; includeSubDomains"), Some(31_536_000));
    }
}
