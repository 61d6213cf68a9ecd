//! `cloudflare-apply`: puts the `security-headers` rule into a zone's
//! `http_response_headers_transform` entrypoint ruleset through
//! Cloudflare's API, and turns on Always Use HTTPS when asked. Cloudflare
//! takes no idempotency key; the rule carries a fixed `ref` instead, and
//! applying replaces the rule with that `ref` and keeps every other rule,
//! so running it again (a retry, a later run) changes nothing twice.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, SecretName, provider};

use crate::headers::RULE_REF;

const PHASE: &str = "http_response_headers_transform";

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Apply in Cloudflare")]
pub(crate) struct ApplyConfig {
    /// The zone's id (32 hex digits, on the zone's overview page).
    #[schemars(title = "Zone id", example = &"023e105f4ecef8ad9ca31a8372d0c353")]
    zone_id: String,
    /// The tenant secret holding an API token with Zone Transform Rules
    /// and Zone Settings edit permissions.
    #[schemars(title = "API token secret", example = &"CLOUDFLARE_API_TOKEN")]
    api_token: SecretName,
    /// The `cloudflare` rule of a `security-headers` node.
    #[schemars(title = "Rule", example = &"{{ nodes.fix.output.cloudflare }}")]
    rule: Value,
    /// Also turn on Always Use HTTPS (HTTP redirects to HTTPS).
    #[serde(default)]
    #[schemars(title = "Always Use HTTPS", example = &"{{ nodes.fix.output.redirect_to_https }}")]
    always_use_https: bool,
    /// Cloudflare's API root; its host must be granted to this plugin.
    #[serde(default)]
    #[schemars(title = "API base URL", example = &"https://api.cloudflare.com/client/v4")]
    api_base: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Applied {
    zone_id: String,
    ruleset_id: Option<String>,
    /// Rules in the entrypoint now.
    rules: usize,
    /// An earlier Trellis rule was replaced.
    replaced: bool,
    always_use_https: bool,
}

pub(crate) struct CloudflareApply;

impl Node for CloudflareApply {
    const KIND: &'static str = "cloudflare-apply";
    const TITLE: &'static str = "Apply in Cloudflare";
    const DESCRIPTION: &'static str =
        "Set the security-header rule in a Cloudflare zone's response header transform ruleset, and Always Use HTTPS";
    const CATEGORY: &'static str = "fixer";
    type Config = ApplyConfig;
    type Input = Value;
    type Output = Applied;

    fn run(_cx: &Context, config: ApplyConfig, _input: Value) -> Result<Emits<Applied>, NodeError> {
        let zone = config.zone_id.trim().to_ascii_lowercase();
        if zone.len() != 32 || !zone.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(NodeError::InvalidConfig(format!(
                "config.zone_id: `{zone}` is not a Cloudflare zone id (32 hex digits)"
            )));
        }
        if config.rule["ref"] != RULE_REF || !config.rule["action_parameters"]["headers"].is_object() {
            return Err(NodeError::InvalidConfig(
                "config.rule: give the `cloudflare` output of a `security-headers` node".to_owned(),
            ));
        }
        let token = config.api_token.read("api_token", crate::PLUGIN)?;
        let base = config.api_base.as_deref().unwrap_or("https://api.cloudflare.com/client/v4").trim_end_matches('/');
        let entrypoint = format!("{base}/zones/{zone}/rulesets/phases/{PHASE}/entrypoint");
        let existing = match send(&token, Request::get(&entrypoint))? {
            Some(result) => result["rules"].as_array().cloned().unwrap_or_default(),
            None => Vec::new(),
        };
        let replaced = existing.iter().any(|r| r["ref"] == RULE_REF);
        let mut rules: Vec<Value> = existing.into_iter().filter(|r| r["ref"] != RULE_REF).map(writable).collect();
        rules.push(config.rule.clone());
        let body = serde_json::to_vec(&json!({"rules": rules})).map_err(|e| NodeError::Fatal(e.to_string()))?;
        let put = Request::new("PUT", &entrypoint).header("content-type", "application/json").body(body);
        let result = send(&token, put)?.unwrap_or(Value::Null);
        if config.always_use_https {
            let setting = format!("{base}/zones/{zone}/settings/always_use_https");
            let patch = Request::new("PATCH", &setting)
                .header("content-type", "application/json")
                .body(br#"{"value":"on"}"#.to_vec());
            send(&token, patch)?;
        }
        Ok(Emits::out(Applied {
            zone_id: zone,
            ruleset_id: result["id"].as_str().map(str::to_owned),
            rules: result["rules"].as_array().map_or(0, Vec::len),
            replaced,
            always_use_https: config.always_use_https,
        }))
    }
}

/// A rule as read, without the fields Cloudflare sets itself.
fn writable(mut rule: Value) -> Value {
    if let Some(map) = rule.as_object_mut() {
        for field in ["version", "last_updated", "categories", "logging"] {
            map.remove(field);
        }
    }
    rule
}

/// Cloudflare's envelope: `{"success", "errors": [{code, message}], "result"}`.
/// `None` for a 404 (no entrypoint ruleset yet).
fn send(token: &str, request: Request) -> Result<Option<Value>, NodeError> {
    let request = request.header("authorization", &format!("Bearer {token}")).header("accept", "application/json");
    let response = provider::send("Cloudflare", &request)?;
    if response.status == 404 && request.method == "GET" {
        return Ok(None);
    }
    let response = provider::check("Cloudflare", response)?;
    let answer: Value = response.json().map_err(|e| NodeError::Fatal(format!("Cloudflare: {e}")))?;
    if answer["success"] != true {
        let message = answer["errors"][0]["message"].as_str().unwrap_or("no error message");
        return Err(NodeError::Fatal(format!("Cloudflare: {message}")));
    }
    Ok(Some(answer["result"].clone()))
}
