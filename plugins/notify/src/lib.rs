//! `trellis/notify`: tell people and systems what a workflow found.
//!
//! - `email`: Resend or SendGrid (`email.rs`);
//! - `sms`: Twilio or Africa's Talking; `whatsapp`: Twilio (`sms.rs`);
//! - `slack`: an incoming webhook or `chat.postMessage` (`slack.rs`);
//! - `webhook`: a signed POST to any receiver (`webhook.rs`).
//!
//! Credentials are tenant secrets named in the config; a provider's
//! failures map to node errors through the SDK's `provider` module.

mod email;
mod phone;
mod slack;
mod sms;
mod webhook;

use trellis_plugin_sdk::plugin;

/// The name tenants grant secrets to.
pub(crate) const PLUGIN: &str = "trellis/notify";

/// The shared description of every `api_base` field.
pub(crate) fn api_base(configured: &Option<String>, default: &str) -> String {
    configured.as_deref().unwrap_or(default).trim_end_matches('/').to_owned()
}

plugin!(email::Email, sms::Sms, sms::WhatsApp, slack::Slack, webhook::Webhook);
