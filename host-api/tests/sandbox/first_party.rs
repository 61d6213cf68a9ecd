//! The first-party plugins through the real sandbox: trellis/http-request
//! against a real server on loopback, trellis/transform on real templates.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{Reply, load, run, runtime, serve};
use serde_json::{Value, json};
use trellis_host_api::capabilities::HttpPolicy;
use trellis_host_api::{Capabilities, FailureCode, Invocation, Limits};
use trellis_plugin_artifacts::{CAPABILITIES, ECHO, HTTP_REQUEST, TRANSFORM};

fn loopback_policy() -> HttpPolicy {
    HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["127.0.0.1"]) }
}

fn caps(http: HttpPolicy) -> Capabilities {
    Capabilities { http, ..Capabilities::default() }
}

/// Read off the components' imports: a guest that never calls out has no
/// such import, whatever its SDK offers.
#[test]
fn only_plugins_importing_http_secrets_kv_or_llm_reach_out() {
    let runtime = runtime();
    assert!(!load(&runtime, TRANSFORM).reaches_out());
    assert!(!load(&runtime, ECHO).reaches_out());
    assert!(load(&runtime, HTTP_REQUEST).reaches_out());
    assert!(load(&runtime, CAPABILITIES).reaches_out());
}

#[tokio::test(flavor = "multi_thread")]
async fn http_request_describes_real_schemas() {
    let runtime = runtime();
    let plugin = load(&runtime, HTTP_REQUEST);
    let kinds = runtime.describe(&plugin).await.unwrap();
    let request = &kinds[0];
    assert_eq!(request.name, "request");
    assert_eq!(request.config_schema["required"], json!(["url"]));
    assert_eq!(request.config_schema["properties"]["url"]["type"], "string");
    assert_eq!(request.output_schema["properties"]["status"]["type"], "integer");
    assert_eq!(request.ports, vec!["out"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn http_request_sends_method_headers_query_and_json_body() {
    let seen: Arc<Mutex<Vec<(String, String, String)>>> = Arc::default();
    let record = seen.clone();
    let addr = serve(Arc::new(move |method, target, body| {
        record.lock().unwrap().push((method.to_string(), target, String::from_utf8_lossy(&body).into_owned()));
        Reply::new(201, "{\"id\":7,\"tags\":[\"a\"]}")
            .header("content-type", "application/json")
            .header("x-request-id", "abc")
    }))
    .await;
    let runtime = runtime();
    let plugin = load(&runtime, HTTP_REQUEST);
    let config = json!({
        "method": "POST",
        "url": format!("http://{addr}/v1/items"),
        "headers": {"authorization": "Bearer t"},
        "query": {"q": "a b&c", "n": 3},
        "body": {"name": "widget"}
    });
    let execution = run(&runtime, &plugin, "request", config, &Limits::default(), caps(loopback_policy())).await;
    assert!(execution.succeeded(), "{:?}", execution.report);
    let out = &execution.emits[0].data;
    assert_eq!(out["status"], 201);
    assert_eq!(out["headers"]["x-request-id"], "abc");
    assert_eq!(out["body"], json!({"id": 7, "tags": ["a"]}));
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].0, "POST");
    assert_eq!(seen[0].1, "/v1/items?n=3&q=a+b%26c");
    assert_eq!(serde_json::from_str::<Value>(&seen[0].2).unwrap(), json!({"name": "widget"}));
    let call = &execution.report.http_calls[0];
    assert_eq!((call.method.as_str(), call.status), ("POST", Some(201)));
    assert_eq!(call.url, format!("http://{addr}/v1/items"));
    assert!(execution.report.logs.iter().any(|l| l.message.contains("-> 201")));
}

#[tokio::test(flavor = "multi_thread")]
async fn http_request_error_statuses_follow_the_config() {
    let addr = serve(Arc::new(|_, target, _| {
        let status = if target.contains("busy") { 503 } else { 404 };
        Reply::new(status, "nope")
    }))
    .await;
    let runtime = runtime();
    let plugin = load(&runtime, HTTP_REQUEST);
    let busy = run(
        &runtime,
        &plugin,
        "request",
        json!({"url": format!("http://{addr}/busy")}),
        &Limits::default(),
        caps(loopback_policy()),
    )
    .await;
    assert_eq!(busy.failure().unwrap().code, FailureCode::Retryable);
    assert!(busy.failure().unwrap().message.contains("HTTP 503"));
    let missing = run(
        &runtime,
        &plugin,
        "request",
        json!({"url": format!("http://{addr}/gone")}),
        &Limits::default(),
        caps(loopback_policy()),
    )
    .await;
    assert_eq!(missing.failure().unwrap().code, FailureCode::Fatal);
    let tolerated = run(
        &runtime,
        &plugin,
        "request",
        json!({"url": format!("http://{addr}/gone"), "fail_on_error_status": false}),
        &Limits::default(),
        caps(loopback_policy()),
    )
    .await;
    assert!(tolerated.succeeded());
    assert_eq!(tolerated.emits[0].data["status"], 404);
    assert_eq!(tolerated.emits[0].data["body"], "nope");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_policy_caps_response_size_request_count_and_time() {
    let addr = serve(Arc::new(|_, target, _| {
        let reply = Reply::new(200, vec![b'x'; 64 * 1024]);
        if target.contains("slow") { reply.delayed(Duration::from_secs(10)) } else { reply }
    }))
    .await;
    let runtime = runtime();
    let plugin = load(&runtime, HTTP_REQUEST);
    let url = format!("http://{addr}/big");

    let small = HttpPolicy { max_response_bytes: 1024, ..loopback_policy() };
    let execution = run(&runtime, &plugin, "request", json!({"url": url}), &Limits::default(), caps(small)).await;
    assert_eq!(execution.failure().unwrap().code, FailureCode::Fatal, "{:?}", execution.report);
    assert!(execution.failure().unwrap().message.contains("1024-byte limit"), "{:?}", execution.failure());

    let none_left = HttpPolicy { max_requests: 0, ..loopback_policy() };
    let execution = run(&runtime, &plugin, "request", json!({"url": url}), &Limits::default(), caps(none_left)).await;
    assert!(execution.failure().unwrap().message.contains("request limit of 0"), "{:?}", execution.failure());

    let impatient = HttpPolicy { request_timeout: Duration::from_millis(300), ..loopback_policy() };
    let slow = format!("http://{addr}/slow");
    let execution = run(&runtime, &plugin, "request", json!({"url": slow}), &Limits::default(), caps(impatient)).await;
    assert_eq!(execution.failure().unwrap().code, FailureCode::Retryable, "{:?}", execution.report);
    assert!(execution.report.http_calls[0].error.is_some());
    assert!(execution.report.http_calls[0].duration_ms < 10_000);
}

async fn transform(kind: &str, config: Value, input: Value) -> trellis_host_api::Execution {
    let runtime = runtime();
    let plugin = load(&runtime, TRANSFORM);
    let invocation = Invocation::standalone(kind, config, input);
    runtime.execute(&plugin, &invocation, &Limits::default(), Capabilities::default()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn transform_reshape_keeps_json_types() {
    let input = json!({"user": {"name": "ada", "langs": ["en", "fr"]}, "score": 72});
    let template = json!({
        "name": "{{ input.user.name | upper }}",
        "languages": "{{ input.user.langs }}",
        "count": "{{ input.user.langs | length }}",
        "passed": "{{ input.score >= 70 }}",
        "summary": "{{ input.user.name }} scored {{ input.score }}",
        "missing": "{{ input.nothing.here }}",
        "literal": 5
    });
    let execution = transform("reshape", json!({"template": template}), input).await;
    assert!(execution.succeeded(), "{:?}", execution.report);
    assert_eq!(
        execution.emits[0].data,
        json!({"name": "ADA", "languages": ["en", "fr"], "count": 2, "passed": true,
               "summary": "ada scored 72", "missing": null, "literal": 5})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transform_errors_name_the_template_path_and_runaway_loops_stop() {
    let bad = transform("reshape", json!({"template": {"a": ["ok", "{{ input. }}"]}}), json!({})).await;
    assert_eq!(bad.failure().unwrap().code, FailureCode::InvalidConfig);
    assert!(bad.failure().unwrap().message.contains("config.template.a[1]"), "{:?}", bad.failure());

    let runaway = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}";
    let stopped = transform("render", json!({"template": runaway, "fuel": 10000}), json!({})).await;
    assert_eq!(stopped.failure().unwrap().code, FailureCode::InvalidConfig);
    assert!(stopped.failure().unwrap().message.contains("fuel"), "{:?}", stopped.failure());

    let text = transform("render", json!({"template": "Hi {{ input.who }}!"}), json!({"who": "Bo"})).await;
    assert_eq!(text.emits[0].data, json!("Hi Bo!"));
}

/// The host never follows a redirect: each hop would need its own policy
/// check. The plugin sees the 302 and its `Location`; the target is
/// never asked.
#[tokio::test(flavor = "multi_thread")]
async fn redirects_are_not_followed() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let addr = serve(Arc::new(move |_, target, _| {
        record.lock().unwrap().push(target.clone());
        if target == "/start" { Reply::new(302, "").header("location", "/target") } else { Reply::new(200, "reached") }
    }))
    .await;
    let runtime = runtime();
    let plugin = load(&runtime, HTTP_REQUEST);
    let config = json!({"url": format!("http://{addr}/start"), "fail_on_error_status": false});
    let execution = run(&runtime, &plugin, "request", config, &Limits::default(), caps(loopback_policy())).await;
    assert!(execution.succeeded(), "{:?}", execution.report);
    assert_eq!(execution.emits[0].data["status"], 302);
    assert_eq!(execution.emits[0].data["headers"]["location"], "/target");
    assert_eq!(*seen.lock().unwrap(), ["/start"], "the redirect's target was requested");
    assert_eq!(execution.report.http_calls.len(), 1);
}

/// `auth` names secrets; the host hands over only granted ones, the request
/// carries them, and neither the config nor the report holds a value.
#[tokio::test(flavor = "multi_thread")]
async fn http_request_auth_sends_granted_secrets_and_records_none() {
    use trellis_host_api::capabilities::MemorySecrets;

    let targets: Arc<Mutex<Vec<String>>> = Arc::default();
    let headers: Arc<Mutex<Vec<http::HeaderMap>>> = Arc::default();
    let record = targets.clone();
    let addr = crate::common::serve_recording(
        Arc::new(move |_, target, _| {
            record.lock().unwrap().push(target);
            Reply::new(200, "{}").header("content-type", "application/json")
        }),
        headers.clone(),
    )
    .await;
    let runtime = runtime();
    let plugin = load(&runtime, HTTP_REQUEST);
    let values = [("GH_TOKEN", "ghp_s3cr3t"), ("SID", "AC123"), ("AUTH", "tw-pass"), ("KEY", "k-42"), ("OTHER", "o-1")];
    let granted = |names: &[&str]| Capabilities {
        secrets: Arc::new(MemorySecrets::new(values.iter().map(|(n, v)| (n.to_string(), v.to_string())))),
        granted_secrets: names.iter().map(|n| n.to_string()).collect(),
        ..caps(loopback_policy())
    };
    let url = format!("http://{addr}/api?page=2");
    let cases = [
        (json!({"type": "bearer", "token": "GH_TOKEN"}), vec![("authorization", "Bearer ghp_s3cr3t")], "/api?page=2"),
        // base64("AC123:tw-pass"), computed with `printf 'AC123:tw-pass' | base64`.
        (
            json!({"type": "basic", "username": "SID", "password": "AUTH"}),
            vec![("authorization", "Basic QUMxMjM6dHctcGFzcw==")],
            "/api?page=2",
        ),
        // base64("k-42:")
        (json!({"type": "basic", "username": "KEY"}), vec![("authorization", "Basic ay00Mjo=")], "/api?page=2"),
        (json!({"type": "header", "name": "X-Api-Key", "secret": "KEY"}), vec![("x-api-key", "k-42")], "/api?page=2"),
        (json!({"type": "query", "name": "api_key", "secret": "KEY"}), vec![], "/api?page=2&api_key=k-42"),
        (
            json!({"type": "headers", "headers": {"X-Key": "KEY", "X-Id": "SID"}}),
            vec![("x-key", "k-42"), ("x-id", "AC123")],
            "/api?page=2",
        ),
    ];
    for (auth, expected_headers, expected_target) in cases {
        targets.lock().unwrap().clear();
        headers.lock().unwrap().clear();
        let config = json!({"url": url, "auth": auth, "headers": {"authorization": "from config"}});
        let execution = run(
            &runtime,
            &plugin,
            "request",
            config.clone(),
            &Limits::default(),
            granted(&["GH_TOKEN", "SID", "AUTH", "KEY"]),
        )
        .await;
        assert!(execution.succeeded(), "{auth}: {:?}", execution.report);
        assert_eq!(*targets.lock().unwrap(), [expected_target], "{auth}");
        let sent = headers.lock().unwrap()[0].clone();
        for (name, value) in &expected_headers {
            assert_eq!(sent.get(*name).and_then(|v| v.to_str().ok()), Some(*value), "{auth}: {name}");
        }
        if !expected_headers.iter().any(|(name, _)| *name == "authorization") {
            assert_eq!(sent.get("authorization").unwrap(), "from config", "{auth}");
        }
        let report =
            serde_json::to_string(&execution.report).unwrap() + &serde_json::to_string(&execution.emits).unwrap();
        for (_, value) in values {
            assert!(!report.contains(value), "{auth}: the record holds a secret value: {report}");
        }
    }

    // A name the tenant did not grant: the node fails naming it, nothing is sent.
    targets.lock().unwrap().clear();
    let config = json!({"url": url, "auth": {"type": "bearer", "token": "OTHER"}});
    let execution = run(&runtime, &plugin, "request", config, &Limits::default(), granted(&["GH_TOKEN"])).await;
    let failure = execution.report.failure.as_ref().expect("an ungranted secret fails the node");
    assert_eq!(failure.code, FailureCode::InvalidConfig);
    assert!(failure.message.contains("config.auth.token: secret `OTHER`"), "{}", failure.message);
    assert!(targets.lock().unwrap().is_empty(), "a request went out without its credentials");
}

/// Failed exchanges read as short sentences naming the host and the cause,
/// in the node's failure and in the recorded call alike.
#[tokio::test(flavor = "multi_thread")]
async fn transport_failures_are_sentences_naming_the_host() {
    let plain = serve(Arc::new(|_, target, _| {
        let reply = Reply::new(200, "ok");
        if target.contains("slow") { reply.delayed(Duration::from_secs(10)) } else { reply }
    }))
    .await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let runtime = runtime();
    let plugin = load(&runtime, HTTP_REQUEST);
    let policy = HttpPolicy {
        allow_private_network: true,
        request_timeout: Duration::from_millis(500),
        ..HttpPolicy::allowing(["*"])
    };
    let cases = [
        (format!("http://127.0.0.1:{closed}/"), "127.0.0.1 refused the connection"),
        ("http://no-such-host.invalid/".to_owned(), "could not resolve no-such-host.invalid"),
        (format!("https://127.0.0.1:{}/", plain.port()), "the TLS handshake with 127.0.0.1 failed"),
        (format!("http://{plain}/slow"), "127.0.0.1 did not answer in time"),
    ];
    for (url, expected) in cases {
        let execution =
            run(&runtime, &plugin, "request", json!({"url": url}), &Limits::default(), caps(policy.clone())).await;
        let failure = execution.failure().unwrap_or_else(|| panic!("{url} succeeded"));
        assert!(failure.message.starts_with(expected), "{url}: {}", failure.message);
        assert!(!failure.message.contains("ErrorCode") && !failure.message.contains("Payload"), "{}", failure.message);
        let recorded = execution.report.http_calls[0].error.as_deref().unwrap_or_default();
        assert!(recorded.starts_with(expected), "{url}: recorded {recorded}");
    }
}

const JSON_LD_GRAPH: &str = r#"<html><head><script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "BreadcrumbList", "itemListElement": []},
  {"@type": "Product", "name": "Espresso machine", "offers": [
    {"@type": "Offer", "price": "24.99", "priceCurrency": "EUR", "availability": "https://schema.org/InStock"},
    {"@type": "Offer", "price": 19.5, "priceCurrency": "EUR", "availability": "https://schema.org/OutOfStock"}]}]}
</script></head><body>Espresso</body></html>"#;
const AGGREGATE: &str = r#"<script type="application/ld+json">{"@type": "Product", "name": "Grinder",
  "offers": {"@type": "AggregateOffer", "lowPrice": "10.00", "highPrice": "14.00", "priceCurrency": "USD"}}</script>"#;
const MICRODATA: &str = r#"<div itemscope itemtype="https://schema.org/Product"><h1 itemprop="name">Kettle</h1>
  <span itemprop="price" content="1,299.00">$1,299</span><meta itemprop="priceCurrency" content="USD">
  <link itemprop="availability" href="https://schema.org/InStock"></div>"#;
const OPENGRAPH: &str = r#"<head><meta property="og:title" content="Mug"><meta property="product:price:amount" content="7.5">
  <meta property="product:price:currency" content="GBP"></head>"#;

/// `trellis/price-watch`: a page's price from JSON-LD (`@graph`, offer
/// lists, aggregates), microdata or OpenGraph, and a history in kv that
/// branches on changes.
#[tokio::test(flavor = "multi_thread")]
async fn price_watch_reads_prices_and_tracks_changes() {
    let addr = serve(Arc::new(|_, target: String, _| {
        let page = match target.as_str() {
            "/graph" => JSON_LD_GRAPH,
            "/aggregate" => AGGREGATE,
            "/microdata" => MICRODATA,
            "/og" => OPENGRAPH,
            "/busy" => return Reply::new(503, "try later"),
            _ => "<html><body>No price here</body></html>",
        };
        Reply::new(200, page).header("content-type", "text/html")
    }))
    .await;
    let runtime = runtime();
    let plugin = load(&runtime, trellis_plugin_artifacts::PRICE_WATCH);
    let limits = Limits::default();
    let price = |path: &str| {
        let config = json!({"url": format!("http://{addr}{path}")});
        run(&runtime, &plugin, "product-price", config, &limits, caps(loopback_policy()))
    };
    let graph = price("/graph").await;
    assert!(graph.succeeded(), "{:?}", graph.report.failure);
    let out = &graph.emits[0].data;
    assert_eq!((out["price"].as_f64(), out["currency"].as_str()), (Some(19.5), Some("EUR")));
    assert_eq!((out["name"].as_str(), out["availability"].as_str()), (Some("Espresso machine"), Some("out_of_stock")));
    assert_eq!(out["source"], "json-ld");
    let aggregate = price("/aggregate").await;
    assert_eq!(
        (aggregate.emits[0].data["price"].as_f64(), aggregate.emits[0].data["currency"].as_str()),
        (Some(10.0), Some("USD"))
    );
    let microdata = price("/microdata").await;
    let out = &microdata.emits[0].data;
    assert_eq!(
        (out["price"].as_f64(), out["source"].as_str(), out["name"].as_str()),
        (Some(1299.0), Some("microdata"), Some("Kettle"))
    );
    let og = price("/og").await;
    assert_eq!((og.emits[0].data["price"].as_f64(), og.emits[0].data["currency"].as_str()), (Some(7.5), Some("GBP")));
    let none = price("/none").await;
    assert_eq!(none.failure().unwrap().code, FailureCode::Fatal);
    assert!(none.failure().unwrap().message.contains("has no price"), "{:?}", none.failure());
    assert_eq!(price("/busy").await.failure().unwrap().code, FailureCode::Retryable);

    // The history lives in the plugin's kv: first sight, a drop, a wobble
    // under the threshold, and a retry of the same run adding nothing.
    let kv = trellis_host_api::capabilities::MemoryKv::default();
    let track = |run_id: &str, price: f64| {
        let invocation = Invocation {
            kind: "track".into(),
            config: json!({"key": "sku-1", "price": price, "threshold_percent": 1.0}),
            input: Value::Null,
            run_id: run_id.into(),
            node_id: "track".into(),
            attempt: 1,
            idempotency_key: format!("{run_id}:track"),
        };
        let capabilities = Capabilities { kv: Arc::new(kv.clone()), ..Capabilities::default() };
        let runtime = runtime.clone();
        let plugin = plugin.clone();
        async move { runtime.execute(&plugin, &invocation, &Limits::default(), capabilities).await }
    };
    let first = track("r1", 100.0).await;
    assert_eq!((first.emits[0].port.as_str(), &first.emits[0].data["first"]), ("unchanged", &json!(true)));
    let drop = track("r2", 90.0).await;
    assert_eq!(drop.emits[0].port, "changed");
    assert_eq!(
        (drop.emits[0].data["delta"].as_f64(), drop.emits[0].data["previous"].as_f64()),
        (Some(-10.0), Some(100.0))
    );
    let again = track("r2", 90.0).await;
    assert_eq!(again.emits[0].data["points"], 2, "a retry of the same run adds no point");
    let wobble = track("r3", 90.5).await;
    assert_eq!(wobble.emits[0].port, "unchanged");
    assert_eq!(wobble.emits[0].data["points"], 3);
}
