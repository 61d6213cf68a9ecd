//! `email` through Resend (`POST /emails`) or SendGrid
//! (`POST /v3/mail/send`): both take JSON and a Bearer key.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, SecretName, provider};

use crate::{PLUGIN, api_base};

const MAX_RECIPIENTS: usize = 50;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug, Default)]
#[serde(rename_all = "lowercase")]
enum EmailProvider {
    /// resend.com: `POST https://api.resend.com/emails`.
    #[default]
    Resend,
    /// Twilio SendGrid: `POST https://api.sendgrid.com/v3/mail/send`.
    Sendgrid,
}

/// One address or a list of them.
#[derive(Deserialize, JsonSchema, Clone, Debug)]
#[serde(untagged)]
pub(crate) enum Recipients {
    One(String),
    Many(Vec<String>),
}

impl Recipients {
    fn list(&self, field: &str) -> Result<Vec<String>, NodeError> {
        let list: Vec<String> = match self {
            Recipients::One(one) => vec![one.trim().to_owned()],
            Recipients::Many(many) => many.iter().map(|a| a.trim().to_owned()).collect(),
        };
        if list.is_empty() || list.len() > MAX_RECIPIENTS {
            return Err(NodeError::InvalidConfig(format!("config.{field}: give 1 to {MAX_RECIPIENTS} addresses")));
        }
        if let Some((i, bad)) = list.iter().enumerate().find(|(_, a)| !is_address(a)) {
            return Err(NodeError::InvalidConfig(format!("config.{field}[{i}]: `{bad}` is not an email address")));
        }
        Ok(list)
    }
}

/// `name@domain`, bare or as `Name <name@domain>`.
fn is_address(text: &str) -> bool {
    let (_, email) = split_address(text);
    matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !email.contains(char::is_whitespace))
}

