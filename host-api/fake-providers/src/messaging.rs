//! Email, SMS, WhatsApp and Slack, as their APIs document them.

use serde_json::{Value, json};

use crate::{Memory, Reply, Seen, basic, bearer, keys};

pub(crate) fn route(memory: &mut Memory, seen: &Seen) -> Option<Reply> {
    let path = seen.path.as_str();
    Some(match (seen.method.as_str(), path) {
        ("POST", "/emails") => resend(memory, seen),
        ("POST", "/v3/mail/send") => sendgrid(memory, seen),
        ("POST", "/version1/messaging") => africastalking(memory, seen),
        ("POST", "/api/chat.postMessage") => slack_post_message(seen),
        ("POST", p) if p.starts_with("/services/") => slack_webhook(seen),
        ("POST", p) if p.starts_with("/2010-04-01/Accounts/") && p.ends_with("/Messages.json") => twilio(memory, seen),
        _ => return None,
    })
}

/// Resend: Bearer key, JSON, `Idempotency-Key` replays the first answer
/// for the same body and refuses another body (409).
fn resend(memory: &mut Memory, seen: &Seen) -> Reply {
    let error = |status: u16, name: &str, message: &str| {
        Reply::json(status, json!({"statusCode": status, "message": message, "name": name}))
    };
    match bearer(seen) {
        None => return error(401, "missing_api_key", "Missing API key in the authorization header."),
        Some(key) if key != keys::RESEND => return error(403, "invalid_api_key", "API key is invalid"),
        Some(_) => {}
    }
    let body = seen.json();
    for field in ["from", "to", "subject"] {
        if body.get(field).is_none() {
            return error(422, "missing_required_field", &format!("Missing `{field}` field."));
        }
    }
    if body.get("html").is_none() && body.get("text").is_none() {
        return error(422, "validation_error", "Missing `html` or `text` field.");
    }
    idempotent(memory, seen, "resend", |memory| Reply::json(200, json!({"id": memory.id("4ef9a417-02e9-4d39-ad75-")})))
}

/// SendGrid v3: Bearer key, JSON with personalizations, 202 and an
/// `X-Message-Id` header, errors as `{"errors": [{message, field, help}]}`.
fn sendgrid(memory: &mut Memory, seen: &Seen) -> Reply {
    let error = |status: u16, field: Value, message: &str| {
        Reply::json(status, json!({"errors": [{"message": message, "field": field, "help": null}]}))
    };
    if bearer(seen) != Some(keys::SENDGRID) {
        return error(401, Value::Null, "The provided authorization grant is invalid, expired, or revoked");
    }
    let body = seen.json();
    if body["from"]["email"].as_str().is_none() {
        return error(400, json!("from"), "The from object must be provided for every email send.");
    }
    if body["personalizations"][0]["to"][0]["email"].as_str().is_none() {
        return error(400, json!("personalizations.0.to"), "The to array is required for all personalization objects.");
    }
    if body["content"][0]["type"].as_str().is_some_and(|t| t != "text/plain")
        && body["content"].as_array().is_some_and(|c| c.len() > 1)
    {
        return error(400, json!("content"), "If present, text/plain content must be first.");
    }
    Reply { status: 202, headers: vec![("x-message-id".into(), memory.id("sg_msg_"))], body: String::new() }
}

