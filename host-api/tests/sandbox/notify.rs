//! `trellis/notify` against the loopback fakes of Resend, SendGrid,
//! Twilio, Africa's Talking and Slack, and a receiver that checks the
//! signature of `webhook`.

use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use trellis_fake_providers::{FakeProviders, Reply as FakeReply, keys};
use trellis_host_api::FailureCode;
use trellis_plugin_artifacts::NOTIFY;

use crate::common::{Reply, load, runtime, serve_recording};
use crate::providers::{assert_no_secret, failed, invoke, output, provider_caps};

#[tokio::test(flavor = "multi_thread")]
async fn notify_describes_its_kinds_with_secret_name_fields() {
    let runtime = runtime();
    let kinds = runtime.describe(&load(&runtime, NOTIFY)).await.unwrap();
    let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["email", "sms", "whatsapp", "slack", "webhook"]);
    let email = &kinds[0];
    assert_eq!(email.config_schema["properties"]["api_key"]["format"], "secret-name");
    assert_eq!(email.config_schema["properties"]["api_key"]["title"], "API key secret");
    assert_eq!(email.config_schema["properties"]["provider"]["default"], "resend");
    assert!(email.config_schema["properties"]["subject"]["examples"].is_array());
    let webhook = &kinds[4];
    assert_eq!(webhook.config_schema["properties"]["signature"]["default"], "trellis");
    let whatsapp = &kinds[2];
    assert_eq!(whatsapp.config_schema["properties"]["auth_token"]["format"], "secret-name");
    assert!(kinds.iter().all(|k| !k.description.is_empty() && k.category == "messaging"));
}

