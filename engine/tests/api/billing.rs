//! The AI agent platform's billing example through the server: Stripe
//! calls the workflow's webhook with its own signature scheme, the payment
//! is read back from Stripe, recorded in the platform's ledger and
//! receipted by email. Every provider is a loopback fake that the
//! operator's routes (`[http.upstreams]`) stand in for.

use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use trellis_engine::executor::EngineConfig;
use trellis_fake_providers::{FakeProviders, keys};
use trellis_host_api::capabilities::HttpPolicy;

use crate::common::*;

fn example(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sample_input(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../examples/{name}.input.json"));
    std::fs::read_to_string(path).unwrap()
}

/// `Stripe-Signature: t=…,v1=HEX(HMAC-SHA256(secret, "t.body"))`.
fn stripe_signature(secret: &str, body: &str) -> String {
    let t = now_ms() / 1000;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stripe_payment_is_verified_recorded_and_receipted() {
    let fake = FakeProviders::start().await;
    let ledger: Arc<Mutex<Vec<Value>>> = Arc::default();
    let entries = ledger.clone();
    let ledger_url = {
        use axum::routing::post;
        let app = axum::Router::new().route(
            "/ledger",
            post(move |headers: axum::http::HeaderMap, body: String| {
                let entries = entries.clone();
                async move {
                    let key =
                        headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                    entries
                        .lock()
                        .unwrap()
                        .push(json!({"key": key, "body": serde_json::from_str::<Value>(&body).unwrap()}));
                    (axum::http::StatusCode::CREATED, "{\"recorded\":true}")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    };
    let routes = [("api.stripe.com", fake.url()), ("api.resend.com", fake.url()), ("billing.acme.dev", ledger_url)];
    let s = server_with(EngineConfig {
        http: HttpPolicy {
            upstreams: routes.iter().map(|(h, o)| (h.to_string(), o.clone())).collect(),
            ..HttpPolicy::allowing(["*"])
        },
        ..EngineConfig::default()
    })
    .await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    for (name, value) in [
        ("STRIPE_WEBHOOK_SECRET", "whsec_billing"),
        ("STRIPE_SECRET_KEY", keys::STRIPE),
        ("RESEND_API_KEY", keys::RESEND),
    ] {
        let (status, _) =
            s.call(Method::PUT, &format!("/v1/secrets/{name}"), Some(key), Some(json!({"value": value}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    for (plugin, grants) in [
        ("trellis/stripe", json!({"hosts": ["api.stripe.com"], "secrets": ["STRIPE_SECRET_KEY"]})),
        ("trellis/notify", json!({"hosts": ["api.resend.com"], "secrets": ["RESEND_API_KEY"]})),
    ] {
        let (status, body) =
            s.call(Method::PUT, &format!("/v1/plugins/{plugin}/grants"), Some(key), Some(grants)).await;
        assert_eq!(status, StatusCode::OK, "{plugin}: {body}");
    }
    let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(example("stripe-billing.yaml"))).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let (_, triggers) = s.call(Method::GET, "/v1/workflows/stripe-billing/triggers", Some(key), None).await;
    let hook = triggers["webhook"]["path"].as_str().unwrap().to_owned();

    let deliver = |body: String, signature: String| {
        let request = Request::builder()
            .method(Method::POST)
            .uri(&hook)
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(Body::from(body))
            .unwrap();
        s.send(request)
    };
    let event = sample_input("stripe-billing");
    let (status, forged) = deliver(event.clone(), stripe_signature("whsec_other", &event)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{forged}");
    let (status, accepted) = deliver(event.clone(), stripe_signature("whsec_billing", &event)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run = s
        .wait_run(key, accepted["run_id"].as_str().unwrap(), |r| {
            ["succeeded", "failed"].contains(&r["run"]["status"].as_str().unwrap_or(""))
        })
        .await;
    assert_eq!(run["run"]["status"], "succeeded", "{run:#}");

    let read = fake.requests_to("/v1/payment_intents/pi_fake_paid");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].header("authorization"), Some(format!("Bearer {}", keys::STRIPE).as_str()));
    let recorded = ledger.lock().unwrap().clone();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["key"], "evt_1PqZ9cFz0123");
    assert_eq!(
        recorded[0]["body"],
        json!({"event": "evt_1PqZ9cFz0123", "payment_intent": "pi_fake_paid", "customer": "cus_fake",
        "amount": 2000, "currency": "usd", "plan": "pro"})
    );
    let email = fake.requests_to("/emails").pop().expect("a receipt");
    assert_eq!(email.json()["to"], json!(["ada@acme.dev"]));
    assert_eq!(email.json()["subject"], "Your receipt: pro plan");
    assert_eq!(email.json()["text"], "Thank you. We received 20.0 USD (pi_fake_paid).");

    // Another kind of event goes the other way, and nothing is charged or sent.
    let other = r#"{"id": "evt_2", "type": "customer.created", "data": {"object": {"id": "cus_9"}}}"#.to_owned();
    let (status, accepted) = deliver(other.clone(), stripe_signature("whsec_billing", &other)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run = s.wait_run(key, accepted["run_id"].as_str().unwrap(), |r| r["run"]["status"] == "succeeded").await;
    assert_eq!(run["run"]["output"], "ignored customer.created");
    assert_eq!(fake.requests_to("/emails").len(), 1);
}
