//! The seed systems' workflows in examples/, run against loopback fakes of
//! every provider: an operator route (`[http.upstreams]`) sends each
//! provider's real host to the fakes, so the examples keep their real
//! URLs and the plugins their real code paths.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::json;
use trellis_engine::executor::EngineConfig;
use trellis_engine::secrets::FixedSecrets;
use trellis_engine::store::{NodeStatus, RunStatus};
use trellis_fake_providers::{FakeProviders, keys};
use trellis_host_api::capabilities::{HttpPolicy, MemorySecrets};

use crate::common::{Harness, example, harness_with, node, sample_input, test_config};

/// An engine whose plugins reach `routes` (host → loopback origin) and
/// read the providers' credentials from `secrets`.
async fn routed_harness(routes: &[(&str, String)], secrets: &[(&str, &str)]) -> Harness {
    let upstreams: BTreeMap<String, String> = routes.iter().map(|(h, o)| (h.to_string(), o.clone())).collect();
    let pairs: Vec<(String, String)> = secrets.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
    let granted = pairs.iter().map(|(n, _)| n.clone()).collect();
    let config = EngineConfig {
        http: HttpPolicy { upstreams, allow_private_network: true, ..HttpPolicy::allowing(["*"]) },
        secrets: Arc::new(FixedSecrets::new(Arc::new(MemorySecrets::new(pairs)), granted)),
        ..test_config()
    };
    harness_with(config).await
}

/// A site with weak headers, a session cookie without flags and a leaked
/// `.env`; HTTP does not redirect to HTTPS.
async fn weak_site() -> String {
    crate::common::serve(|target| match target {
        "/.env" => (200, "APP_KEY=base64:leaked\nDB_PASSWORD=hunter2\n".to_owned()),
        "/" => (200, "<html><body>Acme</body></html>".to_owned()),
        _ => (404, "not found".to_owned()),
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nightly_scan_fixes_a_poor_grade_after_approval_and_tells_the_customer() {
    let fake = FakeProviders::start().await;
    fake.certificate("acme.dev", "C=US, O=Let's Encrypt, CN=R11", 12);
    let site = weak_site().await;
    let h = routed_harness(
        &[
            ("acme.dev", site),
            ("crt.sh", fake.url()),
            ("api.cloudflare.com", fake.url()),
            ("api.twilio.com", fake.url()),
            ("api.resend.com", fake.url()),
        ],
        &[
            ("CLOUDFLARE_API_TOKEN", keys::CLOUDFLARE),
            ("TWILIO_AUTH_TOKEN", keys::TWILIO_TOKEN),
            ("RESEND_API_KEY", keys::RESEND),
        ],
    )
    .await;
    let workflow = example("nightly-security-scan.yaml");
    let run = h.engine.start(&h.store, &workflow, None, sample_input("nightly-security-scan")).await.unwrap();
    let (engine, store, run_id) = (h.engine.clone(), h.store.clone(), run.id.clone());
    let driving = tokio::spawn(async move { engine.drive(&store, &run_id).await });

    let review = h.wait_for(&run.id, "review", NodeStatus::Waiting).await;
    let message = review.config.unwrap()["message"].as_str().unwrap().to_owned();
    assert!(message.starts_with("Apply ") && message.contains("header fixes to acme.dev"), "{message}");
    assert!(
        fake.cloudflare_zone().0.iter().all(|r| r["ref"] != "trellis_security_headers"),
        "nothing applied before approval"
    );
    h.engine.decide(&h.store, &run.id, "review", json!({"approved": true, "by": "oncall@trellis.dev"})).await.unwrap();
    let finished = driving.await.unwrap().unwrap();
    let (run, nodes) = h.engine.details(&h.store, &finished.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);

    let report = node(&nodes, "report").output();
    assert!(report["score"].as_i64().unwrap() < 70, "{report}");
    assert_eq!(report["exposed_files"], 1);
    assert!(
        report["tls_problems"].as_array().unwrap().iter().any(|p| p == "the certificate expires in 12 days"),
        "{report}"
    );
    assert_eq!(node(&nodes, "exposed").emitted_on("found").unwrap()["findings"][0]["id"], "env");
    assert_eq!(node(&nodes, "healthy").status, NodeStatus::Skipped);
    assert_eq!(node(&nodes, "declined").status, NodeStatus::Skipped);

    let (rules, always_https) = fake.cloudflare_zone();
    let ours = rules.iter().find(|r| r["ref"] == "trellis_security_headers").expect("the rule is applied");
    assert!(ours["action_parameters"]["headers"]["Content-Security-Policy"].is_object());
    assert_eq!(always_https.as_deref(), Some("on"));
    let whatsapp = fake.requests_to("/2010-04-01/").pop().expect("a WhatsApp message");
    assert_eq!(whatsapp.field("To").as_deref(), Some("whatsapp:+254711000111"));
    assert!(whatsapp.field("Body").unwrap().contains("acme.dev scored"), "{:?}", whatsapp.field("Body"));
    let email = fake.requests_to("/emails").pop().expect("an email");
    let grade = report["grade"].as_str().unwrap();
    assert_eq!(email.json()["subject"], format!("Nightly scan of acme.dev: grade {grade}"));
    assert!(email.json()["text"].as_str().unwrap().contains("Content-Security-Policy"), "{}", email.json());
    assert_eq!(email.header("idempotency-key"), Some(format!("{}:email", run.id).as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_price_watch_posts_to_slack_only_when_the_price_moved() {
    let fake = FakeProviders::start().await;
    let cents = Arc::new(AtomicU32::new(129_900));
    let price = cents.clone();
    let shop = crate::common::serve(move |_| {
        let amount = f64::from(price.load(Ordering::SeqCst)) / 100.0;
        let page = format!(
            r#"<html><head><script type="application/ld+json">{{"@context": "https://schema.org", "@type": "Product",
            "name": "Espresso machine", "offers": {{"@type": "Offer", "price": "{amount}", "priceCurrency": "EUR",
            "availability": "https://schema.org/InStock"}}}}</script></head></html>"#
        );
        (200, page)
    })
    .await;
    let hook = format!("https://hooks.slack.com{}", keys::SLACK_WEBHOOK_PATH);
    let h = routed_harness(
        &[("shop.example.com", shop), ("hooks.slack.com", fake.url())],
        &[("SLACK_WEBHOOK_URL", hook.as_str())],
    )
    .await;
    let workflow = example("price-watch.yaml");
    let input = sample_input("price-watch");

    let (first, nodes) = h.run(&workflow, input.clone()).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    assert_eq!(node(&nodes, "track").emitted_on("unchanged").unwrap()["first"], true);
    assert_eq!(node(&nodes, "alert").status, NodeStatus::Skipped);

    cents.store(109_900, Ordering::SeqCst);
    let (_, nodes) = h.run(&workflow, input.clone()).await;
    assert_eq!(node(&nodes, "alert").status, NodeStatus::Succeeded);
    let posted = fake.requests_to("/services/");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].json()["text"], "Espresso machine now costs 1099.0 EUR (was 1299.0, -15.4%)");

    cents.store(110_900, Ordering::SeqCst);
    let (_, nodes) = h.run(&workflow, input).await;
    assert_eq!(node(&nodes, "track").emitted_on("unchanged").unwrap()["delta"].as_f64(), Some(10.0));
    assert_eq!(fake.requests_to("/services/").len(), 1, "a move under 2% posts nothing");
}
