//! The `agent` built-in against a fake provider on loopback and a fake
//! weather API: tools run as sandboxed node executions recorded under the
//! agent, bad arguments go back to the model, `max_iterations` ends a loop,
//! and an approval gate holds a tool until a person decides.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{Value, json};
use trellis_engine::store::{AgentStep, NodeStatus, RunStatus, ToolStatus};
use trellis_fake_llm::{FakeLlm, Reply};
use trellis_host_api::capabilities::KvStore;

use crate::common::{Harness, example, harness_with, node, sample_input, test_config};
use trellis_engine::store::TenantStoreExt;

/// A weather API on loopback: `GET /current?city=…` answers the city's
/// weather as JSON; counts its requests.
pub async fn weather_api() -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let counter = hits.clone();
    let url = crate::common::serve(move |target| {
        counter.fetch_add(1, Ordering::SeqCst);
        let city = target.split_once("city=").map_or("?", |(_, city)| city);
        (200, json!({"city": city, "temp_c": 3, "rain": true}).to_string())
    })
    .await;
    (url, hits)
}

/// An engine whose operator shares one provider: the fake.
pub async fn agent_harness(fake: &FakeLlm) -> Harness {
    use trellis_engine::llm::{LlmGateway, ProviderSetting, SharedProvider};
    use trellis_host_api::capabilities::llm::endpoint::ProviderKind;
    let shared = SharedProvider {
        name: "fake".to_owned(),
        setting: ProviderSetting {
            kind: ProviderKind::Openai,
            base_url: Some(fake.openai_base()),
            default_model: "gpt-4o-mini".to_owned(),
            allowed_models: Vec::new(),
            max_tokens: 512,
            default: true,
        },
        api_key: None,
    };
    let config = test_config();
    let llm = LlmGateway::new(vec![shared], config.http.clone(), std::time::Duration::from_secs(10), None);
    harness_with(trellis_engine::executor::EngineConfig { llm: Arc::new(llm), ..config }).await
}

fn weather_call(id: &str, arguments: Value) -> Reply {
    Reply::openai_tool_calls(&[(id, "current_weather", arguments)])
}

