//! `trellis/stripe` and `trellis/flutterwave` against loopback fakes of
//! their APIs: form bodies and Bearer keys for Stripe, JSON for
//! Flutterwave, idempotent retries, and each failure's node error.

use serde_json::{Value, json};
use trellis_fake_providers::{FakeProviders, Reply as FakeReply};
use trellis_host_api::FailureCode;
use trellis_plugin_artifacts::{FLUTTERWAVE, STRIPE};

use crate::common::{load, runtime};
use crate::providers::{assert_no_secret, failed, invoke, output, provider_caps};

fn with_account(fake: &FakeProviders, mut config: Value) -> Value {
    config["api_key"] = json!("STRIPE_SECRET_KEY");
    config["api_base"] = json!(fake.url());
    config
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_describes_five_kinds_in_payments() {
    let runtime = runtime();
    let kinds = runtime.describe(&load(&runtime, STRIPE)).await.unwrap();
    let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["create-customer", "payment-link", "checkout-session", "refund", "retrieve"]);
    for kind in &kinds {
        assert_eq!(kind.category, "payments");
        assert_eq!(kind.config_schema["properties"]["api_key"]["format"], "secret-name", "{}", kind.name);
    }
    let checkout = &kinds[2].config_schema;
    assert_eq!(checkout["properties"]["mode"]["default"], "payment");
    assert!(checkout["required"].as_array().unwrap().contains(&json!("success_url")));
}

