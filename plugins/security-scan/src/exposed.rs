//! `exposed-files`: paths that leak source, secrets or server internals
//! when a deploy goes wrong. A path is a finding only when its body looks
//! like the real thing (a content matcher per path) and differs from the
//! site's answer to a path that cannot exist, so a soft-404 page that
//! answers 200 to everything finds nothing. Evidence names what matched,
//! never the leaked content.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError};

use crate::fetch;
use crate::target::Target;

/// How one path is recognised.
enum Matcher {
    /// The body starts with one of these.
    StartsWith(&'static [&'static [u8]]),
    /// The body contains all of these.
    ContainsAll(&'static [&'static str]),
    /// At least one line looks like `NAME=value`.
    EnvLines,
}

struct Probe {
    id: &'static str,
    path: &'static str,
    severity: &'static str,
    title: &'static str,
    matcher: Matcher,
}

const PROBES: &[Probe] = &[
    Probe {
        id: "git-head",
        path: "/.git/HEAD",
        severity: "high",
        title: "Git repository exposed (.git/HEAD)",
        matcher: Matcher::StartsWith(&[b"ref: refs/"]),
    },
    Probe {
        id: "git-config",
        path: "/.git/config",
        severity: "high",
        title: "Git configuration exposed",
        matcher: Matcher::ContainsAll(&["[core]", "repositoryformatversion"]),
    },
    Probe {
        id: "env",
        path: "/.env",
        severity: "critical",
        title: "Environment file exposed (.env)",
        matcher: Matcher::EnvLines,
    },
    Probe {
        id: "env-production",
        path: "/.env.production",
        severity: "critical",
        title: "Environment file exposed (.env.production)",
        matcher: Matcher::EnvLines,
    },
    Probe {
        id: "env-local",
        path: "/.env.local",
        severity: "critical",
        title: "Environment file exposed (.env.local)",
        matcher: Matcher::EnvLines,
    },
    Probe {
        id: "apache-server-status",
        path: "/server-status",
        severity: "medium",
        title: "Apache server-status page public",
        matcher: Matcher::ContainsAll(&["Apache Server Status"]),
    },
    Probe {
        id: "apache-server-info",
        path: "/server-info",
        severity: "medium",
        title: "Apache server-info page public",
        matcher: Matcher::ContainsAll(&["Apache Server Information"]),
    },
    Probe {
        id: "nginx-status",
        path: "/nginx_status",
        severity: "low",
        title: "nginx stub_status public",
        matcher: Matcher::ContainsAll(&["Active connections:", "server accepts handled requests"]),
    },
    Probe {
        id: "ds-store",
        path: "/.DS_Store",
        severity: "low",
        title: "macOS .DS_Store listing exposed",
        matcher: Matcher::StartsWith(&[b"\x00\x00\x00\x01Bud1"]),
    },
    Probe {
        id: "svn-db",
        path: "/.svn/wc.db",
        severity: "high",
        title: "Subversion working copy exposed",
        matcher: Matcher::StartsWith(&[b"SQLite format 3\x00"]),
    },
    Probe {
        id: "htpasswd",
        path: "/.htpasswd",
        severity: "high",
        title: "Password file exposed (.htpasswd)",
        matcher: Matcher::ContainsAll(&[":$"]),
    },
    Probe {
        id: "backup-zip",
        path: "/backup.zip",
        severity: "high",
        title: "Site backup archive exposed (backup.zip)",
        matcher: Matcher::StartsWith(&[b"PK\x03\x04"]),
    },
    Probe {
        id: "backup-tar-gz",
        path: "/backup.tar.gz",
        severity: "high",
        title: "Site backup archive exposed (backup.tar.gz)",
        matcher: Matcher::StartsWith(&[b"\x1f\x8b"]),
    },
    Probe {
        id: "sql-dump",
        path: "/dump.sql",
        severity: "critical",
        title: "Database dump exposed (dump.sql)",
        matcher: Matcher::ContainsAll(&["CREATE TABLE"]),
    },
    Probe {
        id: "db-sql",
        path: "/db.sql",
        severity: "critical",
        title: "Database dump exposed (db.sql)",
        matcher: Matcher::ContainsAll(&["CREATE TABLE"]),
    },
    Probe {
        id: "wp-config-backup",
        path: "/wp-config.php.bak",
        severity: "critical",
        title: "WordPress configuration backup exposed",
        matcher: Matcher::ContainsAll(&["DB_PASSWORD"]),
    },
    Probe {
        id: "phpinfo",
        path: "/phpinfo.php",
        severity: "medium",
        title: "phpinfo() page public",
        matcher: Matcher::ContainsAll(&["PHP Version", "phpinfo()"]),
    },
    Probe {
        id: "aws-credentials",
        path: "/.aws/credentials",
        severity: "critical",
        title: "AWS credentials exposed",
        matcher: Matcher::ContainsAll(&["aws_secret_access_key"]),
    },
    Probe {
        id: "npmrc",
        path: "/.npmrc",
        severity: "high",
        title: "npm token file exposed (.npmrc)",
        matcher: Matcher::ContainsAll(&["_authToken"]),
    },
    Probe {
        id: "ssh-key",
        path: "/id_rsa",
        severity: "critical",
        title: "SSH private key exposed",
        matcher: Matcher::ContainsAll(&["-----BEGIN", "PRIVATE KEY-----"]),
    },
    Probe {
        id: "spring-actuator-env",
        path: "/actuator/env",
        severity: "high",
        title: "Spring Boot actuator environment public",
        matcher: Matcher::ContainsAll(&["\"propertySources\""]),
    },
    Probe {
        id: "docker-compose",
        path: "/docker-compose.yml",
        severity: "medium",
        title: "docker-compose.yml exposed",
        matcher: Matcher::ContainsAll(&["services:"]),
    },
];

