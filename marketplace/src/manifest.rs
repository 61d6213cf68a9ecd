//! `trellis-plugin.toml`: what a package says about itself.
//!
//! ```toml
//! name = "acme/slack"
//! version = "1.2.0"
//! description = "Post messages to Slack channels"
//! license = "Apache-2.0"
//! category = "messaging"
//!
//! [capabilities]
//! hosts = ["slack.com", "*.slack.com"]
//! secrets = ["SLACK_TOKEN"]
//! kv = false
//! llm = false
//!
//! [limits]
//! fuel = 2_000_000_000
//! memory_bytes = 67_108_864
//! timeout_ms = 30_000
//! ```
//!
//! Capabilities are what the plugin asks for; a tenant grants a subset at
//! install. Limits are what it asks for per execution; the tenant's plan
//! and the engine's ceilings still bound them.

use serde::{Deserialize, Serialize};
use thiserror::Error;
use trellis_host_api::capabilities::secret_names::check_name as check_secret_name;

/// Largest manifest accepted, checked before parsing.
pub const MAX_MANIFEST_BYTES: usize = 64 << 10;
const MAX_DESCRIPTION_CHARS: usize = 500;
const MAX_LICENSE_CHARS: usize = 100;
const MAX_LIST_ITEMS: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("trellis-plugin.toml is {size} bytes, over the {max}-byte limit")]
    TooLarge { size: usize, max: usize },
    #[error("trellis-plugin.toml is not valid: {0}")]
    Syntax(String),
    #[error("trellis-plugin.toml: `{field}` {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ManifestError {
    ManifestError::Invalid { field: field.into(), message: message.into() }
}

/// The plugin categories the registry lists by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Security,
    Connector,
    Fixer,
    Ai,
    Payments,
    Messaging,
    Data,
    Utility,
}

impl Category {
    pub const ALL: [Category; 8] = [
        Category::Security,
        Category::Connector,
        Category::Fixer,
        Category::Ai,
        Category::Payments,
        Category::Messaging,
        Category::Data,
        Category::Utility,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Security => "security",
            Category::Connector => "connector",
            Category::Fixer => "fixer",
            Category::Ai => "ai",
            Category::Payments => "payments",
            Category::Messaging => "messaging",
            Category::Data => "data",
            Category::Utility => "utility",
        }
    }

    pub fn parse(text: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// In `capabilities.secrets`: any name the tenant grants.
pub const ANY_SECRET: &str = "*";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capabilities {
    /// Outbound host patterns: `api.example.com`, `*.example.com`, each
    /// optionally with `:port` (the engine's HTTP policy syntax), or `*`
    /// for a general-purpose plugin whose reach the tenant's grant decides.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Names of tenant secrets the plugin reads, or `*` for a
    /// general-purpose plugin that reads the names its nodes are configured
    /// with: the tenant's grant then lists the names it may read.
    #[serde(default)]
    pub secrets: Vec<String>,
    #[serde(default)]
    pub kv: bool,
    #[serde(default)]
    pub llm: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestedLimits {
    pub fuel: Option<u64>,
    pub memory_bytes: Option<u64>,
    pub timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `publisher/plugin`.
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub license: String,
    pub category: Category,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub limits: RequestedLimits,
}

impl Manifest {
    /// Parses and checks a manifest; the size is checked first.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.len() > MAX_MANIFEST_BYTES {
            return Err(ManifestError::TooLarge { size: bytes.len(), max: MAX_MANIFEST_BYTES });
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ManifestError::Syntax(format!("not UTF-8 at byte {}", e.valid_up_to())))?;
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Syntax(e.to_string()))?;
        manifest.check()?;
        Ok(manifest)
    }

    pub fn publisher(&self) -> &str {
        self.name.split_once('/').map_or("", |(publisher, _)| publisher)
    }

    pub fn plugin(&self) -> &str {
        self.name.split_once('/').map_or("", |(_, plugin)| plugin)
    }

    fn check(&self) -> Result<(), ManifestError> {
        match self.name.split_once('/') {
            Some((publisher, plugin)) if is_slug(publisher) && is_slug(plugin) => {}
            _ => {
                return Err(invalid(
                    "name",
                    "must be `publisher/plugin`, each 1–63 of a-z, 0-9 and `-`, starting with a letter or digit",
                ));
            }
        }
        if !self.version.build.is_empty() {
            return Err(invalid("version", "may not carry build metadata (`+…`): versions must compare exactly"));
        }
        let description = self.description.trim();
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(invalid("description", format!("must be 1–{MAX_DESCRIPTION_CHARS} characters")));
        }
        let license = self.license.trim();
        if license.is_empty()
            || license.chars().count() > MAX_LICENSE_CHARS
            || !license.chars().all(|c| c.is_ascii_alphanumeric() || " .-+()".contains(c))
        {
            return Err(invalid("license", "must be an SPDX expression such as `Apache-2.0` or `MIT OR Apache-2.0`"));
        }
        let capabilities = &self.capabilities;
        for (field, list) in
            [("capabilities.hosts", &capabilities.hosts), ("capabilities.secrets", &capabilities.secrets)]
        {
            if list.len() > MAX_LIST_ITEMS {
                return Err(invalid(field, format!("lists {} entries, over {MAX_LIST_ITEMS}", list.len())));
            }
        }
        for (i, host) in capabilities.hosts.iter().enumerate() {
            check_host_pattern(host).map_err(|message| invalid(format!("capabilities.hosts[{i}]"), message))?;
        }
        for (i, name) in capabilities.secrets.iter().enumerate() {
            if name != ANY_SECRET {
                check_secret_name(name).map_err(|message| invalid(format!("capabilities.secrets[{i}]"), message))?;
            }
        }
        let limits = &self.limits;
        for (field, value) in [
            ("limits.fuel", limits.fuel),
            ("limits.memory_bytes", limits.memory_bytes),
            ("limits.timeout_ms", limits.timeout_ms),
        ] {
            if value == Some(0) {
                return Err(invalid(field, "must be above 0 (leave it out for the engine's default)"));
            }
        }
        Ok(())
    }
}