/// `("Name", "name@domain")` from `Name <name@domain>`; no name for a bare address.
fn split_address(text: &str) -> (Option<&str>, &str) {
    match text.trim().strip_suffix('>').and_then(|t| t.split_once('<')) {
        Some((name, email)) => {
            let name = name.trim().trim_matches('"').trim();
            ((!name.is_empty()).then_some(name), email.trim())
        }
        None => (None, text.trim()),
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Send an email")]
pub(crate) struct EmailConfig {
    /// Which email API sends it.
    #[serde(default)]
    #[schemars(title = "Provider")]
    provider: EmailProvider,
    /// The tenant secret that holds the provider's API key.
    #[schemars(title = "API key secret", example = &"RESEND_API_KEY")]
    api_key: SecretName,
    /// The sender, on a domain verified with the provider.
    #[schemars(title = "From", example = &"Acme Security <alerts@acme.dev>")]
    from: String,
    /// One address or a list (at most 50).
    #[schemars(title = "To", example = json!(["ops@acme.dev"]))]
    to: Recipients,
    #[schemars(title = "Subject", length(min = 1, max = 998), example = &"Nightly scan: grade {{ nodes.headers.output.grade }}")]
    subject: String,
    /// The plain-text body. Give `text`, `html` or both.
    #[serde(default)]
    #[schemars(title = "Text body")]
    text: Option<String>,
    /// The HTML body.
    #[serde(default)]
    #[schemars(title = "HTML body")]
    html: Option<String>,
    /// Where replies go.
    #[serde(default)]
    #[schemars(title = "Reply to", example = &"security@acme.dev")]
    reply_to: Option<String>,
    /// The provider's API root. Change it only for a compatible endpoint;
    /// its host must be granted to this plugin.
    #[serde(default)]
    #[schemars(title = "API base URL", example = &"https://api.resend.com")]
    api_base: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct EmailOutput {
    provider: String,
    /// The provider's id for the message.
    id: Option<String>,
    to: Vec<String>,
}

/// Sends one email.
pub(crate) struct Email;

impl Node for Email {
    const KIND: &'static str = "email";
    const TITLE: &'static str = "Send an email";
    const DESCRIPTION: &'static str = "Send an email through Resend or SendGrid";
    const CATEGORY: &'static str = "messaging";
    type Config = EmailConfig;
    type Input = Value;
    type Output = EmailOutput;

    fn run(cx: &Context, config: EmailConfig, _input: Value) -> Result<Emits<EmailOutput>, NodeError> {
        let to = config.to.list("to")?;
        if !is_address(&config.from) {
            return Err(NodeError::InvalidConfig(format!("config.from: `{}` is not an email address", config.from)));
        }
        if let Some(reply_to) = config.reply_to.as_deref().filter(|r| !is_address(r)) {
            return Err(NodeError::InvalidConfig(format!("config.reply_to: `{reply_to}` is not an email address")));
        }
        if config.text.is_none() && config.html.is_none() {
            return Err(NodeError::InvalidConfig("config: give `text`, `html` or both".to_owned()));
        }
        let key = config.api_key.read("api_key", PLUGIN)?;
        let (name, request) = match config.provider {
            EmailProvider::Resend => ("Resend", resend_request(&config, &to, &key, &cx.idempotency_key)?),
            EmailProvider::Sendgrid => ("SendGrid", sendgrid_request(&config, &to, &key, &cx.idempotency_key)?),
        };
        let response = provider::call(name, &request)?;
        let id = match config.provider {
            EmailProvider::Resend => response.json::<Value>().ok().and_then(|v| v["id"].as_str().map(str::to_owned)),
            EmailProvider::Sendgrid => response.header("x-message-id").map(str::to_owned),
        };
        Ok(Emits::out(EmailOutput { provider: name.to_owned(), id, to }))
    }
}

fn json_request(url: String, key: &str, body: &Value) -> Result<Request, NodeError> {
    Request::post(url)
        .header("authorization", &format!("Bearer {key}"))
        .json(body)
        .map_err(|e| NodeError::InvalidConfig(e.to_string()))
}

/// Resend deduplicates on `Idempotency-Key` for 24 hours.
fn resend_request(config: &EmailConfig, to: &[String], key: &str, idempotency_key: &str) -> Result<Request, NodeError> {
    let mut body = json!({"from": config.from.trim(), "to": to, "subject": config.subject});
    if let Some(text) = &config.text {
        body["text"] = json!(text);
    }
    if let Some(html) = &config.html {
        body["html"] = json!(html);
    }
    if let Some(reply_to) = &config.reply_to {
        body["reply_to"] = json!(reply_to.trim());
    }
    let url = format!("{}/emails", api_base(&config.api_base, "https://api.resend.com"));
    Ok(json_request(url, key, &body)?.header("idempotency-key", idempotency_key))
}

/// SendGrid has no idempotency key; the node's key travels as a custom
/// argument so the event webhook can tie deliveries back to the run.
fn sendgrid_request(
    config: &EmailConfig,
    to: &[String],
    key: &str,
    idempotency_key: &str,
) -> Result<Request, NodeError> {
    let address = |text: &str| {
        let (name, email) = split_address(text);
        match name {
            Some(name) => json!({"email": email, "name": name}),
            None => json!({"email": email}),
        }
    };
    // SendGrid wants text/plain before text/html.
    let mut content = Vec::new();
    if let Some(text) = &config.text {
        content.push(json!({"type": "text/plain", "value": text}));
    }
    if let Some(html) = &config.html {
        content.push(json!({"type": "text/html", "value": html}));
    }
    let mut body = json!({
        "personalizations": [{"to": to.iter().map(|a| address(a)).collect::<Vec<_>>()}],
        "from": address(&config.from),
        "subject": config.subject,
        "content": content,
        "custom_args": {"trellis_idempotency_key": idempotency_key},
    });
    if let Some(reply_to) = &config.reply_to {
        body["reply_to"] = address(reply_to);
    }
    let url = format!("{}/v3/mail/send", api_base(&config.api_base, "https://api.sendgrid.com"));
    json_request(url, key, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: Value) -> EmailConfig {
        let mut base = json!({"api_key": "K", "from": "Acme <alerts@acme.dev>", "to": "ops@acme.dev",
                              "subject": "Hi", "text": "plain", "html": "<b>rich</b>"});
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn body(request: &Request) -> Value {
        serde_json::from_slice(request.body.as_deref().unwrap()).unwrap()
    }

    #[test]
    fn addresses_with_and_without_names() {
        assert_eq!(split_address("Acme Security <alerts@acme.dev>"), (Some("Acme Security"), "alerts@acme.dev"));
        assert_eq!(split_address("\"Ops\" <ops@acme.dev>"), (Some("Ops"), "ops@acme.dev"));
        assert_eq!(split_address("ops@acme.dev"), (None, "ops@acme.dev"));
        assert!(is_address("ops@acme.dev") && is_address("A <a@b.io>"));
        assert!(!is_address("ops") && !is_address("ops@localhost") && !is_address("a b@c.io"));
        let many = Recipients::Many(vec!["a@b.io".into(), "nope".into()]);
        assert!(matches!(many.list("to"), Err(NodeError::InvalidConfig(m)) if m.starts_with("config.to[1]")));
        assert!(Recipients::Many(vec![]).list("to").is_err());
    }

    #[test]
    fn resend_gets_json_bearer_and_the_idempotency_key() {
        let config = config(json!({"reply_to": "sec@acme.dev"}));
        let request = resend_request(&config, &["ops@acme.dev".into()], "re_123", "run-1:mail").unwrap();
        assert_eq!(request.url, "https://api.resend.com/emails");
        assert!(request.headers.contains(&("authorization".into(), "Bearer re_123".into())));
        assert!(request.headers.contains(&("idempotency-key".into(), "run-1:mail".into())));
        assert_eq!(
            body(&request),
            json!({"from": "Acme <alerts@acme.dev>", "to": ["ops@acme.dev"], "subject": "Hi",
            "text": "plain", "html": "<b>rich</b>", "reply_to": "sec@acme.dev"})
        );
    }

    #[test]
    fn sendgrid_gets_personalizations_and_plain_text_first() {
        let config = config(json!({"provider": "sendgrid", "api_base": "http://127.0.0.1:9/"}));
        let request = sendgrid_request(&config, &["ops@acme.dev".into()], "SG.x", "run-1:mail").unwrap();
        assert_eq!(request.url, "http://127.0.0.1:9/v3/mail/send");
        let body = body(&request);
        assert_eq!(body["personalizations"], json!([{"to": [{"email": "ops@acme.dev"}]}]));
        assert_eq!(body["from"], json!({"email": "alerts@acme.dev", "name": "Acme"}));
        assert_eq!(body["content"][0]["type"], "text/plain");
        assert_eq!(body["content"][1]["type"], "text/html");
        assert_eq!(body["custom_args"]["trellis_idempotency_key"], "run-1:mail");
    }
}