impl Matcher {
    /// What matched, in words; `None` when the body is not the real thing.
    fn check(&self, body: &[u8]) -> Option<String> {
        match self {
            Matcher::StartsWith(prefixes) => prefixes
                .iter()
                .find(|p| body.starts_with(p))
                .map(|p| format!("the body starts with {:?}", String::from_utf8_lossy(p))),
            Matcher::ContainsAll(needles) => {
                let text = String::from_utf8_lossy(body);
                needles.iter().all(|n| text.contains(n)).then(|| format!("the body contains {}", quoted(needles)))
            }
            Matcher::EnvLines => {
                let text = String::from_utf8_lossy(body);
                if text.trim_start().starts_with('<') {
                    return None;
                }
                let names: Vec<&str> = text.lines().filter_map(env_name).collect();
                (!names.is_empty()).then(|| format!("{} variable(s), e.g. {}", names.len(), names[0]))
            }
        }
    }
}

fn quoted(needles: &[&str]) -> String {
    needles.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" and ")
}

/// `NAME` of a `NAME=value` line (upper-case letters, digits, `_`).
fn env_name(line: &str) -> Option<&str> {
    let line = line.trim().strip_prefix("export ").unwrap_or(line.trim());
    let (name, _) = line.split_once('=')?;
    let valid = !name.is_empty()
        && name.bytes().next().is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    valid.then_some(name)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Find exposed files")]
pub(crate) struct ExposedConfig {
    /// The site: a host name or URL (HTTPS unless the URL says `http://`).
    #[schemars(title = "Site", example = &"acme.dev")]
    url: String,
    /// Check only these ids (e.g. `env`, `git-head`); every check when left out.
    #[serde(default)]
    #[schemars(title = "Checks", example = json!(["git-head", "env"]))]
    only: Option<Vec<String>>,
    /// Per request, in milliseconds.
    #[serde(default = "timeout")]
    #[schemars(title = "Timeout (ms)", range(min = 100, max = 60000))]
    timeout_ms: u64,
}

fn timeout() -> u64 {
    10_000
}

#[derive(Serialize, JsonSchema)]
struct Exposure {
    id: String,
    /// The URL that leaked.
    url: String,
    /// `critical`, `high`, `medium` or `low`.
    severity: String,
    title: String,
    /// What matched (never the content itself).
    evidence: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ExposedOutput {
    site: String,
    /// How many paths were checked.
    checked: usize,
    findings: Vec<Exposure>,
}

pub(crate) struct ExposedFiles;

impl Node for ExposedFiles {
    const KIND: &'static str = "exposed-files";
    const TITLE: &'static str = "Find exposed files";
    const DESCRIPTION: &'static str =
        "Probe a site for commonly leaked paths (.git, .env, backups, server-status…); emits on `found` or `clean`";
    const CATEGORY: &'static str = "security";
    const PORTS: &'static [&'static str] = &["found", "clean"];
    type Config = ExposedConfig;
    type Input = Value;
    type Output = ExposedOutput;

    fn run(cx: &Context, config: ExposedConfig, _input: Value) -> Result<Emits<ExposedOutput>, NodeError> {
        let target = Target::parse("url", &config.url)?;
        let probes: Vec<&Probe> = match &config.only {
            None => PROBES.iter().collect(),
            Some(ids) => ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    PROBES.iter().find(|p| p.id == id).ok_or_else(|| {
                        let known: Vec<&str> = PROBES.iter().map(|p| p.id).collect();
                        NodeError::InvalidConfig(format!(
                            "config.only[{i}]: no check `{id}` (known: {})",
                            known.join(", ")
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let base = target.preferred();
        let get = |path: &str| Request::get(fetch::join(&base, path)).timeout_ms(config.timeout_ms).send();
        // The answer to a path that cannot exist: a soft-404 page.
        let nonce: String =
            cx.idempotency_key.bytes().filter(u8::is_ascii_alphanumeric).map(char::from).take(24).collect();
        let baseline = get(&format!("/trellis-{nonce}-not-found.txt"))
            .map_err(|e| NodeError::Retryable(format!("{}: {e}", target.host)))?;
        let mut findings = Vec::new();
        for probe in &probes {
            let url = fetch::join(&base, probe.path);
            let response = match get(probe.path) {
                Ok(response) => response,
                Err(e) if e.is_transient() => return Err(NodeError::Retryable(format!("{url}: {e}"))),
                Err(e) => return Err(NodeError::Fatal(format!("{url}: {e}"))),
            };
            let soft_404 = baseline.status == response.status && baseline.body == response.body;
            if response.status != 200 || soft_404 {
                continue;
            }
            if let Some(evidence) = probe.matcher.check(&response.body) {
                findings.push(Exposure {
                    id: probe.id.to_owned(),
                    url,
                    severity: probe.severity.to_owned(),
                    title: probe.title.to_owned(),
                    evidence,
                });
            }
        }
        let port = if findings.is_empty() { "clean" } else { "found" };
        Ok(Emits::on(port, ExposedOutput { site: target.host, checked: probes.len(), findings }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(id: &str) -> &'static Matcher {
        &PROBES.iter().find(|p| p.id == id).unwrap().matcher
    }

    #[test]
    fn matchers_want_the_real_thing() {
        assert!(matcher("git-head").check(b"ref: refs/heads/main\n").is_some());
        assert!(matcher("git-head").check(b"<html>Not found</html>").is_none());
        let env = matcher("env").check(b"# app\nDB_HOST=db\nexport API_KEY=s3cret\n").unwrap();
        assert_eq!(env, "2 variable(s), e.g. DB_HOST");
        assert!(!env.contains("s3cret"), "evidence never holds a value");
        assert!(matcher("env").check(b"<!doctype html><p>A=B</p>").is_none());
        assert!(matcher("env").check(b"lower=case\n").is_none());
        assert!(matcher("backup-zip").check(b"PK\x03\x04rest").is_some());
        assert!(matcher("ssh-key").check(b"-----BEGIN OPENSSH PRIVATE KEY-----\nabc").is_some());
        assert!(PROBES.iter().all(|p| p.path.starts_with('/')));
        let mut ids: Vec<&str> = PROBES.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), PROBES.len(), "ids are unique");
    }
}