/// A publisher or plugin name part: 1–63 of `a-z`, `0-9`, `-`, not starting with `-`.
pub fn is_slug(part: &str) -> bool {
    let bytes = part.as_bytes();
    (1..=63).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// `host`, `*.host`, each with an optional `:port`; lowercase DNS names.
fn check_host_pattern(pattern: &str) -> Result<(), String> {
    let (name, port) = match pattern.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (pattern, None),
    };
    if let Some(port) = port
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(format!("`{}`: the port must be 1–65535", pattern.escape_debug()));
    }
    // Any host: for general-purpose plugins (an HTTP request node); the
    // tenant's grant decides which hosts it really reaches.
    if name == "*" && port.is_none() {
        return Ok(());
    }
    let host = name.strip_prefix("*.").unwrap_or(name);
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.contains('.')
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if labels_ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a host pattern: a lowercase DNS name with a dot, optionally `*.` before it and `:port` after",
            pattern.escape_debug()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "acme/slack"
version = "1.2.0"
description = "Post messages to Slack channels"
license = "MIT OR Apache-2.0"
category = "messaging"

[capabilities]
hosts = ["slack.com", "*.slack.com:443"]
secrets = ["SLACK_TOKEN"]
kv = true

[limits]
fuel = 2_000_000_000
timeout_ms = 30_000
"#;

    #[test]
    fn a_complete_manifest_parses() {
        let manifest = Manifest::parse(GOOD.as_bytes()).expect("valid");
        assert_eq!((manifest.publisher(), manifest.plugin()), ("acme", "slack"));
        assert_eq!(manifest.version, semver::Version::new(1, 2, 0));
        assert_eq!(manifest.category, Category::Messaging);
        assert_eq!(manifest.capabilities.hosts, ["slack.com", "*.slack.com:443"]);
        assert!(manifest.capabilities.kv && !manifest.capabilities.llm);
        assert_eq!((manifest.limits.fuel, manifest.limits.memory_bytes), (Some(2_000_000_000), None));
    }

    fn field_of(error: ManifestError) -> String {
        match error {
            ManifestError::Invalid { field, .. } => field,
            other => panic!("expected a field error, got {other}"),
        }
    }

    #[test]
    fn any_host_may_be_requested_and_the_grant_decides() {
        let text = GOOD.replacen(r#""*.slack.com:443""#, r#""*""#, 1);
        assert_eq!(Manifest::parse(text.as_bytes()).expect("bare `*`").capabilities.hosts[1], "*");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"name = "acme/slack""#, r#"name = "slack""#, "name"),
            (r#"name = "acme/slack""#, r#"name = "Acme/slack""#, "name"),
            (r#"version = "1.2.0""#, r#"version = "1.2.0+build5""#, "version"),
            (r#"description = "Post messages to Slack channels""#, r#"description = "  ""#, "description"),
            (r#"license = "MIT OR Apache-2.0""#, r#"license = "<script>""#, "license"),
            (r#""*.slack.com:443""#, r#""*.com""#, "capabilities.hosts[1]"),
            (r#""*.slack.com:443""#, r#""https://slack.com/api""#, "capabilities.hosts[1]"),
            (r#""*.slack.com:443""#, r#""slack.com:0""#, "capabilities.hosts[1]"),
            (r#"secrets = ["SLACK_TOKEN"]"#, r#"secrets = ["SLACK TOKEN"]"#, "capabilities.secrets[0]"),
            ("fuel = 2_000_000_000", "fuel = 0", "limits.fuel"),
        ];
        for (from, to, field) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from}");
            let error = Manifest::parse(text.as_bytes()).expect_err(to);
            assert_eq!(field_of(error), field, "{to}");
        }
    }

    #[test]
    fn shape_errors_say_where() {
        for (from, to, needle) in [
            (r#"category = "messaging""#, r#"category = "games""#, "category"),
            ("kv = true", "kv = true\nfilesystem = true", "filesystem"),
            (r#"version = "1.2.0""#, r#"version = "one""#, "version"),
            ("[limits]", "[limits\n", "line"),
        ] {
            let text = GOOD.replacen(from, to, 1);
            match Manifest::parse(text.as_bytes()) {
                Err(ManifestError::Syntax(message)) => assert!(message.contains(needle), "{needle}: {message}"),
                other => panic!("{to}: {other:?}"),
            }
        }
        assert!(matches!(Manifest::parse(&[0xff, 0xfe]), Err(ManifestError::Syntax(_))));
    }

    #[test]
    fn oversized_manifests_are_refused_before_parsing() {
        let huge = format!("{GOOD}\n# {}", "x".repeat(MAX_MANIFEST_BYTES));
        assert_eq!(
            Manifest::parse(huge.as_bytes()),
            Err(ManifestError::TooLarge { size: huge.len(), max: MAX_MANIFEST_BYTES })
        );
    }
}
