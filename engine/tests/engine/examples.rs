//! Every workflow in examples/ runs and does what its comment says.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use trellis_engine::store::{NodeStatus, RunStatus};

use crate::common::{example, harness, node, sample_input};

#[tokio::test(flavor = "multi_thread")]
async fn linear_chain() {
    let h = harness().await;
    let (run, nodes) = h.run(&example("linear-chain.yaml"), sample_input("linear-chain")).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!("Hello Ada Lovelace, your number doubled is 42.")));
    assert!(nodes.iter().all(|n| n.status == NodeStatus::Succeeded && n.attempt == 1));
    // The per-node record holds everything the run record promises.
    let double = node(&nodes, "double");
    // Config after expressions.
    assert_eq!(double.config.as_ref().unwrap()["template"]["doubled"], 42);
    assert_eq!(double.input, Some(json!({"who": "Ada Lovelace", "n": 21})));
    assert!(double.fuel_used > 0 && double.peak_memory_bytes > 0 && double.wall_time_us > 0);
    assert_eq!(double.idempotency_key, format!("{}:double", run.id));
}

#[tokio::test(flavor = "multi_thread")]
async fn branch_and_join_take_one_path_and_skip_the_other() {
    let h = harness().await;
    let workflow = example("branch-join.yaml");
    let (run, nodes) = h.run(&workflow, sample_input("branch-join")).await;
    assert_eq!(sample_input("branch-join"), json!({"score": 55}));
    assert_eq!(run.output, Some(json!("fix (score 55)")), "{:?}", run.error);
    assert_eq!(node(&nodes, "accept").status, NodeStatus::Skipped);
    assert_eq!(node(&nodes, "fix").status, NodeStatus::Succeeded);

    let (run, nodes) = h.run(&workflow, json!({"score": 93})).await;
    assert_eq!(run.output, Some(json!("accept (score 93)")));
    assert_eq!(node(&nodes, "fix").status, NodeStatus::Skipped);
}

#[tokio::test(flavor = "multi_thread")]
async fn map_runs_the_sub_graph_per_item_in_order() {
    let h = harness().await;
    let (run, nodes) = h.run(&example("map-items.yaml"), sample_input("map-items")).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(
        node(&nodes, "each").output(),
        json!([{"sku": "a", "total": 10}, {"sku": "b", "total": 7}, {"sku": "c", "total": 3}])
    );
    assert_eq!(run.output, Some(json!({"lines": 3, "total": 20})));
    let children = h.store.child_runs(&run.id, "each").await.unwrap();
    assert_eq!(children.len(), 3);
    assert!(children.iter().all(|c| c.status == RunStatus::Succeeded));
}

