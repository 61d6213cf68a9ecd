//! `llm` as plugins see it, through the real sandbox and the real provider
//! adapters, against fake providers on loopback that speak the documented
//! wire formats.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use trellis_fake_llm::{FakeLlm, Reply};
use trellis_host_api::capabilities::HttpPolicy;
use trellis_host_api::capabilities::llm::endpoint::{Endpoint, EndpointPolicy, EndpointProvider, ProviderKind};
use trellis_host_api::capabilities::llm::{LlmErrorKind, LlmProvider};
use trellis_host_api::{Capabilities, FailureCode, Limits};
use trellis_plugin_artifacts::{CAPABILITIES, WIT_0_1_0};

use crate::common::{load, run, runtime};

/// The fake is on loopback, so the operator's policy must allow private
/// addresses for it, as an operator running Ollama next door would.
fn loopback_policy() -> EndpointPolicy {
    EndpointPolicy {
        http: Some(HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["*"]) }),
        timeout: Duration::from_secs(10),
        ..EndpointPolicy::default()
    }
}

fn provider(fake: &FakeLlm, kind: ProviderKind, policy: EndpointPolicy) -> Arc<dyn LlmProvider> {
    let base_url = if kind == ProviderKind::Anthropic { fake.url() } else { fake.openai_base() };
    Arc::new(EndpointProvider {
        name: "test".to_owned(),
        endpoint: Endpoint { kind, base_url, api_key: Some("sk-test-key-123".to_owned()) },
        policy,
        default_model: "fake-model".to_owned(),
    })
}

fn with_llm(llm: Arc<dyn LlmProvider>) -> Capabilities {
    Capabilities { llm, ..Capabilities::default() }
}

