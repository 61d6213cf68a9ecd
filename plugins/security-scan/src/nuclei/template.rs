//! The part of the nuclei template format this plugin runs: `http`
//! requests (`requests` in older templates) with method, paths, headers
//! and body, `{{BaseURL}}`-style variables, word/regex/status/size/binary
//! matchers and regex/kval/json extractors. Anything else a template asks
//! for (DSL matchers, raw requests, payloads, other protocols) is refused
//! by name rather than skipped, so a template never passes by accident.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Keys of an `http` request this subset cannot honour.
const UNSUPPORTED_REQUEST_KEYS: &[&str] = &[
    "raw",
    "payloads",
    "attack",
    "fuzzing",
    "pipeline",
    "race",
    "race_count",
    "unsafe",
    "iterate-all",
    "req-condition",
];
/// Protocols other than HTTP.
const OTHER_PROTOCOLS: &[&str] = &[
    "dns",
    "network",
    "tcp",
    "file",
    "headless",
    "ssl",
    "websocket",
    "whois",
    "code",
    "javascript",
    "flow",
    "workflows",
];

#[derive(Debug, Deserialize)]
pub struct Template {
    pub id: String,
    pub info: Info,
    #[serde(default, alias = "requests")]
    pub http: Vec<HttpRequest>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Info {
    #[serde(default)]
    pub name: String,
    #[serde(default = "unknown")]
    pub severity: String,
}

fn unknown() -> String {
    "unknown".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HttpRequest {
    #[serde(default = "get")]
    pub method: String,
    #[serde(default)]
    pub path: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub redirects: bool,
    #[serde(default)]
    pub host_redirects: bool,
    #[serde(default)]
    pub max_redirects: Option<usize>,
    #[serde(default)]
    pub stop_at_first_match: bool,
    #[serde(default)]
    pub matchers_condition: Condition,
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    #[serde(default)]
    pub extractors: Vec<Extractor>,
    #[serde(flatten)]
    pub rest: BTreeMap<String, serde_yaml_ng::Value>,
}

fn get() -> String {
    "GET".to_owned()
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Condition {
    #[default]
    Or,
    And,
}

#[derive(Debug, Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    #[default]
    Body,
    Header,
    All,
    Response,
    Raw,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Matcher {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub part: Part,
    #[serde(default)]
    pub condition: Condition,
    #[serde(default)]
    pub negative: bool,
    #[serde(default)]
    pub case_insensitive: bool,
    #[serde(default)]
    pub words: Vec<String>,
    #[serde(default)]
    pub regex: Vec<String>,
    #[serde(default)]
    pub status: Vec<u16>,
    #[serde(default)]
    pub size: Vec<usize>,
    #[serde(default)]
    pub binary: Vec<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Extractor {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub part: Part,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub regex: Vec<String>,
    #[serde(default)]
    pub group: usize,
    #[serde(default)]
    pub kval: Vec<String>,
    #[serde(default)]
    pub json: Vec<String>,
    #[serde(default)]
    pub internal: bool,
}

impl Template {
    /// Parses one template and refuses what this subset cannot run.
    pub fn parse(text: &str) -> Result<Template, String> {
        let template: Template = serde_yaml_ng::from_str(text).map_err(|e| format!("not a nuclei template: {e}"))?;
        if let Some(protocol) = OTHER_PROTOCOLS.iter().find(|p| template.rest.contains_key(**p)) {
            return Err(format!("template `{}` uses `{protocol}`; only `http` requests are supported", template.id));
        }
        if template.http.is_empty() {
            return Err(format!("template `{}` has no `http` requests", template.id));
        }
        for (i, request) in template.http.iter().enumerate() {
            let at = format!("template `{}`, http[{i}]", template.id);
            if let Some(key) = UNSUPPORTED_REQUEST_KEYS.iter().find(|k| request.rest.contains_key(**k)) {
                return Err(format!("{at}: `{key}` is not supported"));
            }
            if request.path.is_empty() {
                return Err(format!("{at}: no `path`"));
            }
            for matcher in &request.matchers {
                if !["word", "regex", "status", "size", "binary"].contains(&matcher.kind.as_str()) {
                    return Err(format!("{at}: `{}` matchers are not supported", matcher.kind));
                }
            }
            for pattern in
                request.matchers.iter().flat_map(|m| &m.regex).chain(request.extractors.iter().flat_map(|e| &e.regex))
            {
                regex::bytes::Regex::new(pattern).map_err(|e| format!("{at}: regex `{pattern}`: {e}"))?;
            }
            for extractor in &request.extractors {
                if !["regex", "kval", "json"].contains(&extractor.kind.as_str()) {
                    return Err(format!("{at}: `{}` extractors are not supported", extractor.kind));
                }
            }
        }
        Ok(template)
    }
}
