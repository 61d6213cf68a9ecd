//! `sms` through Twilio's Messages API or Africa's Talking, and
//! `whatsapp` through Twilio. Both APIs take form-encoded bodies; Twilio
//! authenticates with HTTP Basic (account SID and auth token), Africa's
//! Talking with an `apiKey` header.

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use trellis_plugin_sdk::http::Request;
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, SecretName, provider};

use crate::phone::e164;
use crate::{PLUGIN, api_base};

/// An SMS is at most 10 segments here; providers bill per segment.
const MAX_BODY_CHARS: usize = 1600;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TwilioAccount {
    /// The account SID (`AC…`), from the Twilio console.
    #[schemars(title = "Account SID", example = &"ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX")]
    account_sid: String,
    /// The tenant secret that holds the account's auth token.
    #[schemars(title = "Auth token secret", example = &"TWILIO_AUTH_TOKEN")]
    auth_token: SecretName,
    /// Twilio's API root. Change it only for a compatible endpoint; its
    /// host must be granted to this plugin.
    #[serde(default)]
    #[schemars(title = "API base URL", example = &"https://api.twilio.com")]
    api_base: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TwilioSms {
    #[serde(flatten)]
    account: TwilioAccount,
    /// The sending number (E.164). Give `from` or `messaging_service_sid`.
    #[serde(default)]
    #[schemars(title = "From", example = &"+14155550100")]
    from: Option<String>,
    /// A Messaging Service (`MG…`) that picks the sender.
    #[serde(default)]
    #[schemars(title = "Messaging service SID")]
    messaging_service_sid: Option<String>,
    /// The recipient (E.164).
    #[schemars(title = "To", example = &"+254711000111")]
    to: String,
    #[schemars(title = "Message", length(min = 1, max = 1600))]
    body: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AfricasTalkingSms {
    /// The app's username (`sandbox` in the sandbox).
    #[schemars(title = "Username", example = &"acme")]
    username: String,
    /// The tenant secret that holds the app's API key.
    #[schemars(title = "API key secret", example = &"AFRICASTALKING_API_KEY")]
    api_key: SecretName,
    /// A registered sender id or short code; the account's default when empty.
    #[serde(default)]
    #[schemars(title = "From", example = &"ACME")]
    from: Option<String>,
    /// The recipient (E.164).
    #[schemars(title = "To", example = &"+254711000111")]
    to: String,
    #[schemars(title = "Message", length(min = 1, max = 1600))]
    body: String,
    /// Africa's Talking's API root (`https://api.sandbox.africastalking.com`
    /// for the sandbox); its host must be granted to this plugin.
    #[serde(default)]
    #[schemars(title = "API base URL", example = &"https://api.africastalking.com")]
    api_base: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(tag = "provider", rename_all = "lowercase")]
#[schemars(title = "Send an SMS")]
pub(crate) enum SmsConfig {
    /// Twilio's Messages API.
    Twilio(TwilioSms),
    /// Africa's Talking's SMS API.
    Africastalking(AfricasTalkingSms),
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Sent {
    provider: String,
    /// The provider's id for the message (`SM…`, `ATXid_…`).
    id: Option<String>,
    /// What the provider says of it (`queued`, `Success`…).
    status: Option<String>,
    to: String,
}

fn check_body(body: &str) -> Result<(), NodeError> {
    let chars = body.chars().count();
    if chars == 0 || chars > MAX_BODY_CHARS {
        return Err(NodeError::InvalidConfig(format!(
            "config.body: 1 to {MAX_BODY_CHARS} characters (it has {chars})"
        )));
    }
    Ok(())
}

/// Sends one SMS.
pub(crate) struct Sms;

impl Node for Sms {
    const KIND: &'static str = "sms";
    const TITLE: &'static str = "Send an SMS";
    const DESCRIPTION: &'static str = "Send a text message through Twilio or Africa's Talking";
    const CATEGORY: &'static str = "messaging";
    type Config = SmsConfig;
    type Input = Value;
    type Output = Sent;

    fn run(_cx: &Context, config: SmsConfig, _input: Value) -> Result<Emits<Sent>, NodeError> {
        match config {
            SmsConfig::Twilio(sms) => {
                let to = e164("to", &sms.to)?;
                check_body(&sms.body)?;
                let sender = match (&sms.from, &sms.messaging_service_sid) {
                    (Some(from), None) => ("From", e164("from", from)?),
                    (None, Some(service)) => ("MessagingServiceSid", service.trim().to_owned()),
                    _ => {
                        return Err(NodeError::InvalidConfig(
                            "config: give exactly one of `from` and `messaging_service_sid`".to_owned(),
                        ));
                    }
                };
                let form = vec![("To", to), sender, ("Body", sms.body)];
                Ok(Emits::out(twilio_send(&sms.account, &form)?))
            }
            SmsConfig::Africastalking(sms) => Ok(Emits::out(africastalking_send(&sms)?)),
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Send a WhatsApp message")]
pub(crate) struct WhatsAppConfig {
    #[serde(flatten)]
    account: TwilioAccount,
    /// The WhatsApp sender registered with Twilio (E.164, without `whatsapp:`).
    #[schemars(title = "From", example = &"+14155238886")]
    from: String,
    /// The recipient (E.164, without `whatsapp:`).
    #[schemars(title = "To", example = &"+254711000111")]
    to: String,
    /// Free-form text; WhatsApp delivers it only inside a 24-hour session
    /// the recipient opened. Give `body` or `content_sid`.
    #[serde(default)]
    #[schemars(title = "Message", length(max = 1600))]
    body: Option<String>,
    /// An approved message template (`HX…`), for messages outside a session.
    #[serde(default)]
    #[schemars(title = "Template SID", example = &"HXb5b62575e6e4ff6129ad7c8efe1f983e")]
    content_sid: Option<String>,
    /// The template's variables, e.g. `{"1": "A", "2": "94"}`.
    #[serde(default)]
    #[schemars(title = "Template variables", example = json!({"1": "A", "2": "acme.dev"}))]
    content_variables: Option<Map<String, Value>>,
}

/// Sends one WhatsApp message through Twilio.
pub(crate) struct WhatsApp;

impl Node for WhatsApp {
    const KIND: &'static str = "whatsapp";
    const TITLE: &'static str = "Send a WhatsApp message";
    const DESCRIPTION: &'static str = "Send a WhatsApp message (text or approved template) through Twilio";
    const CATEGORY: &'static str = "messaging";
    type Config = WhatsAppConfig;
    type Input = Value;
    type Output = Sent;

    fn run(_cx: &Context, config: WhatsAppConfig, _input: Value) -> Result<Emits<Sent>, NodeError> {
        let to = format!("whatsapp:{}", e164("to", &config.to)?);
        let from = format!("whatsapp:{}", e164("from", &config.from)?);
        let mut form = vec![("To", to), ("From", from)];
        match (config.body, config.content_sid) {
            (Some(body), None) => {
                check_body(&body)?;
                form.push(("Body", body));
            }
            (None, Some(sid)) => {
                form.push(("ContentSid", sid));
                if let Some(variables) = config.content_variables {
                    form.push(("ContentVariables", Value::Object(variables).to_string()));
                }
            }
            _ => {
                return Err(NodeError::InvalidConfig(
                    "config: give exactly one of `body` and `content_sid`".to_owned(),
                ));
            }
        }
        Ok(Emits::out(twilio_send(&config.account, &form)?))
    }
}

/// `POST /2010-04-01/Accounts/{sid}/Messages.json`.
fn twilio_request(account: &TwilioAccount, token: &str, form: &[(&str, String)]) -> Result<Request, NodeError> {
    let sid = account.account_sid.trim();
    // The SID is a path segment: letters and digits only.
    if !sid.starts_with("AC") || sid.len() > 64 || !sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(NodeError::InvalidConfig(format!("config.account_sid: `{sid}` is not a Twilio account SID (AC…)")));
    }
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{sid}:{token}"));
    let url =
        format!("{}/2010-04-01/Accounts/{sid}/Messages.json", api_base(&account.api_base, "https://api.twilio.com"));
    Ok(Request::post(url)
        .header("authorization", &format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(provider::form(form.iter().map(|(k, v)| (*k, v.as_str())))))
}

fn twilio_send(account: &TwilioAccount, form: &[(&str, String)]) -> Result<Sent, NodeError> {
    let token = account.auth_token.read("auth_token", PLUGIN)?;
    let response = provider::call("Twilio", &twilio_request(account, &token, form)?)?;
    let message: Value = response.json().map_err(|e| NodeError::Fatal(format!("Twilio: {e}")))?;
    let to = form.iter().find(|(k, _)| *k == "To").map(|(_, v)| v.clone()).unwrap_or_default();
    Ok(Sent {
        provider: "Twilio".to_owned(),
        id: message["sid"].as_str().map(str::to_owned),
        status: message["status"].as_str().map(str::to_owned),
        to,
    })
}

/// `POST /version1/messaging`.
fn africastalking_request(sms: &AfricasTalkingSms, key: &str, to: &str) -> Request {
    let mut form = vec![("username", sms.username.as_str()), ("to", to), ("message", sms.body.as_str())];
    if let Some(from) = sms.from.as_deref().filter(|f| !f.is_empty()) {
        form.push(("from", from));
    }
    let url = format!("{}/version1/messaging", api_base(&sms.api_base, "https://api.africastalking.com"));
    Request::post(url)
        .header("apikey", key)
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(provider::form(form))
}

fn africastalking_send(sms: &AfricasTalkingSms) -> Result<Sent, NodeError> {
    let to = e164("to", &sms.to)?;
    check_body(&sms.body)?;
    let key = sms.api_key.read("api_key", PLUGIN)?;
    let response = provider::call("Africa's Talking", &africastalking_request(sms, &key, &to))?;
    let answer: Value = response.json().map_err(|e| NodeError::Fatal(format!("Africa's Talking: {e}")))?;
    let recipient = &answer["SMSMessageData"]["Recipients"][0];
    if recipient.is_null() {
        let message = answer["SMSMessageData"]["Message"].as_str().unwrap_or("no recipient accepted");
        return Err(NodeError::InvalidConfig(format!("Africa's Talking: {message}")));
    }
    recipient_result(recipient)?;
    Ok(Sent {
        provider: "Africa's Talking".to_owned(),
        id: recipient["messageId"].as_str().map(str::to_owned),
        status: recipient["status"].as_str().map(str::to_owned),
        to,
    })
}

/// A recipient's `statusCode`: 100–102 sent; the others are Africa's
/// Talking's documented failures.
fn recipient_result(recipient: &Value) -> Result<(), NodeError> {
    let code = recipient["statusCode"].as_u64().unwrap_or(0);
    let status = recipient["status"].as_str().unwrap_or("unknown");
    let message =
        format!("Africa's Talking refused {}: {status} ({code})", recipient["number"].as_str().unwrap_or("?"));
    match code {
        100..=102 => Ok(()),
        // InvalidSenderId, InvalidPhoneNumber, UnsupportedNumberType.
        402..=404 => Err(NodeError::InvalidConfig(message)),
        // InternalServerError, GatewayError.
        500 | 501 => Err(NodeError::Retryable(message)),
        _ => Err(NodeError::Fatal(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> TwilioAccount {
        serde_json::from_value(json!({"account_sid": "AC123", "auth_token": "T"})).unwrap()
    }

    #[test]
    fn twilio_is_form_encoded_with_basic_auth() {
        let form = [("To", "whatsapp:+254711000111".to_owned()), ("Body", "Grade F on acme.dev".to_owned())];
        let request = twilio_request(&account(), "tok", &form).unwrap();
        assert_eq!(request.url, "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json");
        assert!(request.headers.contains(&("authorization".into(), "Basic QUMxMjM6dG9r".into())));
        assert_eq!(request.body.as_deref(), Some(&b"To=whatsapp%3A%2B254711000111&Body=Grade+F+on+acme.dev"[..]));
        let bad: TwilioAccount = serde_json::from_value(json!({"account_sid": "AC1/../x", "auth_token": "T"})).unwrap();
        assert!(
            matches!(twilio_request(&bad, "tok", &form), Err(NodeError::InvalidConfig(m)) if m.starts_with("config.account_sid"))
        );
    }

    #[test]
    fn sms_config_is_tagged_by_provider() {
        let config: SmsConfig = serde_json::from_value(json!({"provider": "africastalking", "username": "sandbox",
            "api_key": "AT", "to": "+254711000111", "body": "hi", "from": "ACME"}))
        .unwrap();
        let SmsConfig::Africastalking(sms) = config else { panic!("wrong provider") };
        let request = africastalking_request(&sms, "atkey", "+254711000111");
        assert_eq!(request.url, "https://api.africastalking.com/version1/messaging");
        assert!(request.headers.contains(&("apikey".into(), "atkey".into())));
        assert_eq!(request.body.as_deref(), Some(&b"username=sandbox&to=%2B254711000111&message=hi&from=ACME"[..]));
        assert!(serde_json::from_value::<SmsConfig>(json!({"provider": "nexmo", "to": "+1"})).is_err());
    }

    #[test]
    fn twilio_configs_read_the_shared_account_fields() {
        let sms: SmsConfig = serde_json::from_value(json!({"provider": "twilio", "account_sid": "AC1",
            "auth_token": "T", "from": "+14155550100", "to": "+254711000111", "body": "hi"}))
        .unwrap();
        assert!(matches!(sms, SmsConfig::Twilio(TwilioSms { ref account, .. }) if account.account_sid == "AC1"));
        let whatsapp: WhatsAppConfig = serde_json::from_value(json!({"account_sid": "AC1", "auth_token": "T",
            "from": "+14155238886", "to": "+254711000111", "content_sid": "HX1", "content_variables": {"1": "F"}}))
        .unwrap();
        assert_eq!(whatsapp.account.auth_token.0, "T");
        let typo = json!({"account_sid": "AC1", "auth_token": "T", "from": "+1415", "to": "+2547", "bodyy": "x"});
        assert!(serde_json::from_value::<WhatsAppConfig>(typo).is_err(), "unknown fields are refused");
    }

    #[test]
    fn africastalking_recipient_codes() {
        let r = |code: u64| recipient_result(&json!({"statusCode": code, "status": "x", "number": "+2547"}));
        assert!(r(101).is_ok());
        assert!(matches!(r(403), Err(NodeError::InvalidConfig(_))));
        assert!(matches!(r(500), Err(NodeError::Retryable(_))));
        assert!(matches!(r(405), Err(NodeError::Fatal(m)) if m.contains("(405)")));
    }
}