/// A component built against the frozen 0.1.0 world still loads and runs,
/// its 0.1.0 `llm` calls included, beside plugins built against 0.2.0.
#[tokio::test(flavor = "multi_thread")]
pub async fn wit_0_1_0() {
    let runtime = runtime();
    let legacy = load(&runtime, WIT_0_1_0);
    assert_eq!(legacy.wit_version(), "0.1.0");
    assert_eq!(load(&runtime, CAPABILITIES).wit_version(), "0.2.0");
    let kinds = runtime.describe(&legacy).await.unwrap();
    assert_eq!(kinds.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["echo", "ask"]);

    let echo = run(&runtime, &legacy, "echo", json!({}), &Limits::default(), Capabilities::default()).await;
    assert!(echo.succeeded(), "{:?}", echo.report.failure);

    let fake = FakeLlm::start().await;
    fake.push(Reply::openai_text("{\"answer\": 42}"));
    let capabilities = with_llm(provider(&fake, ProviderKind::Openai, loopback_policy()));
    let asked = run(&runtime, &legacy, "ask", json!({"question": "meaning?"}), &Limits::default(), capabilities).await;
    assert!(asked.succeeded(), "{:?}", asked.report.failure);
    assert_eq!(asked.emits[0].data, json!({"answer": "{\"answer\": 42}", "tokens": 19}));
    assert_eq!(asked.report.llm_tokens, 19);
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.headers["authorization"], "Bearer sk-test-key-123");
    assert_eq!(sent.body["response_format"], json!({"type": "json_object"}));
    assert_eq!(sent.body["messages"][0], json!({"role": "system", "content": "Answer in JSON."}));
    assert_eq!(sent.body["max_completion_tokens"], 64);
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_tool_calls_round_trip_through_wit_0_2_0() {
    let runtime = runtime();
    let plugin = load(&runtime, CAPABILITIES);
    let fake = FakeLlm::start().await;
    fake.push(Reply::openai_tool_calls(&[("call_1", "lookup", json!({"key": "answer"}))]));
    fake.push(Reply::openai_text("The answer is 42."));
    let capabilities = with_llm(provider(&fake, ProviderKind::Openai, loopback_policy()));
    let done =
        run(&runtime, &plugin, "llm-tool-round", json!({"question": "what?"}), &Limits::default(), capabilities).await;
    assert!(done.succeeded(), "{:?}", done.report.failure);
    let out = &done.emits[0].data;
    assert_eq!(out["answer"], "The answer is 42.");
    assert_eq!(out["finish_reason"], "stop");
    assert_eq!(out["model"], "fake-gpt");
    assert_eq!(out["calls"][0], json!({"id": "call_1", "arguments": {"key": "answer"}}));

    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].body["tools"][0]["function"]["name"], "lookup");
    assert_eq!(requests[0].body["model"], "fake-model");
    let second = requests[1].messages();
    assert_eq!(second[1]["role"], "assistant");
    assert!(second[1]["content"].is_null(), "{:?}", second[1]);
    assert_eq!(second[1]["tool_calls"][0]["function"]["arguments"], "{\"key\":\"answer\"}");
    assert_eq!(second[2], json!({"role": "tool", "content": "answer is 42", "tool_call_id": "call_1"}));

    // Each call is in the record: provider, model, tokens, finish reason.
    let calls = &done.report.llm_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].provider.as_str(), calls[0].model.as_str()), ("test", "fake-gpt"));
    assert_eq!(calls[0].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!((calls[1].prompt_tokens, calls[1].completion_tokens), (12, 7));
    assert_eq!(done.report.llm_tokens, 20 + 9 + 12 + 7);
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_tool_use_round_trips_through_wit_0_2_0() {
    let runtime = runtime();
    let plugin = load(&runtime, CAPABILITIES);
    let fake = FakeLlm::start().await;
    fake.push(Reply::anthropic_tool_use(&[("toolu_1", "lookup", json!({"key": "answer"}))]));
    fake.push(Reply::anthropic_text("It is 42."));
    let capabilities = with_llm(provider(&fake, ProviderKind::Anthropic, loopback_policy()));
    let done =
        run(&runtime, &plugin, "llm-tool-round", json!({"question": "what?"}), &Limits::default(), capabilities).await;
    assert!(done.succeeded(), "{:?}", done.report.failure);
    assert_eq!(done.emits[0].data["answer"], "It is 42.");
    assert_eq!(done.emits[0].data["calls"][0]["arguments"], json!({"key": "answer"}));

    let requests = fake.requests();
    let first = &requests[0];
    assert_eq!(first.path, "/v1/messages");
    assert_eq!(first.headers["x-api-key"], "sk-test-key-123");
    assert_eq!(first.headers["anthropic-version"], "2023-06-01");
    assert!(!first.headers.contains_key("authorization"));
    assert_eq!(first.body["tools"][0]["name"], "lookup");
    assert!(first.body["tools"][0]["input_schema"].is_object());
    let second = requests[1].messages();
    assert_eq!(second[1]["content"][0]["type"], "tool_use");
    assert_eq!(second[2]["role"], "user");
    assert_eq!(
        second[2]["content"][0],
        json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "answer is 42"})
    );
    assert_eq!(done.report.llm_calls[0].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(done.report.llm_tokens, 25 + 11 + 14 + 6);
}

