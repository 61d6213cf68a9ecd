//! `slack`: an incoming webhook (the URL is the credential, so it is a
//! secret) or the Web API's `chat.postMessage` with a bot token. Slack has
//! no idempotency key for either.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, SecretName, provider};

use crate::{PLUGIN, api_base};

/// Slack truncates longer texts; 40,000 is its documented cap.
const MAX_TEXT_CHARS: usize = 40_000;

#[derive(Deserialize, JsonSchema)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(title = "Post to Slack")]
pub(crate) enum SlackConfig {
    /// An incoming webhook posts to the one channel it was made for.
    Webhook {
        /// The tenant secret that holds the webhook URL
        /// (`https://hooks.slack.com/services/…`).
        #[schemars(title = "Webhook URL secret", example = &"SLACK_WEBHOOK_URL")]
        webhook_url: SecretName,
        /// The message (Slack's mrkdwn); the fallback text when `blocks` are given.
        #[schemars(title = "Text", example = &"Price of {{ input.key }} moved {{ input.delta_percent }}%")]
        text: String,
        /// Block Kit blocks.
        #[serde(default)]
        #[schemars(title = "Blocks")]
        blocks: Option<Vec<Value>>,
    },
    /// `chat.postMessage` with a bot token: any channel the bot is in.
    Api {
        /// The tenant secret that holds the bot token (`xoxb-…`).
        #[schemars(title = "Bot token secret", example = &"SLACK_BOT_TOKEN")]
        token: SecretName,
        /// A channel id (`C…`) or name (`#alerts`).
        #[schemars(title = "Channel", example = &"#alerts")]
        channel: String,
        #[schemars(title = "Text")]
        text: String,
        #[serde(default)]
        #[schemars(title = "Blocks")]
        blocks: Option<Vec<Value>>,
        /// Reply in this thread (a parent message's `ts`).
        #[serde(default)]
        #[schemars(title = "Thread")]
        thread_ts: Option<String>,
        /// Slack's API root; its host must be granted to this plugin.
        #[serde(default)]
        #[schemars(title = "API base URL", example = &"https://slack.com/api")]
        api_base: Option<String>,
    },
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Posted {
    /// The channel id (the Web API only).
    channel: Option<String>,
    /// The message's timestamp id, to thread replies on (the Web API only).
    ts: Option<String>,
}

/// Posts one Slack message.
pub(crate) struct Slack;

impl Node for Slack {
    const KIND: &'static str = "slack";
    const TITLE: &'static str = "Post to Slack";
    const DESCRIPTION: &'static str = "Post a message to Slack through an incoming webhook or chat.postMessage";
    const CATEGORY: &'static str = "messaging";
    type Config = SlackConfig;
    type Input = Value;
    type Output = Posted;

    fn run(_cx: &Context, config: SlackConfig, _input: Value) -> Result<Emits<Posted>, NodeError> {
        match config {
            SlackConfig::Webhook { webhook_url, text, blocks } => {
                check_text(&text)?;
                let url = webhook_url.read("webhook_url", PLUGIN)?;
                let request = message_request(url, &message(None, &text, blocks, None))?;
                provider::call("Slack", &request)?;
                Ok(Emits::out(Posted { channel: None, ts: None }))
            }
            SlackConfig::Api { token, channel, text, blocks, thread_ts, api_base: base } => {
                check_text(&text)?;
                let token = token.read("token", PLUGIN)?;
                let url = format!("{}/chat.postMessage", api_base(&base, "https://slack.com/api"));
                let request = message_request(url, &message(Some(&channel), &text, blocks, thread_ts))?
                    .header("authorization", &format!("Bearer {token}"));
                let response = provider::call("Slack", &request)?;
                let answer: Value = response.json().map_err(|e| NodeError::Fatal(format!("Slack: {e}")))?;
                web_api_result(&answer)?;
                Ok(Emits::out(Posted {
                    channel: answer["channel"].as_str().map(str::to_owned),
                    ts: answer["ts"].as_str().map(str::to_owned),
                }))
            }
        }
    }
}

fn check_text(text: &str) -> Result<(), NodeError> {
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_TEXT_CHARS {
        return Err(NodeError::InvalidConfig(format!(
            "config.text: 1 to {MAX_TEXT_CHARS} characters (it has {chars})"
        )));
    }
    Ok(())
}

fn message(channel: Option<&str>, text: &str, blocks: Option<Vec<Value>>, thread_ts: Option<String>) -> Value {
    let mut body = json!({"text": text});
    if let Some(channel) = channel {
        body["channel"] = json!(channel);
    }
    if let Some(blocks) = blocks {
        body["blocks"] = json!(blocks);
    }
    if let Some(ts) = thread_ts {
        body["thread_ts"] = json!(ts);
    }
    body
}

fn message_request(url: String, body: &Value) -> Result<Request, NodeError> {
    let bytes = serde_json::to_vec(body).map_err(|e| NodeError::Fatal(format!("message: {e}")))?;
    Ok(Request::post(url).header("content-type", "application/json; charset=utf-8").body(bytes))
}

/// The Web API answers 200 with `{"ok": false, "error": "…"}` for failures.
fn web_api_result(answer: &Value) -> Result<(), NodeError> {
    if answer["ok"].as_bool() == Some(true) {
        return Ok(());
    }
    let code = answer["error"].as_str().unwrap_or("unknown_error");
    let message = format!("Slack chat.postMessage: {code}");
    Err(match code {
        "ratelimited" | "internal_error" | "service_unavailable" | "request_timeout" | "fatal_error" => {
            NodeError::Retryable(message)
        }
        "invalid_auth"
        | "not_authed"
        | "account_inactive"
        | "token_revoked"
        | "token_expired"
        | "missing_scope"
        | "channel_not_found"
        | "not_in_channel"
        | "is_archived"
        | "msg_too_long"
        | "no_text"
        | "invalid_blocks"
        | "too_many_attachments"
        | "restricted_action" => NodeError::InvalidConfig(message),
        _ => NodeError::Fatal(message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_tagged() {
        let config: SlackConfig =
            serde_json::from_value(json!({"mode": "api", "token": "T", "channel": "#alerts", "text": "hi"})).unwrap();
        assert!(matches!(config, SlackConfig::Api { ref channel, .. } if channel == "#alerts"));
        assert!(serde_json::from_value::<SlackConfig>(json!({"mode": "webhook", "text": "hi"})).is_err());
        assert_eq!(
            message(Some("C1"), "hi", None, Some("1.2".into())),
            json!({"channel": "C1", "text": "hi", "thread_ts": "1.2"})
        );
    }

    #[test]
    fn web_api_errors_map_by_code() {
        assert!(web_api_result(&json!({"ok": true, "ts": "1.2"})).is_ok());
        assert!(
            matches!(web_api_result(&json!({"ok": false, "error": "channel_not_found"})), Err(NodeError::InvalidConfig(m)) if m.ends_with("channel_not_found"))
        );
        assert!(matches!(web_api_result(&json!({"ok": false, "error": "ratelimited"})), Err(NodeError::Retryable(_))));
        assert!(matches!(web_api_result(&json!({"ok": false, "error": "something_new"})), Err(NodeError::Fatal(_))));
    }
}