#[tokio::test(flavor = "multi_thread")]
async fn stripe_kinds_send_forms_with_the_idempotency_key() {
    let fake = FakeProviders::start().await;
    let runtime = runtime();
    let plugin = load(&runtime, STRIPE);
    let caps = || provider_caps(&[]);

    let customer = with_account(&fake, json!({"email": "ada@acme.dev", "name": "Ada", "metadata": {"tenant": "acme"}}));
    let created = invoke(&runtime, &plugin, "create-customer", customer.clone(), "run-1", caps()).await;
    let id = output(&created)["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("cus_"), "{id}");
    let seen = fake.requests_to("/v1/customers").pop().unwrap();
    assert_eq!(seen.header("authorization"), Some("Bearer sk_test_5ecret"));
    assert_eq!(seen.header("idempotency-key"), Some("run-1:node"));
    assert!(seen.form().contains(&("metadata[tenant]".into(), "acme".into())), "{:?}", seen.form());
    assert_no_secret(&created);
    // A retry of the node: Stripe replays the first answer, no second customer.
    let again = invoke(&runtime, &plugin, "create-customer", customer, "run-1", caps()).await;
    assert_eq!(output(&again)["id"], id.as_str());

    let link = with_account(
        &fake,
        json!({"line_items": [{"amount": 2000, "currency": "usd", "name": "Agent plan"}],
        "redirect_url": "https://acme.dev/thanks"}),
    );
    let made = invoke(&runtime, &plugin, "payment-link", link, "run-2", caps()).await;
    assert!(output(&made)["url"].as_str().unwrap().starts_with("https://buy.stripe.com/"));
    let form = fake.requests_to("/v1/payment_links").pop().unwrap().form();
    assert!(form.contains(&("line_items[0][price_data][product_data][name]".into(), "Agent plan".into())), "{form:?}");
    assert!(form.contains(&("after_completion[redirect][url]".into(), "https://acme.dev/thanks".into())), "{form:?}");

    let session = with_account(
        &fake,
        json!({"line_items": [{"amount": 1500, "currency": "eur", "name": "Pro", "quantity": 2}],
        "success_url": "https://acme.dev/ok", "customer_email": "ada@acme.dev", "client_reference_id": "acme"}),
    );
    let opened = invoke(&runtime, &plugin, "checkout-session", session, "run-3", caps()).await;
    assert_eq!(output(&opened)["amount_total"], 3000);
    assert_eq!(output(&opened)["currency"], "eur");
    assert_eq!(output(&opened)["status"], "open");

    let refund = with_account(
        &fake,
        json!({"payment_intent": "pi_fake_paid", "amount": 500, "reason": "requested_by_customer"}),
    );
    let refunded = invoke(&runtime, &plugin, "refund", refund, "run-4", caps()).await;
    assert_eq!(
        (output(&refunded)["status"].as_str(), output(&refunded)["amount"].as_i64()),
        (Some("succeeded"), Some(500))
    );
    let too_much = with_account(&fake, json!({"charge": "ch_fake_paid", "amount": 3000}));
    let (code, message) = failed(&invoke(&runtime, &plugin, "refund", too_much, "run-5", caps()).await);
    assert_eq!(code, FailureCode::InvalidConfig);
    assert_eq!(message, "Stripe answered HTTP 400: Refund amount ($30.00) is greater than charge amount ($20.00)");

    let intent =
        invoke(&runtime, &plugin, "retrieve", with_account(&fake, json!({"id": "pi_fake_paid"})), "run-6", caps())
            .await;
    let out = output(&intent);
    assert_eq!(
        (out["object"].as_str(), out["status"].as_str(), out["amount_received"].as_i64()),
        (Some("payment_intent"), Some("succeeded"), Some(2000))
    );
    assert_eq!(out["metadata"], json!({"plan": "pro"}));
    let charge =
        invoke(&runtime, &plugin, "retrieve", with_account(&fake, json!({"id": "ch_fake_paid"})), "run-7", caps())
            .await;
    assert_eq!(output(&charge)["amount_received"], 2000);
    let missing =
        invoke(&runtime, &plugin, "retrieve", with_account(&fake, json!({"id": "pi_nope"})), "run-8", caps()).await;
    assert_eq!(
        failed(&missing),
        (FailureCode::InvalidConfig, "Stripe answered HTTP 404: No such payment_intent: 'pi_nope'".to_owned())
    );
    let injected = invoke(
        &runtime,
        &plugin,
        "retrieve",
        with_account(&fake, json!({"id": "pi_1/../../v1/customers"})),
        "run-9",
        caps(),
    )
    .await;
    assert!(failed(&injected).1.starts_with("config.id:"), "ids are checked before they reach a path");

    let mut wrong = with_account(&fake, json!({"id": "pi_fake_paid"}));
    wrong["api_key"] = json!("WRONG_KEY");
    let (code, message) = failed(&invoke(&runtime, &plugin, "retrieve", wrong, "run-10", caps()).await);
    assert_eq!(code, FailureCode::InvalidConfig);
    assert!(message.starts_with("Stripe answered HTTP 401: Invalid API Key provided"), "{message}");

    fake.fail_next(
        "/v1/refunds",
        FakeReply::json(429, json!({"error": {"type": "rate_limit_error", "message": "Too many requests"}})),
    );
    let limited = with_account(&fake, json!({"payment_intent": "pi_fake_paid"}));
    assert_eq!(failed(&invoke(&runtime, &plugin, "refund", limited, "run-11", caps()).await).0, FailureCode::Retryable);
    // Stripe says whether a failure may be retried, whatever the status.
    fake.fail_next(
        "/v1/refunds",
        FakeReply::json(400, json!({"error": {"type": "api_error", "message": "lock timeout"}}))
            .header("stripe-should-retry", "true"),
    );
    let locked = with_account(&fake, json!({"payment_intent": "pi_fake_paid"}));
    assert_eq!(failed(&invoke(&runtime, &plugin, "refund", locked, "run-12", caps()).await).0, FailureCode::Retryable);
    fake.fail_next(
        "/v1/refunds",
        FakeReply::json(402, json!({"error": {"type": "card_error", "message": "Your card was declined."}})),
    );
    let declined = with_account(&fake, json!({"payment_intent": "pi_fake_paid"}));
    assert_eq!(
        failed(&invoke(&runtime, &plugin, "refund", declined, "run-13", caps()).await),
        (FailureCode::Fatal, "Stripe answered HTTP 402: Your card was declined.".to_owned())
    );
}

/// In production the plugin names api.stripe.com and the tenant grants
/// only that host; an operator route sends it to the fake, and private
/// addresses stay refused for everything else.
#[tokio::test(flavor = "multi_thread")]
async fn an_operator_route_sends_the_granted_host_to_another_origin() {
    use trellis_host_api::capabilities::HttpPolicy;
    let fake = FakeProviders::start().await;
    let runtime = runtime();
    let plugin = load(&runtime, STRIPE);
    let routed = |upstreams: &[(&str, String)]| trellis_host_api::Capabilities {
        http: HttpPolicy {
            granted_hosts: Some(vec!["api.stripe.com".to_owned()]),
            upstreams: upstreams.iter().map(|(h, o)| (h.to_string(), o.clone())).collect(),
            ..HttpPolicy::allowing(["*"])
        },
        ..provider_caps(&[])
    };
    let config = json!({"api_key": "STRIPE_SECRET_KEY", "id": "pi_fake_paid"});
    let read =
        invoke(&runtime, &plugin, "retrieve", config.clone(), "run-1", routed(&[("api.stripe.com", fake.url())])).await;
    assert_eq!(output(&read)["status"], "succeeded");
    assert_eq!(
        read.report.http_calls[0].url, "https://api.stripe.com/v1/payment_intents/pi_fake_paid",
        "the record names the host asked for"
    );
    // Pointing the plugin at loopback itself is still refused.
    let mut direct = config;
    direct["api_base"] = json!(fake.url());
    let refused =
        invoke(&runtime, &plugin, "retrieve", direct, "run-2", routed(&[("api.stripe.com", fake.url())])).await;
    assert_eq!(failed(&refused).0, FailureCode::InvalidConfig);
    assert!(failed(&refused).1.contains("denied"), "{}", failed(&refused).1);
}

#[tokio::test(flavor = "multi_thread")]
async fn flutterwave_links_and_verifies_transactions() {
    let fake = FakeProviders::start().await;
    let runtime = runtime();
    let plugin = load(&runtime, FLUTTERWAVE);
    let caps = || provider_caps(&[]);
    let account = |mut config: Value| {
        config["secret_key"] = json!("FLUTTERWAVE_SECRET_KEY");
        config["api_base"] = json!(fake.url());
        config
    };

    let link = account(json!({"amount": 2500, "currency": "ngn", "redirect_url": "https://acme.dev/paid",
        "customer": {"email": "ada@acme.dev", "name": "Ada"}, "title": "Acme Security"}));
    let made = invoke(&runtime, &plugin, "payment-link", link, "run-1", caps()).await;
    assert_eq!(output(&made)["tx_ref"], "run-1:node", "the node's key is the reference by default");
    assert!(output(&made)["link"].as_str().unwrap().starts_with("https://checkout.flutterwave.com/"));
    let seen = fake.requests_to("/v3/payments").pop().unwrap();
    assert_eq!(seen.header("authorization"), Some("Bearer FLWSECK_TEST-5ecret-X"));
    let body = seen.json();
    assert_eq!(
        (body["currency"].as_str(), body["customizations"]["title"].as_str()),
        (Some("NGN"), Some("Acme Security"))
    );
    assert_no_secret(&made);

    let verify = |config: Value, run: &'static str| invoke(&runtime, &plugin, "verify", account(config), run, caps());
    let ok = verify(json!({"id": 1163068, "tx_ref": "order-1042", "amount": 2500, "currency": "NGN"}), "run-2").await;
    assert_eq!(ok.emits[0].port, "verified", "{:?}", ok.emits);
    assert_eq!(ok.emits[0].data["customer_email"], "ada@acme.dev");
    let by_ref = verify(json!({"tx_ref": "order-1042", "amount": 2500, "currency": "NGN"}), "run-3").await;
    assert_eq!(by_ref.emits[0].port, "verified");
    assert!(
        fake.requests()
            .iter()
            .any(|s| s.path == "/v3/transactions/verify_by_reference" && s.query == "tx_ref=order-1042")
    );
    let short =
        verify(json!({"id": "1163068", "tx_ref": "order-1042", "amount": 5000, "currency": "NGN"}), "run-4").await;
    assert_eq!(short.emits[0].port, "rejected");
    assert_eq!(short.emits[0].data["reasons"], json!(["amount 2500 is under the expected 5000"]));
    let other = verify(json!({"id": 1163068, "tx_ref": "order-9", "amount": 2500, "currency": "USD"}), "run-5").await;
    assert_eq!(other.emits[0].data["reasons"].as_array().unwrap().len(), 2);
    let pending = verify(json!({"id": 1163069, "amount": 2500, "currency": "NGN"}), "run-6").await;
    assert_eq!(pending.emits[0].data["reasons"], json!(["status is pending, not successful"]));
    let unknown = verify(json!({"id": 42, "amount": 1, "currency": "NGN"}), "run-7").await;
    assert_eq!(
        failed(&unknown),
        (FailureCode::InvalidConfig, "Flutterwave answered HTTP 400: No transaction was found for this id".to_owned())
    );

    let mut wrong = account(json!({"id": 1163068, "amount": 1, "currency": "NGN"}));
    wrong["secret_key"] = json!("WRONG_KEY");
    let denied = invoke(&runtime, &plugin, "verify", wrong, "run-8", caps()).await;
    assert_eq!(
        failed(&denied),
        (FailureCode::InvalidConfig, "Flutterwave answered HTTP 401: Invalid authorization key".to_owned())
    );
    fake.fail_next(
        "/v3/transactions/",
        FakeReply::json(502, json!({"status": "error", "message": "upstream timeout", "data": null})),
    );
    let flaky = verify(json!({"id": 1163068, "amount": 1, "currency": "NGN"}), "run-9").await;
    assert_eq!(failed(&flaky).0, FailureCode::Retryable);
}
