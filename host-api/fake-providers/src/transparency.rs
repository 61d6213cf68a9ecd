//! Certificate Transparency searches: crt.sh's JSON (`GET /?q=HOST&output=json`)
//! and Cert Spotter (`GET /v1/issuances?domain=HOST`). Each host has the
//! certificate [`FakeProviders::certificate`](crate::FakeProviders::certificate)
//! set for it, plus an older, expired one that a client must not pick.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::{Memory, Reply, Seen};

/// A certificate the logs hold: issuer and days left from now.
#[derive(Debug, Clone)]
pub struct Issued {
    pub issuer: String,
    pub days_left: i64,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC) of a unix time.
fn timestamp(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let seconds = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", seconds / 3600, seconds % 3600 / 60, seconds % 60)
}

fn certificates(memory: &Memory, host: &str) -> Vec<(String, i64, i64)> {
    let now = now();
    let mut found = vec![("C=US, O=Old CA, CN=Old CA R1".to_owned(), now - 400 * 86_400, now - 310 * 86_400)];
    if let Some(issued) = memory.certificates.get(host) {
        found.push((issued.issuer.clone(), now - 60 * 86_400, now + issued.days_left * 86_400 + 3600));
    }
    found
}

pub(crate) fn route(memory: &mut Memory, seen: &Seen) -> Option<Reply> {
    let query = seen.query_pairs();
    let param = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    match (seen.method.as_str(), seen.path.as_str()) {
        ("GET", "/") if param("output").as_deref() == Some("json") => {
            let host = param("q").unwrap_or_default();
            let entries: Vec<Value> = certificates(memory, &host)
                .into_iter()
                .enumerate()
                .map(|(i, (issuer, from, to))| {
                    json!({"issuer_ca_id": 183267 + i, "issuer_name": issuer, "common_name": host,
                           "name_value": format!("{host}\nwww.{host}"), "id": 12_000_000_000_i64 + i as i64,
                           "entry_timestamp": timestamp(from), "not_before": timestamp(from), "not_after": timestamp(to),
                           "serial_number": format!("04{i:030x}"), "result_count": 2})
                })
                .collect();
            Some(Reply::json(200, json!(entries)))
        }
        ("GET", "/v1/issuances") => {
            let Some(host) = param("domain") else {
                return Some(Reply::json(
                    400,
                    json!({"code": "bad_request", "message": "domain parameter is required"}),
                ));
            };
            let entries: Vec<Value> = certificates(memory, &host)
                .into_iter()
                .enumerate()
                .map(|(i, (issuer, from, to))| {
                    json!({"id": format!("{}", 3_000_000 + i), "tbs_sha256": format!("{i:064x}"),
                           "cert_sha256": format!("{:064x}", i + 7), "dns_names": [host, format!("www.{host}")],
                           "pubkey_sha256": format!("{:064x}", i + 9), "not_before": format!("{}Z", timestamp(from)),
                           "not_after": format!("{}Z", timestamp(to)), "revoked": false,
                           "issuer": {"friendly_name": issuer, "name": format!("C=US, O={issuer}")}})
                })
                .collect();
            Some(Reply::json(200, json!(entries)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00");
        assert_eq!(timestamp(1_767_225_600), "2026-01-01T00:00:00");
        assert_eq!(timestamp(1_709_209_815), "2024-02-29T12:30:15");
    }
}
