//! Webhook and cron triggers from the workflow document.

use trellis_engine::triggers::CronScheduler;
use trellis_engine::triggers::webhook::sign;

use crate::common::*;

fn hooked(trigger: Value) -> Value {
    json!({"id": "hooked", "triggers": [trigger], "nodes": [
        {"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": "order {{ input.order }}"}}]})
}

impl Server {
    async fn post_hook(&self, path: &str, body: &str, headers: &[(&str, String)]) -> (StatusCode, Value) {
        let mut request = Request::builder().method(Method::POST).uri(path).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        self.send(request.body(Body::from(body.to_owned())).unwrap()).await
    }

    async fn hook_path(&self, key: &str, workflow: &str) -> Option<String> {
        let (status, triggers) =
            self.call(Method::GET, &format!("/v1/workflows/{workflow}/triggers"), Some(key), None).await;
        assert_eq!(status, StatusCode::OK, "{triggers}");
        triggers["webhook"]["path"].as_str().map(str::to_owned)
    }
}

fn signed(secret: &str, timestamp: i64, body: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-trellis-timestamp", timestamp.to_string()),
        ("x-trellis-signature", sign(secret.as_bytes(), timestamp, body.as_bytes())),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_webhooks_start_runs_and_refuse_forgeries_and_replays() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    s.call(Method::PUT, "/v1/secrets/HOOK_KEY", Some(key), Some(json!({"value": "whsec_acme"}))).await;
    let (status, _) = s
        .call(Method::POST, "/v1/workflows", Some(key), Some(hooked(json!({"webhook": {"secret": "HOOK_KEY"}}))))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = s.hook_path(key, "hooked").await.expect("a hook path");
    assert!(path.starts_with("/hooks/whk_") && path.len() > 40, "{path}");

    let body = r#"{"order": 42}"#;
    let now = now_ms() / 1000;
    let (status, started) = s.post_hook(&path, body, &signed("whsec_acme", now, body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    let run = s.wait_run(key, &run_id, |r| r["run"]["status"] == "succeeded").await;
    assert_eq!(run["run"]["input"], json!({"order": 42}));
    assert_eq!(run["run"]["output"], "order 42");
    // Audited in the statement that recorded the run.
    let (_, audit) = s.call(Method::GET, "/v1/audit", Some(key), None).await;
    let start = audit["entries"].as_array().unwrap().iter().find(|e| e["target"] == run_id.as_str()).cloned();
    let start = start.expect("the webhook's run start is audited");
    assert_eq!((start["action"].as_str(), start["principal"].as_str()), (Some("run.start"), Some("webhook")));
    assert_eq!(start["details"]["workflow"], "hooked");

    // The same signed request again: refused, even inside the window.
    let (status, error) = s.post_hook(&path, body, &signed("whsec_acme", now, body)).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_signature")));
    // Signed long ago (a captured request replayed later): outside the window.
    let old = now - 600;
    let (status, error) = s.post_hook(&path, body, &signed("whsec_acme", old, body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(error["error"]["message"].as_str().unwrap().contains("window"), "{error}");
    // Wrong key, altered body, no signature at all.
    for headers in [signed("guess", now + 1, body), signed("whsec_acme", now + 2, r#"{"order": 1}"#), vec![]] {
        let (status, _) = s.post_hook(&path, body, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Unknown and malformed tokens look the same.
    for bad in ["/hooks/whk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/hooks/nope", "/hooks/whk_%2e%2e"] {
        let (status, _) = s.post_hook(bad, body, &signed("whsec_acme", now, body)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
    // Oversized bodies are refused before anything is read past the cap.
    let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(1 << 20));
    let (status, _) = s.post_hook(&path, &big, &signed("whsec_acme", now + 3, &big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Exactly one run came in through the hook.
    let (_, runs) = s.call(Method::GET, "/v1/runs", Some(key), None).await;
    assert_eq!(runs["runs"].as_array().unwrap().len(), 1, "{runs}");

    // A new version keeps the hook URL; one without the trigger removes it.
    let (status, _) = s
        .call(Method::PUT, "/v1/workflows/hooked", Some(key), Some(hooked(json!({"webhook": {"secret": "HOOK_KEY"}}))))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s.hook_path(key, "hooked").await.as_deref(), Some(path.as_str()));
    let mut untriggered = hooked(json!({"cron": "0 0 0 1 1 *"}));
    untriggered["triggers"] = json!([]);
    s.call(Method::PUT, "/v1/workflows/hooked", Some(key), Some(untriggered)).await;
    assert_eq!(s.hook_path(key, "hooked").await, None);
    let (status, _) = s.post_hook(&path, body, &signed("whsec_acme", now + 4, body)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_webhooks_take_the_body_as_input_and_other_tenants_cannot_see_the_hook() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let globex = s.tenant("owner@globex.test").await;
    s.call(Method::POST, "/v1/workflows", Some(&acme.api_key), Some(hooked(json!({"webhook": {}})))).await;
    let path = s.hook_path(&acme.api_key, "hooked").await.unwrap();
    let (status, started) = s.post_hook(&path, r#"{"order": 7}"#, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run_id = started["run_id"].as_str().unwrap();
    s.wait_run(&acme.api_key, run_id, |r| r["run"]["output"] == "order 7").await;
    let (status, _) = s.post_hook(&path, "not json", &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The other tenant sees neither the workflow's triggers nor the run.
    let (status, _) = s.call(Method::GET, "/v1/workflows/hooked/triggers", Some(&globex.api_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = s.call(Method::GET, &format!("/v1/runs/{run_id}"), Some(&globex.api_key), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Viewers may not see the hook URL (it starts runs).
    let viewer = s.key(&acme.tenant_id, Role::Viewer).await;
    let (status, _) = s.call(Method::GET, "/v1/workflows/hooked/triggers", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The server remembers what a token starts; a new version saved
    // through it is what the very next request runs, and a deleted
    // workflow's hook is gone at once.
    let mut changed = hooked(json!({"webhook": {}}));
    changed["nodes"][0]["config"]["template"] = json!("version two, order {{ input.order }}");
    let (status, _) = s.call(Method::PUT, "/v1/workflows/hooked", Some(&acme.api_key), Some(changed)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, started) = s.post_hook(&path, r#"{"order": 8}"#, &[]).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let run =
        s.wait_run(&acme.api_key, started["run_id"].as_str().unwrap(), |r| r["run"]["status"] == "succeeded").await;
    assert_eq!(
        (run["run"]["workflow_version"].as_i64(), &run["run"]["output"]),
        (Some(2), &json!("version two, order 8"))
    );
    let (status, _) = s.call(Method::DELETE, "/v1/workflows/hooked", Some(&acme.api_key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.post_hook(&path, r#"{"order": 9}"#, &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn cron_fires_once_per_tick_and_coalesces_fires_missed_while_down() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let every_minute = hooked(json!({"cron": "0 * * * * *", "input": {"order": 1}}));
    let (status, _) = s.call(Method::POST, "/v1/workflows", Some(key), Some(every_minute.clone())).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, triggers) = s.call(Method::GET, "/v1/workflows/hooked/triggers", Some(key), None).await;
    // Times are RFC 3339 in answers; the scheduler counts milliseconds.
    let next_fire = |triggers: &Value| {
        chrono::DateTime::parse_from_rfc3339(triggers["schedules"][0]["next_fire_at"].as_str().unwrap())
            .unwrap()
            .timestamp_millis()
    };
    let first = next_fire(&triggers);
    assert_eq!(first % 60_000, 0, "fires on the minute");

    let scheduler = CronScheduler::new(s.state.engine.clone());
    assert!(scheduler.tick(first - 1).await.unwrap().is_empty(), "not due yet");
    let fired = scheduler.tick(first).await.unwrap();
    assert_eq!(fired.len(), 1);
    assert!(scheduler.tick(first).await.unwrap().is_empty(), "one fire per tick time");
    assert!(scheduler.tick(first + 59_999).await.unwrap().is_empty());
    s.wait_run(key, &fired[0], |r| r["run"]["status"] == "succeeded").await;

    // Saving a new version with the same expression keeps the schedule.
    s.call(Method::PUT, "/v1/workflows/hooked", Some(key), Some(every_minute)).await;
    let (_, triggers) = s.call(Method::GET, "/v1/workflows/hooked/triggers", Some(key), None).await;
    assert_eq!(next_fire(&triggers), first + 60_000);

    // Down for five fires; a fresh scheduler (a restarted server) fires
    // once for all of them and then continues from the present.
    let restarted = CronScheduler::new(s.state.engine.clone());
    let later = first + 5 * 60_000 + 30_000;
    let caught_up = restarted.tick(later).await.unwrap();
    assert_eq!(caught_up.len(), 1);
    assert!(restarted.tick(later).await.unwrap().is_empty());
    let (_, triggers) = s.call(Method::GET, "/v1/workflows/hooked/triggers", Some(key), None).await;
    assert_eq!(next_fire(&triggers), first + 6 * 60_000);

    // A crash after a run started but before the schedule moved: the
    // retried fire finds its run and does not start another.
    let store = s.store.tenant(TenantId::new(&acme.tenant_id));
    assert!(store.advance_cron("hooked", 0, first + 6 * 60_000, first + 60_000).await.unwrap());
    assert!(restarted.tick(first + 60_000).await.unwrap().is_empty(), "that fire's run exists");
    let all = store.list_runs(&Default::default(), None, 100).await.unwrap();
    assert_eq!(all.len(), 2, "one on schedule, one catch-up");
    assert!(all.iter().all(|r| r.input == json!({"order": 1})));
    let (_, audit) = s.call(Method::GET, "/v1/audit", Some(key), None).await;
    let cron_starts =
        audit["entries"].as_array().unwrap().iter().filter(|e| e["principal"] == "cron" && e["action"] == "run.start");
    assert_eq!(cron_starts.count(), 2, "one audit entry per fire");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_triggers_are_refused_with_their_path() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let mut doc = hooked(json!({"cron": "0 0 25 * * *"}));
    doc["triggers"] = json!([{"cron": "0 0 25 * * *"}, {"webhook": {"secret": "bad name"}}, {"webhook": {}}]);
    let (status, body) = s.call(Method::POST, "/v1/workflows", Some(&acme.api_key), Some(doc)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let paths: Vec<&str> =
        body["error"]["details"]["problems"].as_array().unwrap().iter().map(|p| p["path"].as_str().unwrap()).collect();
    assert!(
        paths.contains(&"$.triggers[0].cron")
            && paths.contains(&"$.triggers[1].webhook.secret")
            && paths.contains(&"$.triggers"),
        "{paths:?}"
    );
}

/// A webhook naming a signing secret the tenant does not have is refused at
/// validation and at save, naming the trigger, until the secret exists.
#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_naming_a_missing_secret_is_a_problem_at_save() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let doc = hooked(json!({"webhook": {"secret": "HOOK_KEY"}}));
    let (status, checked) = s.call(Method::POST, "/v1/workflows/validate", Some(key), Some(doc.clone())).await;
    assert_eq!((status, &checked["valid"]), (StatusCode::OK, &json!(false)), "{checked}");
    let problem = &checked["problems"][0];
    assert_eq!(
        (&problem["path"], &problem["code"]),
        (&json!("$.triggers[0].webhook.secret"), &json!("invalid_trigger"))
    );
    assert!(problem["message"].as_str().unwrap().contains("secret `HOOK_KEY` does not exist"), "{problem}");
    let (status, refused) = s.call(Method::POST, "/v1/workflows", Some(key), Some(doc.clone())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(s.call(Method::GET, "/v1/workflows/hooked", Some(key), None).await.0, StatusCode::NOT_FOUND);

    let (status, _) = s.call(Method::PUT, "/v1/secrets/HOOK_KEY", Some(key), Some(json!({"value": "whsec"}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(doc)).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
}

/// A trigger can take a provider's own signatures: Stripe's (timestamped,
/// so a replay is refused) and Twilio's (a form, signed with the URL it
/// called), whose fields become the run input.
#[tokio::test(flavor = "multi_thread")]
async fn provider_webhooks_verify_the_providers_own_signatures() {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    for (name, value) in [("STRIPE_WHSEC", "whsec_acme"), ("TWILIO_TOKEN", "twilio-auth-token")] {
        let (status, _) =
            s.call(Method::PUT, &format!("/v1/secrets/{name}"), Some(key), Some(json!({"value": value}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let workflow = |id: &str, verify: &str, secret: &str, template: &str| {
        json!({"id": id, "triggers": [{"webhook": {"verify": verify, "secret": secret}}], "nodes": [
            {"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": template}}]})
    };
    for body in [
        workflow("paid", "stripe", "STRIPE_WHSEC", "paid {{ input.id }}"),
        workflow("texted", "twilio", "TWILIO_TOKEN", "{{ input.From }} says {{ input.Body }}"),
    ] {
        let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
    }

    // Stripe: `t=…,v1=HEX(HMAC-SHA256(secret, "t.body"))`.
    let stripe = s.hook_path(key, "paid").await.unwrap();
    let event = r#"{"id":"evt_1","type":"checkout.session.completed"}"#;
    let t = now_ms() / 1000;
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"whsec_acme").unwrap();
    mac.update(format!("{t}.{event}").as_bytes());
    let header = format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()));
    let (status, accepted) = s.post_hook(&stripe, event, &[("stripe-signature", header.clone())]).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run = s.wait_run(key, accepted["run_id"].as_str().unwrap(), |r| r["run"]["status"] == "succeeded").await;
    assert_eq!(run["run"]["output"], "paid evt_1");
    let (status, replay) = s.post_hook(&stripe, event, &[("stripe-signature", header.clone())]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{replay}");
    assert!(replay["error"]["message"].as_str().unwrap().contains("already received"), "{replay}");
    let forged = r#"{"id":"evt_2","type":"checkout.session.completed"}"#;
    let (status, _) = s.post_hook(&stripe, forged, &[("stripe-signature", header)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, unsigned) = s.post_hook(&stripe, forged, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(unsigned["error"]["message"].as_str().unwrap().contains("stripe-signature"), "{unsigned}");

    // Twilio: base64(HMAC-SHA1(token, URL + sorted name+value pairs)) of a form.
    let twilio = s.hook_path(key, "texted").await.unwrap();
    let form = "From=%2B15550001111&Body=hello+there&To=%2B15550002222";
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"twilio-auth-token").unwrap();
    mac.update(format!("https://hooks.acme.test{twilio}").as_bytes());
    for (name, value) in [("Body", "hello there"), ("From", "+15550001111"), ("To", "+15550002222")] {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let send = |host: &'static str, signature: String| {
        Request::builder()
            .method(Method::POST)
            .uri(&twilio)
            .header("host", host)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(Body::from(form))
            .unwrap()
    };
    let (status, accepted) = s.send(send("hooks.acme.test", signature.clone())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let run = s.wait_run(key, accepted["run_id"].as_str().unwrap(), |r| r["run"]["status"] == "succeeded").await;
    assert_eq!(run["run"]["input"], json!({"From": "+15550001111", "Body": "hello there", "To": "+15550002222"}));
    assert_eq!(run["run"]["output"], "+15550001111 says hello there");
    // Signed for another URL: refused.
    let (status, _) = s.send(send("elsewhere.test", signature)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A provider's scheme without a secret is a problem at save.
    let bare = json!({"id": "bare", "triggers": [{"webhook": {"verify": "github"}}], "nodes": [
        {"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": "x"}}]});
    let (status, problems) = s.call(Method::POST, "/v1/workflows", Some(key), Some(bare)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problems}");
    assert!(problems.to_string().contains("$.triggers[0].webhook.secret"), "{problems}");
}

/// `respond: true` holds the webhook's request for the run's reply: a
/// `respond` node's status, headers and body (the server's own headers
/// refused), the finished run without one, or 202 once the time-out passes.
#[tokio::test(flavor = "multi_thread")]
async fn a_responding_webhook_answers_with_the_runs_reply() {
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let replying = json!({"id": "form", "triggers": [{"webhook": {"respond": true}}], "nodes": [
        {"id": "total", "uses": "trellis/transform@^0.1", "kind": "reshape",
         "config": {"template": {"order": "{{ input.order }}", "total": "{{ input.qty * 3 }}"}}},
        {"id": "reply", "builtin": "respond", "config": {"status": 201,
         "headers": {"x-order": "{{ nodes.total.output.order }}", "set-cookie": "session=stolen", "content-length": "1"},
         "body": {"order": "{{ nodes.total.output.order }}", "total": "{{ nodes.total.output.total }}"}}},
        {"id": "after", "builtin": "delay", "config": {"ms": 2000}}],
        "edges": [{"from": "total", "to": "reply"}, {"from": "reply", "to": "after"}]});
    let plain = json!({"id": "plain", "triggers": [{"webhook": {"respond": true}}], "nodes": [
        {"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": "hi {{ input.who }}"}}]});
    let slow = json!({"id": "slow", "triggers": [{"webhook": {"respond": true, "respond_timeout_ms": 300}}],
        "nodes": [{"id": "wait", "builtin": "approval"}]});
    for workflow in [replying, plain, slow] {
        let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(workflow)).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
    }
    let request = |path: &str, body: &str| {
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_owned()))
            .unwrap()
    };

    // The reply goes out when `reply` ran, while the run goes on (`after`).
    let path = s.hook_path(key, "form").await.unwrap();
    let response = app(s.state.clone()).oneshot(request(&path, r#"{"order": "A-7", "qty": 2}"#)).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["x-order"], "A-7");
    assert!(!response.headers().contains_key("set-cookie"));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&bytes).unwrap(), json!({"order": "A-7", "total": 6}));

    let path = s.hook_path(key, "plain").await.unwrap();
    let (status, answer) = s.send(request(&path, r#"{"who": "Ada"}"#)).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!((answer["status"].as_str(), answer["output"].as_str()), (Some("succeeded"), Some("hi Ada")));

    let path = s.hook_path(key, "slow").await.unwrap();
    let (status, answer) = s.send(request(&path, "{}")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert!(answer["run_id"].is_string());

    let bad = json!({"id": "bad", "triggers": [{"webhook": {"respond": true, "respond_timeout_ms": 60000}}],
        "nodes": [{"id": "wait", "builtin": "approval"}]});
    let (status, problems) = s.call(Method::POST, "/v1/workflows", Some(key), Some(bad)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(problems.to_string().contains("respond_timeout_ms"), "{problems}");
}