/// A real HTTP server on loopback answering 503 `failures` times, then 200.
async fn flaky_api(failures: u32) -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let url = crate::common::serve(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        if n <= failures { (503, "busy".to_owned()) } else { (200, "{\"ok\":true}".to_owned()) }
    })
    .await;
    (format!("{url}/status"), hits)
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_then_error_port() {
    let h = harness().await;
    let workflow = example("retry-error-port.yaml");

    // The sample input's URL refuses connections: three attempts, then
    // the fallback.
    let (run, nodes) = h.run(&workflow, sample_input("retry-error-port")).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(node(&nodes, "call").attempt, 3);
    assert_eq!(node(&nodes, "fallback").output()["source"], "fallback");

    // Always failing: three attempts, then the fallback gets the failure.
    let (url, hits) = flaky_api(u32::MAX).await;
    let (run, nodes) = h.run(&workflow, json!({ "url": url })).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let call = node(&nodes, "call");
    assert_eq!(call.status, NodeStatus::Failed);
    assert_eq!(call.attempt, 3);
    assert_eq!(call.history.len(), 3);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert_eq!(node(&nodes, "use-result").status, NodeStatus::Skipped);
    let fallback = node(&nodes, "fallback").output();
    assert_eq!(fallback["source"], "fallback");
    assert_eq!(fallback["attempts"], 3);
    assert!(fallback["reason"].as_str().unwrap().contains("HTTP 503"), "{fallback}");

    // Failing twice: the third attempt succeeds and the normal path runs.
    let (url, hits) = flaky_api(2).await;
    let (run, nodes) = h.run(&workflow, json!({ "url": url })).await;
    assert_eq!(run.output, Some(json!({"source": "api", "body": {"ok": true}})), "{:?}", run.error);
    assert_eq!(node(&nodes, "call").attempt, 3);
    assert_eq!(node(&nodes, "fallback").status, NodeStatus::Skipped);
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

async fn approval_decided(approved: bool) -> (Value, Vec<trellis_engine::store::NodeRecord>) {
    let h = harness().await;
    let workflow = example("approval.yaml");
    let run = h.engine.start(&h.store, &workflow, None, sample_input("approval")).await.unwrap();
    let engine = h.engine.clone();
    let store = h.store.clone();
    let run_id = run.id.clone();
    let driving = tokio::spawn(async move { engine.drive(&store, &run_id).await });

    let review = h.wait_for(&run.id, "review", NodeStatus::Waiting).await;
    assert_eq!(review.config.unwrap()["message"], "Publish Q3 report?");
    h.engine.decide(&h.store, &run.id, "review", json!({"approved": approved, "by": "ops@example.com"})).await.unwrap();
    let finished = driving.await.unwrap().unwrap();
    let (_, nodes) = h.engine.details(&h.store, &finished.id).await.unwrap();
    (finished.output.unwrap(), nodes)
}

#[tokio::test(flavor = "multi_thread")]
async fn approval_waits_for_a_decision() {
    let (output, nodes) = approval_decided(true).await;
    assert_eq!(output, json!("published Q3 report"));
    assert_eq!(node(&nodes, "discard").status, NodeStatus::Skipped);
    assert_eq!(node(&nodes, "review").emits[0].data["decision"]["by"], "ops@example.com");

    let (output, nodes) = approval_decided(false).await;
    assert_eq!(output, json!("discarded Q3 report"));
    assert_eq!(node(&nodes, "publish").status, NodeStatus::Skipped);
}

#[test]
fn every_example_is_tested() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml") || (n.ends_with(".json") && !n.ends_with(".input.json")))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    // The agent's example is tested with the agent's other tests, the seed
    // systems' with their fakes, and the webhook-started one through the API.
    let source = [
        include_str!("examples.rs"),
        include_str!("agent.rs"),
        include_str!("platforms.rs"),
        include_str!("../api/billing.rs"),
    ]
    .concat();
    for name in names {
        assert!(source.contains(&format!("example(\"{name}\")")), "examples/{name} has no test");
        let stem = name.trim_end_matches(".yaml").trim_end_matches(".json");
        assert!(
            source.contains(&format!("sample_input(\"{stem}\")")),
            "examples/{stem}.input.json is not used by its test"
        );
        let input = sample_input(stem);
        let workflow = example(&name);
        if let Some(schema) = &workflow.input_schema {
            let validator = jsonschema::validator_for(schema).unwrap();
            assert!(validator.is_valid(&input), "examples/{stem}.input.json does not fit its input_schema");
        } else {
            panic!("examples/{name} has no input_schema");
        }
    }
}

/// An engine whose operator shares one LLM provider: the fake on loopback.
async fn llm_harness(fake: &trellis_fake_llm::FakeLlm) -> crate::common::Harness {
    use trellis_engine::llm::{LlmGateway, ProviderSetting, SharedProvider};
    use trellis_host_api::capabilities::llm::endpoint::ProviderKind;
    let shared = SharedProvider {
        name: "operator-openai".to_owned(),
        setting: ProviderSetting {
            kind: ProviderKind::Openai,
            base_url: Some(fake.openai_base()),
            default_model: "gpt-4o-mini".to_owned(),
            allowed_models: Vec::new(),
            max_tokens: 1024,
            default: true,
        },
        api_key: Some("sk-operator".to_owned()),
    };
    let config = crate::common::test_config();
    let llm = LlmGateway::new(vec![shared], config.http.clone(), std::time::Duration::from_secs(10), None);
    crate::common::harness_with(trellis_engine::executor::EngineConfig { llm: Arc::new(llm), ..config }).await
}