#[tokio::test(flavor = "multi_thread")]
async fn email_through_resend_and_sendgrid() {
    let fake = FakeProviders::start().await;
    let runtime = runtime();
    let plugin = load(&runtime, NOTIFY);
    let resend = |key: &str| {
        json!({"api_key": key, "from": "Acme <alerts@acme.dev>", "to": ["ops@acme.dev", "cto@acme.dev"],
               "subject": "Grade F", "text": "See the scan.", "api_base": fake.url()})
    };

    let sent = invoke(&runtime, &plugin, "email", resend("RESEND_API_KEY"), "run-1", provider_caps(&[])).await;
    let id = output(&sent)["id"].as_str().unwrap().to_owned();
    assert_eq!(output(&sent)["to"], json!(["ops@acme.dev", "cto@acme.dev"]));
    let seen = &fake.requests_to("/emails")[0];
    assert_eq!(seen.header("idempotency-key"), Some("run-1:node"));
    assert_eq!(seen.json()["subject"], "Grade F");
    assert_no_secret(&sent);

    // The same node of the same run again (a retry): Resend replays the
    // first answer, so no second email goes out.
    let again = invoke(&runtime, &plugin, "email", resend("RESEND_API_KEY"), "run-1", provider_caps(&[])).await;
    assert_eq!(output(&again)["id"], id.as_str());

    let wrong = invoke(&runtime, &plugin, "email", resend("WRONG_KEY"), "run-2", provider_caps(&[])).await;
    let (code, message) = failed(&wrong);
    assert_eq!(code, FailureCode::InvalidConfig);
    assert_eq!(message, "Resend answered HTTP 403: API key is invalid");

    fake.fail_next(
        "/emails",
        FakeReply::json(
            429,
            json!({"statusCode": 429, "name": "rate_limit_exceeded",
        "message": "Too many requests. You can only make 2 requests per second."}),
        ),
    );
    let limited = invoke(&runtime, &plugin, "email", resend("RESEND_API_KEY"), "run-3", provider_caps(&[])).await;
    assert_eq!(failed(&limited).0, FailureCode::Retryable);

    let ungranted = invoke(&runtime, &plugin, "email", resend("NOT_STORED"), "run-4", provider_caps(&[])).await;
    let (code, message) = failed(&ungranted);
    assert_eq!(code, FailureCode::InvalidConfig);
    assert!(message.starts_with("config.api_key: secret `NOT_STORED`"), "{message}");

    let sendgrid = json!({"provider": "sendgrid", "api_key": "SENDGRID_API_KEY", "from": "alerts@acme.dev",
        "to": "ops@acme.dev", "subject": "Weekly", "text": "plain", "html": "<p>rich</p>", "api_base": fake.url()});
    let sent = invoke(&runtime, &plugin, "email", sendgrid.clone(), "run-5", provider_caps(&[])).await;
    assert!(output(&sent)["id"].as_str().unwrap().starts_with("sg_msg_"));
    let seen = fake.requests_to("/v3/mail/send").pop().unwrap();
    assert_eq!(seen.json()["custom_args"]["trellis_idempotency_key"], "run-5:node");
    let mut no_from = sendgrid;
    no_from["from"] = json!("not an address");
    let refused = invoke(&runtime, &plugin, "email", no_from, "run-6", provider_caps(&[])).await;
    assert_eq!(failed(&refused).0, FailureCode::InvalidConfig);
    fake.fail_next("/v3/mail/send", FakeReply::json(503, json!({"errors": [{"message": "Service Unavailable"}]})));
    let busy = json!({"provider": "sendgrid", "api_key": "SENDGRID_API_KEY", "from": "alerts@acme.dev",
        "to": "ops@acme.dev", "subject": "Weekly", "text": "plain", "api_base": fake.url()});
    assert_eq!(
        failed(&invoke(&runtime, &plugin, "email", busy, "run-7", provider_caps(&[])).await).0,
        FailureCode::Retryable
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sms_and_whatsapp_through_twilio_and_africas_talking() {
    let fake = FakeProviders::start().await;
    let runtime = runtime();
    let plugin = load(&runtime, NOTIFY);
    let twilio = |to: &str| {
        json!({"provider": "twilio", "account_sid": keys::TWILIO_SID, "auth_token": "TWILIO_AUTH_TOKEN",
               "from": "+14155550100", "to": to, "body": "Scan of acme.dev: grade F", "api_base": fake.url()})
    };
    let sent = invoke(&runtime, &plugin, "sms", twilio("+254711000111"), "run-1", provider_caps(&[])).await;
    assert_eq!(output(&sent)["status"], "queued");
    assert!(output(&sent)["id"].as_str().unwrap().starts_with("SM"));
    let seen = fake.requests_to("/2010-04-01/").pop().unwrap();
    assert_eq!(
        seen.form(),
        [
            ("To".to_owned(), "+254711000111".to_owned()),
            ("From".to_owned(), "+14155550100".to_owned()),
            ("Body".to_owned(), "Scan of acme.dev: grade F".to_owned()),
        ]
    );
    assert_no_secret(&sent);

    let invalid = invoke(&runtime, &plugin, "sms", twilio("+15005550001"), "run-2", provider_caps(&[])).await;
    let (code, message) = failed(&invalid);
    assert_eq!(code, FailureCode::InvalidConfig);
    assert!(message.contains("not a valid phone number"), "{message}");
    let local = invoke(&runtime, &plugin, "sms", twilio("0711000111"), "run-3", provider_caps(&[])).await;
    assert!(failed(&local).1.starts_with("config.to:"), "checked before any request");
    let mut wrong = twilio("+254711000111");
    wrong["auth_token"] = json!("WRONG_KEY");
    let (code, message) = failed(&invoke(&runtime, &plugin, "sms", wrong, "run-4", provider_caps(&[])).await);
    assert_eq!((code, message.as_str()), (FailureCode::InvalidConfig, "Twilio answered HTTP 401: Authenticate"));
    fake.fail_next(
        "/2010-04-01/",
        FakeReply::json(500, json!({"code": 20500, "message": "Internal Server Error", "status": 500})),
    );
    let flaky = invoke(&runtime, &plugin, "sms", twilio("+254711000111"), "run-5", provider_caps(&[])).await;
    assert_eq!(failed(&flaky).0, FailureCode::Retryable);

    let whatsapp = json!({"account_sid": keys::TWILIO_SID, "auth_token": "TWILIO_AUTH_TOKEN", "from": "+14155238886",
        "to": "+254711000111", "content_sid": "HXb5b62575e6e4ff6129ad7c8efe1f983e",
        "content_variables": {"1": "F", "2": "acme.dev"}, "api_base": fake.url()});
    let sent = invoke(&runtime, &plugin, "whatsapp", whatsapp, "run-6", provider_caps(&[])).await;
    assert_eq!(output(&sent)["to"], "whatsapp:+254711000111");
    let seen = fake.requests_to("/2010-04-01/").pop().unwrap();
    assert_eq!(seen.field("From").as_deref(), Some("whatsapp:+14155238886"));
    assert_eq!(
        serde_json::from_str::<Value>(&seen.field("ContentVariables").unwrap()).unwrap(),
        json!({"1": "F", "2": "acme.dev"})
    );

    let at = |to: &str, key: &str| {
        json!({"provider": "africastalking", "username": "sandbox", "api_key": key, "to": to,
               "body": "Price dropped", "from": "ACME", "api_base": fake.url()})
    };
    let sent =
        invoke(&runtime, &plugin, "sms", at("+254711000111", "AFRICASTALKING_API_KEY"), "run-7", provider_caps(&[]))
            .await;
    assert_eq!(output(&sent)["status"], "Success");
    assert!(output(&sent)["id"].as_str().unwrap().starts_with("ATXid_"));
    let seen = fake.requests_to("/version1/messaging").pop().unwrap();
    assert_eq!(seen.field("username").as_deref(), Some("sandbox"));
    assert_eq!(seen.header("accept"), Some("application/json"));
    let refused =
        invoke(&runtime, &plugin, "sms", at("+254000011122", "AFRICASTALKING_API_KEY"), "run-8", provider_caps(&[]))
            .await;
    let (code, message) = failed(&refused);
    assert_eq!(code, FailureCode::InvalidConfig);
    assert!(message.contains("InvalidPhoneNumber (403)"), "{message}");
    let wrong = invoke(&runtime, &plugin, "sms", at("+254711000111", "WRONG_KEY"), "run-9", provider_caps(&[])).await;
    let (code, message) = failed(&wrong);
    assert_eq!(
        (code, message.as_str()),
        (FailureCode::InvalidConfig, "Africa's Talking answered HTTP 401: The supplied authentication is invalid")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_through_a_webhook_and_chat_post_message() {
    let fake = FakeProviders::start().await;
    let runtime = runtime();
    let plugin = load(&runtime, NOTIFY);
    let hook_url = format!("{}{}", fake.url(), keys::SLACK_WEBHOOK_PATH);
    let caps = || {
        provider_caps(&[
            ("SLACK_WEBHOOK_URL", hook_url.clone()),
            ("GONE_HOOK", format!("{}/services/T/B/old", fake.url())),
        ])
    };
    let webhook = |secret: &str| json!({"mode": "webhook", "webhook_url": secret, "text": "Price of *mug* moved -10%"});
    let posted = invoke(&runtime, &plugin, "slack", webhook("SLACK_WEBHOOK_URL"), "run-1", caps()).await;
    assert!(posted.succeeded(), "{:?}", posted.report.failure);
    assert_eq!(fake.requests_to("/services/")[0].json()["text"], "Price of *mug* moved -10%");
    // The webhook URL is a credential: it is not in the record.
    let record = serde_json::to_string(&posted.report).unwrap();
    assert!(!record.contains("5ecret"), "{record}");
    let gone = invoke(&runtime, &plugin, "slack", webhook("GONE_HOOK"), "run-2", caps()).await;
    assert_eq!(failed(&gone), (FailureCode::InvalidConfig, "Slack answered HTTP 404: no_service".to_owned()));

    let api = |channel: &str, token: &str| {
        json!({"mode": "api", "token": token, "channel": channel, "text": "Grade F", "thread_ts": "1767225500.000200",
               "api_base": format!("{}/api", fake.url())})
    };
    let posted = invoke(&runtime, &plugin, "slack", api("#alerts", "SLACK_BOT_TOKEN"), "run-3", caps()).await;
    assert_eq!(output(&posted)["ts"], "1767225600.000100");
    let seen = fake.requests_to("/api/chat.postMessage").pop().unwrap();
    assert_eq!(seen.header("authorization"), Some(format!("Bearer {}", keys::SLACK_BOT).as_str()));
    assert_eq!(seen.json()["thread_ts"], "1767225500.000200");
    let nowhere = invoke(&runtime, &plugin, "slack", api("#nowhere", "SLACK_BOT_TOKEN"), "run-4", caps()).await;
    assert_eq!(failed(&nowhere), (FailureCode::InvalidConfig, "Slack chat.postMessage: channel_not_found".to_owned()));
    let bad = invoke(&runtime, &plugin, "slack", api("#alerts", "WRONG_KEY"), "run-5", caps()).await;
    assert_eq!(failed(&bad).1, "Slack chat.postMessage: invalid_auth");
    fake.fail_next(
        "/api/chat.postMessage",
        FakeReply::json(429, json!({"ok": false, "error": "ratelimited"})).header("retry-after", "1"),
    );
    let limited = invoke(&runtime, &plugin, "slack", api("#alerts", "SLACK_BOT_TOKEN"), "run-6", caps()).await;
    assert_eq!(failed(&limited).0, FailureCode::Retryable);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_signs_what_it_sends() {
    let headers: Arc<Mutex<Vec<http::HeaderMap>>> = Arc::default();
    let bodies: Arc<Mutex<Vec<bytes::Bytes>>> = Arc::default();
    let keep = bodies.clone();
    let addr = serve_recording(
        Arc::new(move |_, target, body| {
            keep.lock().unwrap().push(body);
            if target == "/down" { Reply::new(502, "bad gateway") } else { Reply::new(200, "{\"received\":true}") }
        }),
        headers.clone(),
    )
    .await;
    let runtime = runtime();
    let plugin = load(&runtime, NOTIFY);
    let svix_key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let caps = || provider_caps(&[("SVIX_SECRET", svix_key.to_owned())]);
    let hmac = |key: &[u8], text: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(text);
        mac.finalize().into_bytes()
    };

    let config = json!({"url": format!("http://{addr}/hook"), "secret": "HOOK_SECRET", "body": {"grade": "F"}});
    let sent = invoke(&runtime, &plugin, "webhook", config, "run-1", caps()).await;
    assert_eq!(output(&sent)["body"], json!({"received": true}));
    let seen = headers.lock().unwrap()[0].clone();
    let body = bodies.lock().unwrap()[0].clone();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"grade": "F"}));
    let timestamp = seen["x-trellis-timestamp"].to_str().unwrap().to_owned();
    let signed = [timestamp.as_bytes(), b".", &body].concat();
    let expected = format!("sha256={}", hex::encode(hmac(b"hook-5ecret", &signed)));
    assert_eq!(seen["x-trellis-signature"], expected.as_str());
    assert_eq!(seen["idempotency-key"], "run-1:node");

    let config =
        json!({"url": format!("http://{addr}/hook"), "secret": "SVIX_SECRET", "signature": "standard-webhooks"});
    let sent = invoke(&runtime, &plugin, "webhook", config, "run-2", caps()).await;
    assert!(sent.succeeded(), "{:?}", sent.report.failure);
    let seen = headers.lock().unwrap()[1].clone();
    let body = bodies.lock().unwrap()[1].clone();
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), json!({"from": "test"}), "the input by default");
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.decode(svix_key.trim_start_matches("whsec_")).unwrap();
    let signed = [b"run-2:node.".as_slice(), seen["webhook-timestamp"].as_bytes(), b".", &body].concat();
    let expected = format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(hmac(&key, &signed)));
    assert_eq!(seen["webhook-signature"], expected.as_str());

    let config = json!({"url": format!("http://{addr}/down"), "secret": "HOOK_SECRET"});
    let down = invoke(&runtime, &plugin, "webhook", config, "run-3", caps()).await;
    assert_eq!(
        failed(&down),
        (FailureCode::Retryable, "the webhook receiver answered HTTP 502: bad gateway".to_owned())
    );
}