/// What a failed call turns into inside the plugin and in the record.
async fn failed_ask(reply: Reply, kind: ProviderKind, policy: EndpointPolicy) -> trellis_host_api::Execution {
    let runtime = runtime();
    let plugin = load(&runtime, CAPABILITIES);
    let fake = FakeLlm::start().await;
    fake.push(reply);
    let capabilities = with_llm(provider(&fake, kind, policy));
    run(&runtime, &plugin, "llm-ask", json!({"question": "q"}), &Limits::default(), capabilities).await
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_retryable_and_keep_their_retry_after() {
    for kind in [ProviderKind::Openai, ProviderKind::Anthropic] {
        let failed = failed_ask(Reply::rate_limited(7), kind, loopback_policy()).await;
        let failure = failed.failure().expect("a failure");
        assert_eq!(failure.code, FailureCode::Retryable, "{failure}");
        assert!(failure.message.contains("HTTP 429: Rate limit reached"), "{failure}");
        let error = failed.report.llm_calls[0].error.as_ref().unwrap();
        assert_eq!(error.kind, LlmErrorKind::Retryable);
        assert_eq!(error.retry_after, Some(Duration::from_secs(7)));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_errors_and_malformed_answers_are_not_retried() {
    let bad =
        failed_ask(Reply::error(400, "model `nope` does not exist"), ProviderKind::Openai, loopback_policy()).await;
    let failure = bad.failure().unwrap();
    assert_eq!(failure.code, FailureCode::Fatal, "{failure}");
    assert!(failure.message.contains("HTTP 400: model `nope` does not exist"), "{failure}");

    let garbled = failed_ask(Reply::malformed(), ProviderKind::Openai, loopback_policy()).await;
    let failure = garbled.failure().unwrap();
    assert_eq!(failure.code, FailureCode::Fatal, "{failure}");
    assert!(failure.message.contains("not the chat format"), "{failure}");

    let key_echo = failed_ask(
        Reply::error(401, "Incorrect API key provided: sk-test-key-123"),
        ProviderKind::Anthropic,
        loopback_policy(),
    )
    .await;
    let failure = key_echo.failure().unwrap();
    assert!(!failure.message.contains("sk-test-key-123") && failure.message.contains("[redacted]"), "{failure}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_that_never_ends_times_out_as_retryable() {
    let policy = EndpointPolicy { timeout: Duration::from_millis(300), ..loopback_policy() };
    let hung = failed_ask(Reply::Hang, ProviderKind::Openai, policy).await;
    let failure = hung.failure().unwrap();
    assert_eq!(failure.code, FailureCode::Retryable, "{failure}");
    assert!(failure.message.contains("did not answer within"), "{failure}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loopback_provider_is_refused_unless_the_operator_allows_private_networks() {
    let strict = EndpointPolicy { http: Some(HttpPolicy::allowing(["*"])), ..EndpointPolicy::default() };
    let refused = failed_ask(Reply::openai_text("never sent"), ProviderKind::Openai, strict).await;
    let failure = refused.failure().unwrap();
    assert_eq!(failure.code, FailureCode::Fatal);
    assert!(failure.message.contains("denied") && failure.message.contains("127.0.0.1"), "{failure}");
    assert_eq!(refused.report.llm_calls.len(), 1);
    let value: Value = serde_json::to_value(&refused.report.llm_calls[0]).unwrap();
    assert_eq!(value["error"]["kind"], "permanent");
}

/// Azure OpenAI: the deployment's URL, `api-key` and `api-version`.
#[tokio::test(flavor = "multi_thread")]
async fn azure_openai_sends_its_key_header_and_api_version() {
    let runtime = runtime();
    let plugin = load(&runtime, CAPABILITIES);
    let fake = FakeLlm::start().await;
    fake.push(Reply::openai_text("42"));
    let deployment = format!("{}/openai/deployments/gpt4o", fake.url());
    let provider: Arc<dyn LlmProvider> = Arc::new(EndpointProvider {
        name: "azure".to_owned(),
        endpoint: Endpoint { kind: ProviderKind::AzureOpenai, base_url: deployment, api_key: Some("azure-key".into()) },
        policy: loopback_policy(),
        default_model: "gpt-4o".to_owned(),
    });
    let done =
        run(&runtime, &plugin, "llm-ask", json!({"question": "q"}), &Limits::default(), with_llm(provider)).await;
    assert!(done.succeeded(), "{:?}", done.report.failure);
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/openai/deployments/gpt4o/chat/completions");
    assert_eq!(sent.headers["api-key"], "azure-key");
    assert!(!sent.headers.contains_key("authorization"));
}

/// `trellis/ai` describes config schemas an editor can build forms from:
/// every field has a description, and the main ones a title and examples.
#[tokio::test(flavor = "multi_thread")]
async fn ai_kinds_describe_their_config_for_editors() {
    let runtime = runtime();
    let plugin = load(&runtime, trellis_plugin_artifacts::AI);
    let kinds = runtime.describe(&plugin).await.unwrap();
    let names: Vec<&str> = kinds.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["chat", "extract", "classify", "summarize"]);
    for kind in &kinds {
        let properties = kind.config_schema["properties"].as_object().expect("config properties");
        for (field, schema) in properties {
            assert!(schema["description"].is_string(), "{}.{field} has no description: {schema}", kind.name);
        }
        let titled = properties.values().filter(|s| s["title"].is_string()).count();
        let examples = properties.values().filter(|s| s["examples"].is_array()).count();
        assert!(titled >= 1 && examples >= 2, "{}: {titled} titled, {examples} with examples", kind.name);
    }
    let classify = kinds.iter().find(|k| k.name == "classify").unwrap();
    assert_eq!(classify.ports, ["{config.labels}"]);
    let extract = kinds.iter().find(|k| k.name == "extract").unwrap();
    assert_eq!(extract.config_schema["required"], json!(["schema"]));
}