/// Twilio Messages: Basic auth with the account SID and token, a form body,
/// 201 with the message resource; `+15005550001` is Twilio's test number
/// for an invalid `To` (error 21211).
fn twilio(memory: &mut Memory, seen: &Seen) -> Reply {
    let error = |status: u16, code: u32, message: &str| {
        Reply::json(
            status,
            json!({"code": code, "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status}),
        )
    };
    let account = seen.path.trim_start_matches("/2010-04-01/Accounts/").trim_end_matches("/Messages.json");
    match basic(seen) {
        Some((user, token)) if user == keys::TWILIO_SID && token == keys::TWILIO_TOKEN && account == user => {}
        _ => return error(401, 20003, "Authenticate"),
    }
    if !seen.header("content-type").is_some_and(|t| t.starts_with("application/x-www-form-urlencoded")) {
        return error(400, 20001, "Content-Type must be application/x-www-form-urlencoded");
    }
    let to = seen.field("To").unwrap_or_default();
    if to.is_empty() {
        return error(400, 21604, "A 'To' phone number is required.");
    }
    if to.trim_start_matches("whatsapp:") == "+15005550001" {
        return error(400, 21211, &format!("The 'To' number {to} is not a valid phone number."));
    }
    let from = seen.field("From").or_else(|| seen.field("MessagingServiceSid"));
    if from.is_none() {
        return error(400, 21603, "A 'From' phone number is required.");
    }
    if to.starts_with("whatsapp:") != from.as_deref().is_some_and(|f| f.starts_with("whatsapp:")) {
        return error(400, 63007, "Twilio could not find a Channel with the specified From address");
    }
    if seen.field("Body").is_none() && seen.field("ContentSid").is_none() {
        return error(400, 21602, "Message body is required.");
    }
    Reply::json(
        201,
        json!({
            "sid": memory.id("SM0123456789abcdef0123456789"),
            "account_sid": account,
            "to": to,
            "from": from,
            "body": seen.field("Body"),
            "status": "queued",
            "num_segments": "1",
            "error_code": null,
            "error_message": null,
        }),
    )
}

/// Africa's Talking SMS: `apiKey` header, form body with `username`, `to`,
/// `message`; 201 with a per-recipient status. Numbers starting `+2540000`
/// are refused as `InvalidPhoneNumber` (403).
fn africastalking(memory: &mut Memory, seen: &Seen) -> Reply {
    if seen.header("apikey") != Some(keys::AFRICASTALKING) {
        return Reply::text(401, "The supplied authentication is invalid");
    }
    let (Some(_username), Some(to), Some(_message)) = (seen.field("username"), seen.field("to"), seen.field("message"))
    else {
        return Reply::text(400, "Request is missing required form field 'to'");
    };
    let recipients: Vec<Value> = to
        .split(',')
        .map(|number| {
            if number.starts_with("+2540000") {
                json!({"statusCode": 403, "number": number, "status": "InvalidPhoneNumber", "cost": "0", "messageId": "None"})
            } else {
                json!({"statusCode": 101, "number": number, "status": "Success", "cost": "KES 0.8000",
                       "messageId": memory.id("ATXid_")})
            }
        })
        .collect();
    let sent = recipients.iter().filter(|r| r["statusCode"] == 101).count();
    Reply::json(
        201,
        json!({"SMSMessageData": {
            "Message": format!("Sent to {sent}/{} Total Cost: KES {:.4}", recipients.len(), sent as f64 * 0.8),
            "Recipients": recipients,
        }}),
    )
}

/// An incoming webhook: 200 `ok`, or Slack's plain-text error codes.
fn slack_webhook(seen: &Seen) -> Reply {
    if seen.path != keys::SLACK_WEBHOOK_PATH {
        return Reply::text(404, "no_service");
    }
    let body = seen.json();
    if body.is_null() {
        return Reply::text(400, "invalid_payload");
    }
    if body["text"].as_str().is_none_or(str::is_empty) && body.get("blocks").is_none() {
        return Reply::text(400, "no_text");
    }
    Reply::text(200, "ok")
}

/// `chat.postMessage`: always HTTP 200 with `ok`; `#nowhere` does not exist.
fn slack_post_message(seen: &Seen) -> Reply {
    let failed = |code: &str| Reply::json(200, json!({"ok": false, "error": code}));
    match bearer(seen) {
        None => return failed("not_authed"),
        Some(token) if token != keys::SLACK_BOT => return failed("invalid_auth"),
        Some(_) => {}
    }
    let body = seen.json();
    let Some(channel) = body["channel"].as_str() else { return failed("channel_not_found") };
    if channel == "#nowhere" {
        return failed("channel_not_found");
    }
    if body["text"].as_str().is_none_or(str::is_empty) && body.get("blocks").is_none() {
        return failed("no_text");
    }
    let ts = "1767225600.000100";
    Reply::json(
        200,
        json!({"ok": true, "channel": "C0123ALERTS", "ts": ts,
        "message": {"type": "message", "text": body["text"], "ts": ts, "thread_ts": body.get("thread_ts")}}),
    )
}

/// Replays the first answer for a repeated `Idempotency-Key` with the
/// same body; another body under the same key is a 409.
pub(crate) fn idempotent(
    memory: &mut Memory,
    seen: &Seen,
    scope: &str,
    fresh: impl FnOnce(&mut Memory) -> Reply,
) -> Reply {
    let Some(key) = seen.header("idempotency-key") else { return fresh(memory) };
    let slot = format!("{scope}\n{key}");
    let fingerprint = format!("{}\n{}", seen.path, String::from_utf8_lossy(&seen.body));
    if let Some((first, previous)) = memory.idempotent.get(&slot) {
        if *first == fingerprint {
            return previous.clone().header("idempotent-replayed", "true");
        }
        return Reply::json(
            409,
            json!({"statusCode": 409, "name": "invalid_idempotent_request",
            "message": "Same idempotency key used with a different request payload.",
            "error": {"type": "idempotency_error",
                      "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."}}),
        );
    }
    let reply = fresh(memory);
    if (200..300).contains(&reply.status) {
        memory.idempotent.insert(slot, (fingerprint, reply.clone()));
    }
    reply
}
