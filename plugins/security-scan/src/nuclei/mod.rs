//! `template`: runs nuclei-format templates against a site (the subset in
//! `template.rs`), the way nuclei evaluates them: every path of a request
//! is sent, matchers combine with `matchers-condition`, each matcher's
//! words or patterns with its `condition`, `negative` inverts one, and a
//! request with only extractors matches when they extract something.

mod evaluate;
mod template;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError};

use crate::target::Target;
use evaluate::Exchange;
use template::Template;

/// The most templates one node runs, and the largest one it reads.
const MAX_TEMPLATES: usize = 50;
const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Run nuclei templates")]
pub(crate) struct TemplateConfig {
    /// The target: `{{BaseURL}}` in the templates.
    #[schemars(title = "Target URL", example = &"https://acme.dev")]
    url: String,
    /// Templates as YAML text (at most 50, each at most 64 KiB).
    #[schemars(title = "Templates", length(min = 1, max = 50))]
    templates: Vec<String>,
    /// Per request, in milliseconds.
    #[serde(default = "timeout")]
    #[schemars(title = "Timeout (ms)", range(min = 100, max = 60000))]
    timeout_ms: u64,
}

fn timeout() -> u64 {
    10_000
}

#[derive(Serialize, JsonSchema, Debug)]
pub(crate) struct Match {
    template: String,
    name: String,
    severity: String,
    /// The URL whose answer matched.
    matched_at: String,
    /// Names of the matchers that matched, when they are named.
    matcher_names: Vec<String>,
    /// What the extractors found, by extractor name (`extracted` when unnamed).
    extracted: BTreeMap<String, Vec<String>>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct TemplateOutput {
    /// Templates run.
    ran: usize,
    /// Requests sent.
    requests: usize,
    matches: Vec<Match>,
}

pub(crate) struct Templates;

impl Node for Templates {
    const KIND: &'static str = "template";
    const TITLE: &'static str = "Run nuclei templates";
    const DESCRIPTION: &'static str = "Run nuclei-format HTTP templates (word/regex/status matchers, regex/kval/json extractors) against a site; emits on `matched` or `clean`";
    const CATEGORY: &'static str = "security";
    const PORTS: &'static [&'static str] = &["matched", "clean"];
    type Config = TemplateConfig;
    type Input = Value;
    type Output = TemplateOutput;

    fn run(_cx: &Context, config: TemplateConfig, _input: Value) -> Result<Emits<TemplateOutput>, NodeError> {
        let target = Target::parse("url", &config.url)?;
        if config.templates.is_empty() || config.templates.len() > MAX_TEMPLATES {
            return Err(NodeError::InvalidConfig(format!("config.templates: give 1 to {MAX_TEMPLATES} templates")));
        }
        let mut templates = Vec::new();
        for (i, text) in config.templates.iter().enumerate() {
            if text.len() > MAX_TEMPLATE_BYTES {
                return Err(NodeError::InvalidConfig(format!(
                    "config.templates[{i}]: over {MAX_TEMPLATE_BYTES} bytes"
                )));
            }
            templates.push(
                Template::parse(text).map_err(|e| NodeError::InvalidConfig(format!("config.templates[{i}]: {e}")))?,
            );
        }
        let variables = variables(&target);
        let mut matches = Vec::new();
        let mut sent = 0;
        for template in &templates {
            for request in &template.http {
                for path in &request.path {
                    let url = expand(path, &variables);
                    let exchange = send(request, &url, &variables, config.timeout_ms)?;
                    sent += 1;
                    let Some((names, extracted)) = evaluate::evaluate(request, &exchange) else { continue };
                    matches.push(Match {
                        template: template.id.clone(),
                        name: template.info.name.clone(),
                        severity: template.info.severity.clone(),
                        matched_at: url,
                        matcher_names: names,
                        extracted,
                    });
                    if request.stop_at_first_match {
                        break;
                    }
                }
            }
        }
        let port = if matches.is_empty() { "clean" } else { "matched" };
        Ok(Emits::on(port, TemplateOutput { ran: templates.len(), requests: sent, matches }))
    }
}

/// nuclei's URL variables for the target.
fn variables(target: &Target) -> Vec<(&'static str, String)> {
    let base = target.preferred();
    let scheme = target.scheme.clone().unwrap_or_else(|| "https".to_owned());
    let root = format!("{scheme}://{}", target.authority);
    let port = target
        .authority
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| if scheme == "https" { "443".to_owned() } else { "80".to_owned() });
    let path = if target.path == "/" { String::new() } else { target.path.clone() };
    vec![
        ("BaseURL", base.trim_end_matches('/').to_owned()),
        ("RootURL", root),
        ("Hostname", target.authority.clone()),
        ("Host", target.host.clone()),
        ("Port", port),
        ("Path", path),
        ("Scheme", scheme),
    ]
}

fn expand(text: &str, variables: &[(&str, String)]) -> String {
    variables.iter().fold(text.to_owned(), |text, (name, value)| text.replace(&format!("{{{{{name}}}}}"), value))
}

fn send(
    request: &template::HttpRequest,
    url: &str,
    variables: &[(&str, String)],
    timeout_ms: u64,
) -> Result<Exchange, NodeError> {
    let follow = request.redirects || request.host_redirects;
    let max = request.max_redirects.unwrap_or(10).min(crate::fetch::MAX_REDIRECTS);
    let mut current = url.to_owned();
    let mut hops = 0;
    loop {
        let mut outgoing = Request::new(&request.method, &current).timeout_ms(timeout_ms);
        for (name, value) in &request.headers {
            outgoing = outgoing.header(name, &expand(value, variables));
        }
        if let Some(body) = &request.body {
            outgoing = outgoing.body(expand(body, variables));
        }
        let response = outgoing.send().map_err(|e| match e {
            e if e.is_transient() => NodeError::Retryable(format!("{current}: {e}")),
            e => NodeError::InvalidConfig(format!("{current}: {e}")),
        })?;
        let location = response.header("location").map(|l| crate::fetch::resolve(&current, l));
        match location {
            Some(next) if follow && hops < max && (300..400).contains(&response.status) => {
                hops += 1;
                current = next;
            }
            _ => return Ok(Exchange::new(response)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_follow_nuclei() {
        let target = Target::parse("url", "http://127.0.0.1:8080/app").unwrap();
        let vars = variables(&target);
        assert_eq!(expand("{{BaseURL}}/.git/config", &vars), "http://127.0.0.1:8080/app/.git/config");
        assert_eq!(
            expand("{{RootURL}}/x {{Hostname}} {{Host}} {{Port}} {{Scheme}}", &vars),
            "http://127.0.0.1:8080/x 127.0.0.1:8080 127.0.0.1 8080 http"
        );
    }
}
