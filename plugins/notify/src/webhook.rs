//! `webhook`: a JSON POST to any receiver, signed so it can check the
//! sender and the time. Two schemes:
//!
//! - `trellis`, the scheme of Trellis's own webhook triggers:
//!   `X-Trellis-Timestamp: t` and
//!   `X-Trellis-Signature: sha256=HEX(HMAC-SHA256(secret, "t.body"))`;
//! - `standard-webhooks` (standardwebhooks.com, Svix): `webhook-id`,
//!   `webhook-timestamp` and `webhook-signature: v1,BASE64(HMAC-SHA256(key,
//!   "id.t.body"))`, the key being the base64 after `whsec_`.
//!
//! Both send the node's idempotency key (`Idempotency-Key`, and as the
//! Standard Webhooks message id) so a receiver can drop a retried delivery.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, SecretName, provider};

use crate::PLUGIN;

#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Scheme {
    /// `X-Trellis-Timestamp` and `X-Trellis-Signature`, as Trellis webhook triggers check.
    #[default]
    Trellis,
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature` (Standard Webhooks, Svix).
    StandardWebhooks,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Signed webhook")]
pub(crate) struct WebhookConfig {
    /// Where to POST; its host must be granted to this plugin.
    #[schemars(title = "URL", example = &"https://hooks.acme.dev/trellis")]
    url: String,
    /// The JSON to send; the node's input when left out.
    #[serde(default)]
    #[schemars(title = "Body", example = json!({"event": "scan.finished", "grade": "{{ nodes.headers.output.grade }}"}))]
    body: Option<Value>,
    /// The tenant secret the signature is made with.
    #[schemars(title = "Signing secret", example = &"ALERTS_WEBHOOK_SECRET")]
    secret: SecretName,
    #[serde(default)]
    #[schemars(title = "Signature scheme")]
    signature: Scheme,
    /// More headers to send.
    #[serde(default)]
    #[schemars(title = "Headers", example = json!({"x-source": "trellis"}))]
    headers: BTreeMap<String, String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Delivered {
    status: u16,
    /// The receiver's answer: JSON when it is JSON, else text.
    body: Value,
}

/// POSTs one signed JSON document.
pub(crate) struct Webhook;

impl Node for Webhook {
    const KIND: &'static str = "webhook";
    const TITLE: &'static str = "Signed webhook";
    const DESCRIPTION: &'static str =
        "POST JSON to a URL, signed with a tenant secret (Trellis or Standard Webhooks scheme)";
    const CATEGORY: &'static str = "messaging";
    type Config = WebhookConfig;
    type Input = Value;
    type Output = Delivered;

    fn run(cx: &Context, config: WebhookConfig, input: Value) -> Result<Emits<Delivered>, NodeError> {
        let secret = config.secret.read("secret", PLUGIN)?;
        let body = serde_json::to_vec(config.body.as_ref().unwrap_or(&input))
            .map_err(|e| NodeError::Fatal(format!("body: {e}")))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let mut request = Request::post(&config.url).header("content-type", "application/json");
        for (name, value) in &config.headers {
            request = request.header(name, value);
        }
        for (name, value) in signature_headers(config.signature, &secret, &cx.idempotency_key, now, &body)? {
            request = request.header(name, &value);
        }
        let response = provider::call("the webhook receiver", &request.body(body))?;
        let body = serde_json::from_slice(&response.body).unwrap_or_else(|_| json!(response.text()));
        Ok(Emits::out(Delivered { status: response.status, body }))
    }
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, NodeError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).map_err(|e| NodeError::InvalidConfig(format!("config.secret: {e}")))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().to_vec())
}

fn signature_headers(
    scheme: Scheme,
    secret: &str,
    id: &str,
    now: u64,
    body: &[u8],
) -> Result<Vec<(&'static str, String)>, NodeError> {
    let timestamp = now.to_string();
    Ok(match scheme {
        Scheme::Trellis => {
            let digest = mac(secret.as_bytes(), &[timestamp.as_bytes(), b".", body])?;
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            vec![
                ("x-trellis-timestamp", timestamp),
                ("x-trellis-signature", format!("sha256={hex}")),
                ("idempotency-key", id.to_owned()),
            ]
        }
        Scheme::StandardWebhooks => {
            let base64 = base64::engine::general_purpose::STANDARD;
            let key = match secret.trim().strip_prefix("whsec_") {
                Some(encoded) => base64.decode(encoded).map_err(|_| {
                    NodeError::InvalidConfig(
                        "config.secret: a `whsec_` secret must be base64 after the prefix".to_owned(),
                    )
                })?,
                None => secret.as_bytes().to_vec(),
            };
            let digest = mac(&key, &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body])?;
            vec![
                ("webhook-id", id.to_owned()),
                ("webhook-timestamp", timestamp),
                ("webhook-signature", format!("v1,{}", base64.encode(digest))),
                ("idempotency-key", id.to_owned()),
            ]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(headers: &'a [(&str, String)], name: &str) -> &'a str {
        headers.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()).unwrap()
    }

    /// The example of the Standard Webhooks specification (the Svix one).
    #[test]
    fn standard_webhooks_match_the_published_example() {
        let body = br#"{"test": 2432232314}"#;
        let headers = signature_headers(
            Scheme::StandardWebhooks,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            body,
        )
        .unwrap();
        assert_eq!(header(&headers, "webhook-signature"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert_eq!(header(&headers, "webhook-id"), "msg_p5jXN8AQM9LWM0D4loKWxJek");
    }

    /// `printf '1767225600.{"a":1}' | openssl dgst -sha256 -hmac s3cret`.
    #[test]
    fn trellis_scheme_is_hmac_of_timestamp_dot_body() {
        let headers = signature_headers(Scheme::Trellis, "s3cret", "run:node", 1_767_225_600, br#"{"a":1}"#).unwrap();
        assert_eq!(header(&headers, "x-trellis-timestamp"), "1767225600");
        let signature = header(&headers, "x-trellis-signature");
        assert_eq!(signature, "sha256=7d4120fcebf444efab10ba7cd6c651bf463cefb039db5fad37ff9f7231ac8a4a");
        assert_eq!(header(&headers, "idempotency-key"), "run:node");
    }
}