fn tool_steps(agent: &trellis_engine::store::NodeRecord) -> Vec<trellis_engine::store::ToolStep> {
    agent
        .agent
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .filter_map(|s| match s {
            AgentStep::Tool(t) => Some(t.clone()),
            AgentStep::Turn(_) => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_weather_agent_calls_http_request_as_a_sandboxed_tool() {
    let fake = FakeLlm::start().await;
    let (api, hits) = weather_api().await;
    fake.push(weather_call("call_1", json!({"city": "Oslo"})));
    fake.push(Reply::openai_text("Yes: 3 °C and rain in Oslo, take an umbrella."));
    let h = agent_harness(&fake).await;
    let mut input = sample_input("agent-weather");
    input["api"] = json!(api);
    let (run, nodes) = h.run(&example("agent-weather.yaml"), input).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let agent = node(&nodes, "assistant");
    assert_eq!(
        agent.output(),
        json!({"answer": "Yes: 3 °C and rain in Oslo, take an umbrella.", "turns": 2, "tool_calls": 1})
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // The call is recorded under the agent: arguments, output, fuel, HTTP.
    let calls = tool_steps(agent);
    assert_eq!(calls[0].status, ToolStatus::Succeeded);
    assert_eq!(calls[0].arguments, json!({"city": "Oslo"}));
    assert_eq!(calls[0].output.as_ref().unwrap()["body"], json!({"city": "Oslo", "temp_c": 3, "rain": true}));
    assert!(calls[0].fuel_used > 0 && agent.fuel_used == calls[0].fuel_used);
    assert_eq!(calls[0].http_calls.len(), 1);
    assert_eq!(calls[0].http_calls[0].status, Some(200));
    assert_eq!(agent.http_calls.len(), 1);

    // The model was given the tool's schema, then the result under its id.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    let tool = &requests[0].body["tools"][0]["function"];
    assert_eq!(tool["name"], "current_weather");
    assert_eq!(tool["parameters"]["required"], json!(["city"]));
    assert_eq!(requests[0].messages()[1]["content"], "Do I need an umbrella in Oslo today?");
    let result = &requests[1].messages()[3];
    assert_eq!(result["role"], "tool");
    assert_eq!(result["tool_call_id"], "call_1");
    assert!(result["content"].as_str().unwrap().contains("\"rain\":true"), "{result}");
}

#[tokio::test(flavor = "multi_thread")]
async fn arguments_that_miss_the_schema_go_back_to_the_model_without_running_the_tool() {
    let fake = FakeLlm::start().await;
    let (api, hits) = weather_api().await;
    fake.push(weather_call("call_1", json!({"town": "Oslo"})));
    fake.push(Reply::openai_tool_calls(&[("call_2", "launch_rockets", json!({}))]));
    fake.push(Reply::openai_text("I could not look it up."));
    let h = agent_harness(&fake).await;
    let (run, nodes) = h.run(&example("agent-weather.yaml"), json!({"question": "Oslo?", "api": api})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a call with bad arguments must not run");
    let calls = tool_steps(node(&nodes, "assistant"));
    assert_eq!((calls[0].status, calls[0].executions), (ToolStatus::Invalid, 0));
    assert!(calls[0].error.as_deref().unwrap().contains("do not fit the tool's schema"), "{:?}", calls[0]);
    assert_eq!(calls[1].status, ToolStatus::Invalid);
    let requests = fake.requests();
    let told = requests[1].messages()[3]["content"].as_str().unwrap().to_owned();
    assert!(told.starts_with("error: the arguments do not fit") && told.contains("city"), "{told}");
    let told = requests[2].messages()[5]["content"].as_str().unwrap().to_owned();
    assert!(told.contains("there is no tool `launch_rockets`"), "{told}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_that_never_answers_stops_at_max_iterations() {
    let fake = FakeLlm::start().await;
    let (api, hits) = weather_api().await;
    fake.respond_with(|_| weather_call("again", json!({"city": "Oslo"})));
    let h = agent_harness(&fake).await;
    let (run, nodes) = h.run(&example("agent-weather.yaml"), json!({"question": "Oslo?", "api": api})).await;
    assert_eq!(run.status, RunStatus::Failed);
    let agent = node(&nodes, "assistant");
    let error = agent.error.as_ref().unwrap();
    assert!(error.message.contains("max_iterations (4)"), "{error}");
    assert_eq!(fake.request_count(), 4);
    assert_eq!(hits.load(Ordering::SeqCst), 4);
    assert_eq!(tool_steps(agent).len(), 4);
}

const GATED: &str = r#"
id: gated-agent
nodes:
  - id: assistant
    builtin: agent
    config:
      prompt: "Refund order {{ input.order }}"
      tools:
        - name: refund
          uses: local/capabilities
          kind: kv-counter
          approval: true
          parameters: { type: object, properties: { key: { type: string } }, required: [key] }
          config: { key: "{{ input.key }}" }
"#;

async fn gated_run(fake: &FakeLlm, approved: bool) -> Vec<trellis_engine::store::NodeRecord> {
    fake.push(Reply::openai_tool_calls(&[("call_r", "refund", json!({"key": "refunds"}))]));
    fake.push(Reply::openai_text("Done."));
    let h = agent_harness(fake).await;
    let workflow = crate::common::workflow(GATED);
    let run = h.engine.start(&h.store, &workflow, None, json!({"order": 42})).await.unwrap();
    let (engine, store, run_id) = (h.engine.clone(), h.store.clone(), run.id.clone());
    let driving = tokio::spawn(async move { engine.drive(&store, &run_id).await });
    let waiting = h.wait_for(&run.id, "assistant", NodeStatus::Waiting).await;
    assert_eq!(tool_steps(&waiting)[0].status, ToolStatus::AwaitingApproval);
    // Nothing ran before the decision.
    let kv = h.store.kv("local/capabilities", 1 << 20);
    assert!(KvStore::get(&kv, "refunds").await.unwrap().is_none());
    let decision = json!({"approved": approved, "comment": "checked"});
    h.engine.decide(&h.store, &run.id, "assistant", decision).await.unwrap();
    let finished = driving.await.unwrap().unwrap();
    assert_eq!(finished.status, RunStatus::Succeeded, "{:?}", finished.error);
    let ran = KvStore::get(&kv, "refunds").await.unwrap().is_some();
    assert_eq!(ran, approved, "the gated tool ran only if approved");
    h.engine.details(&h.store, &finished.id).await.unwrap().1
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_needing_approval_waits_and_runs_once_approved() {
    let fake = FakeLlm::start().await;
    let nodes = gated_run(&fake, true).await;
    let steps = tool_steps(node(&nodes, "assistant"));
    assert_eq!((steps[0].status, steps[0].executions), (ToolStatus::Succeeded, 1));
    assert_eq!(steps[0].output, Some(json!({"count": 1})));
    assert_eq!(steps[0].decision.as_ref().unwrap()["comment"], "checked");
    assert_eq!(fake.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_tool_call_never_runs_and_the_model_is_told() {
    let fake = FakeLlm::start().await;
    let nodes = gated_run(&fake, false).await;
    let steps = tool_steps(node(&nodes, "assistant"));
    assert_eq!((steps[0].status, steps[0].executions), (ToolStatus::Rejected, 0));
    let told = fake.requests()[1].messages()[2]["content"].as_str().unwrap().to_owned();
    assert!(told.contains("rejected") && told.contains("checked"), "{told}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limited_model_fails_the_turn_as_retryable_and_the_retry_waits_and_goes_on() {
    let fake = FakeLlm::start().await;
    let (api, hits) = weather_api().await;
    fake.push(weather_call("call_1", json!({"city": "Oslo"})));
    fake.push(Reply::rate_limited(1));
    fake.push(Reply::openai_text("Rain."));
    let h = agent_harness(&fake).await;
    let mut workflow = example("agent-weather.yaml");
    workflow.nodes[1].retry = Some(serde_json::from_value(json!({"max_attempts": 2, "initial_ms": 10})).unwrap());
    let started = std::time::Instant::now();
    let (run, nodes) = h.run(&workflow, json!({"question": "Oslo?", "api": api})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    // The back-off of 10 ms gave way to the provider's `retry-after: 1`.
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    let agent = node(&nodes, "assistant");
    assert_eq!(agent.attempt, 2);
    assert_eq!(agent.history[0].failure.code.as_str(), "retryable");
    // The retry went on from the written steps: the tool ran once.
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert_eq!(fake.request_count(), 3);
    assert_eq!(agent.output()["turns"], 2);
}

/// A model asking for a flood of calls in one turn gets eight run and is
/// told about the rest, which never run.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_tool_calls_in_one_turn_is_bounded() {
    let fake = FakeLlm::start().await;
    let (api, hits) = weather_api().await;
    let ids: Vec<String> = (0..20).map(|i| format!("call_{i}")).collect();
    let calls: Vec<(&str, &str, Value)> =
        ids.iter().map(|id| (id.as_str(), "current_weather", json!({"city": "Oslo"}))).collect();
    fake.push(Reply::openai_tool_calls(&calls));
    fake.push(Reply::openai_text("Rain."));
    let h = agent_harness(&fake).await;
    let (run, nodes) = h.run(&example("agent-weather.yaml"), json!({"question": "Oslo?", "api": api})).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(hits.load(Ordering::SeqCst), 8);
    let steps = tool_steps(node(&nodes, "assistant"));
    assert_eq!(steps.iter().filter(|s| s.status == ToolStatus::Succeeded).count(), 8);
    assert!(steps[8..].iter().all(|s| s.status == ToolStatus::Invalid && s.executions == 0));
    let told = fake.requests()[1].messages()[20]["content"].as_str().unwrap().to_owned();
    assert!(told.contains("at most 8 tool calls run per turn"), "{told}");
}