#[tokio::test(flavor = "multi_thread")]
async fn ai_triage_extracts_with_one_repair_then_branches_on_the_label() {
    use trellis_fake_llm::{FakeLlm, Reply};
    let fake = FakeLlm::start().await;
    // The first extraction breaks the schema (an impact outside the enum);
    // the repair fits; the classifier picks `urgent`.
    fake.push(Reply::openai_text(
        r#"{"product": "Storefront", "customer_impact": "down", "summary": "Checkout down"}"#,
    ));
    fake.push(Reply::openai_text(
        "```json\n{\"product\": \"Storefront\", \"customer_impact\": \"blocked\", \"summary\": \"EU checkout down since 9am\"}\n```",
    ));
    fake.push(Reply::openai_text(r#"{"label": "urgent"}"#));
    let h = llm_harness(&fake).await;
    let (run, nodes) = h.run(&example("ai-triage.yaml"), sample_input("ai-triage")).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(node(&nodes, "fields").output()["customer_impact"], "blocked");
    assert_eq!(node(&nodes, "fields").llm_calls.len(), 2);
    assert_eq!(node(&nodes, "route").emits[0].port, "urgent");
    assert_eq!(node(&nodes, "backlog").status, NodeStatus::Skipped);
    assert_eq!(
        node(&nodes, "page-on-call").output(),
        json!({"queue": "on-call", "product": "Storefront", "summary": "EU checkout down since 9am"})
    );

    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    // The extraction asks for the schema as structured output, and the
    // repair shows the model its answer and what was wrong with it.
    assert_eq!(requests[0].body["response_format"]["type"], "json_schema");
    assert_eq!(requests[0].body["temperature"], 0.0);
    let repair = requests[1].messages();
    assert_eq!(repair.len(), 4);
    assert!(repair[3]["content"].as_str().unwrap().contains("does not validate"), "{:?}", repair[3]);
    assert_eq!(
        requests[2].body["response_format"]["json_schema"]["schema"]["properties"]["label"]["enum"],
        json!(["urgent", "routine"])
    );
    assert!(requests[2].messages()[1]["content"].as_str().unwrap().starts_with("EU checkout down since 9am"));
    assert_eq!(requests[0].headers["authorization"], "Bearer sk-operator");

    // A model that answers in prose still picks a branch when it names
    // exactly one label.
    fake.push(Reply::openai_text(r#"{"product": "Docs", "customer_impact": "none", "summary": "Typo on a page"}"#));
    fake.push(Reply::openai_text("Routine: nothing is blocked."));
    let (run, nodes) = h.run(&example("ai-triage.yaml"), json!({"ticket": "There is a typo in the docs."})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(node(&nodes, "route").emits[0].port, "routine");
    assert_eq!(node(&nodes, "backlog").output()["queue"], "backlog");
    assert_eq!(node(&nodes, "page-on-call").status, NodeStatus::Skipped);
}

/// `summarize` asks for the word limit and the style, and `chat` sends the
/// system prompt and the prompt its expressions filled.
#[tokio::test(flavor = "multi_thread")]
async fn summarize_and_chat_send_what_their_config_says() {
    use trellis_fake_llm::{FakeLlm, Reply};
    let fake = FakeLlm::start().await;
    fake.push(Reply::openai_text("- EU checkout is down\n- orders are lost"));
    fake.push(Reply::openai_text("Sorry about that!"));
    let h = llm_harness(&fake).await;
    let workflow = crate::common::workflow(
        r#"
id: sum
nodes:
  - { id: s, uses: trellis/ai, kind: summarize, config: { max_words: 12, style: bullets } }
  - id: c
    uses: trellis/ai
    kind: chat
    config: { system: "Be kind.", prompt: "Apologise for: {{ nodes.s.output.summary }}", model: gpt-4o-mini }
edges: [{ from: s, to: c }]
"#,
    );
    let (run, nodes) = h.run(&workflow, json!("Checkout has been down since 9am for EU customers.")).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(node(&nodes, "s").output()["summary"], "- EU checkout is down\n- orders are lost");
    assert_eq!(run.output.as_ref().unwrap()["text"], "Sorry about that!");
    let requests = fake.requests();
    let system = requests[0].messages()[0]["content"].as_str().unwrap().to_owned();
    assert!(system.contains("bullet points") && system.contains("at most 12 words"), "{system}");
    assert_eq!(requests[0].messages()[1]["content"], "Checkout has been down since 9am for EU customers.");
    assert_eq!(requests[1].messages()[0], json!({"role": "system", "content": "Be kind."}));
    assert_eq!(requests[1].messages()[1]["content"], "Apologise for: - EU checkout is down\n- orders are lost");
    assert_eq!(requests[1].body["model"], "gpt-4o-mini");
}

/// A plugin node whose model call was rate limited is retried by its
/// policy, no sooner than the provider's `retry-after`.
#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_ai_node_retries_after_what_the_provider_asked() {
    use trellis_fake_llm::{FakeLlm, Reply};
    let fake = FakeLlm::start().await;
    fake.push(Reply::rate_limited(1));
    fake.push(Reply::openai_text("Fine."));
    let h = llm_harness(&fake).await;
    let workflow = crate::common::workflow(
        r#"
id: patient
nodes:
  - id: c
    uses: trellis/ai
    kind: chat
    config: { prompt: "hello" }
    retry: { max_attempts: 2, initial_ms: 10 }
"#,
    );
    let started = std::time::Instant::now();
    let (run, nodes) = h.run(&workflow, Value::Null).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    let chat = node(&nodes, "c");
    assert_eq!(chat.attempt, 2);
    assert_eq!(chat.history[0].failure.code.as_str(), "retryable");
    assert!(chat.history[0].failure.message.contains("HTTP 429"), "{:?}", chat.history[0]);
}
