//! LLM providers through the API and `trellis/ai` nodes through the
//! gateway, against fake providers on loopback: keys sealed and never
//! returned, the model picking the provider, tokens as a hard daily quota
//! metered per model, and a provider URL that is no way past the
//! operator's HTTP policy.

use std::sync::Arc;
use std::time::Duration;

use trellis_engine::executor::EngineConfig;
use trellis_engine::llm::LlmGateway;
use trellis_engine::quota::Plan;
use trellis_fake_llm::{FakeLlm, Reply};
use trellis_host_api::capabilities::HttpPolicy;

use crate::common::*;

/// A server whose operator lets plugins and providers reach loopback, where
/// the fakes listen (as an operator running Ollama next door would).
async fn loopback_server() -> Server {
    let http = HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["*"]) };
    let llm = LlmGateway::new(Vec::new(), http.clone(), Duration::from_secs(10), None);
    server_with(EngineConfig { http, llm: Arc::new(llm), ..EngineConfig::default() }).await
}

const KEY: &str = "sk-tenant-secret-0123456789";

async fn put_provider(s: &Server, token: &str, name: &str, body: Value) -> (StatusCode, Value) {
    s.call(Method::PUT, &format!("/v1/llm/providers/{name}"), Some(token), Some(body)).await
}

fn openai(fake: &FakeLlm) -> Value {
    json!({"kind": "openai", "base_url": fake.openai_base(), "default_model": "gpt-4o-mini",
           "allowed_models": ["gpt-4o"], "api_key": KEY, "default": true})
}

fn chat_workflow(model: Option<&str>) -> Value {
    let mut config = json!({"system": "Be brief.", "prompt": "Say hi to {{ input.name }}", "max_tokens": 300});
    if let Some(model) = model {
        config["model"] = json!(model);
    }
    json!({"id": "hello-ai", "nodes": [{"id": "ask", "uses": "trellis/ai", "kind": "chat", "config": config}]})
}

async fn run_chat(s: &Server, key: &str, model: Option<&str>) -> Value {
    let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(chat_workflow(model))).await;
    assert!(status.is_success() || status == StatusCode::CONFLICT, "{saved}");
    if status == StatusCode::CONFLICT {
        s.call(Method::PUT, "/v1/workflows/hello-ai", Some(key), Some(chat_workflow(model))).await;
    }
    let (_, run) = s
        .call(Method::POST, "/v1/workflows/hello-ai/runs?wait=30", Some(key), Some(json!({"input": {"name": "Ada"}})))
        .await;
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn providers_are_admin_written_editor_read_and_never_show_their_key() {
    let s = loopback_server().await;
    let acme = s.tenant("owner@acme.test").await;
    let admin = s.key(&acme.tenant_id, Role::Admin).await;
    let editor = s.key(&acme.tenant_id, Role::Editor).await;
    let viewer = s.key(&acme.tenant_id, Role::Viewer).await;
    let fake = FakeLlm::start().await;

    let (status, _) = put_provider(&s, &editor, "openai", openai(&fake)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = put_provider(&s, &admin, "openai", openai(&fake)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["provider"]["has_api_key"], true);
    assert!(!created.to_string().contains(KEY));

    let (status, listed) = s.call(Method::GET, "/v1/llm/providers", Some(&editor), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["providers"][0]["name"], "openai");
    assert_eq!(listed["providers"][0]["source"], "tenant");
    assert_eq!(listed["providers"][0]["default_model"], "gpt-4o-mini");
    assert!(!listed.to_string().contains(KEY), "{listed}");
    let (status, _) = s.call(Method::GET, "/v1/llm/providers", Some(&viewer), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A change without a key keeps the stored one.
    let mut change = openai(&fake);
    change.as_object_mut().unwrap().remove("api_key");
    change["default_model"] = json!("gpt-4o");
    let (_, changed) = put_provider(&s, &admin, "openai", change).await;
    assert_eq!(changed["provider"]["has_api_key"], true, "{changed}");

    // Bad settings are refused naming the field; nothing is written.
    let (status, bad) =
        put_provider(&s, &admin, "azure", json!({"kind": "azure_openai", "default_model": "gpt"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad["error"]["message"].as_str().unwrap().contains("`base_url`"), "{bad}");
    let (status, typo) = put_provider(&s, &admin, "x", json!({"kind": "openai", "default_modle": "m"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{typo}");
    let (_, listed) = s.call(Method::GET, "/v1/llm/providers", Some(&editor), None).await;
    assert_eq!(listed["providers"].as_array().unwrap().len(), 1);

    // The audit names the change, never the key.
    let (_, audit) = s.call(Method::GET, "/v1/audit", Some(&admin), None).await;
    assert!(audit.to_string().contains("llm_provider.write"), "{audit}");
    assert!(!audit.to_string().contains(KEY));

    let (status, _) = s.call(Method::DELETE, "/v1/llm/providers/openai", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = s.call(Method::DELETE, "/v1/llm/providers/openai", Some(&admin), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn ai_chat_runs_on_the_tenant_provider_with_its_key_and_is_metered_per_model() {
    let s = loopback_server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.clone();

    // Without a provider the node says what to do.
    let run = run_chat(&s, &key, None).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    assert!(run.to_string().contains("no LLM provider is set up"), "{run}");

    let fake = FakeLlm::start().await;
    fake.push(Reply::openai_text("Hi Ada!"));
    put_provider(&s, &key, "openai", openai(&fake)).await;
    let run = run_chat(&s, &key, None).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert_eq!(run["run"]["output"]["text"], "Hi Ada!");
    let sent = &fake.requests()[0];
    assert_eq!(sent.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(sent.body["model"], "gpt-4o-mini");
    assert_eq!(sent.body["messages"][1]["content"], "Say hi to Ada");
    // The node record keeps the call, never the key.
    let call = &run["nodes"][0]["llm_calls"][0];
    assert_eq!((call["provider"].as_str(), call["model"].as_str()), (Some("openai"), Some("fake-gpt")));
    assert_eq!((call["prompt_tokens"].as_u64(), call["completion_tokens"].as_u64()), (Some(12), Some(7)));
    assert_eq!(call["finish_reason"], "stop");
    assert!(!run.to_string().contains(KEY));

    // A model another provider allows goes there; one none allows is named.
    let claude = FakeLlm::start().await;
    let anthropic = json!({"kind": "anthropic", "base_url": claude.url(), "default_model": "claude-sonnet",
                           "api_key": "sk-ant-other"});
    put_provider(&s, &key, "anthropic", anthropic).await;
    let run = run_chat(&s, &key, Some("claude-sonnet")).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert_eq!(claude.requests()[0].headers["x-api-key"], "sk-ant-other");
    let run = run_chat(&s, &key, Some("gpt-9")).await;
    assert!(run.to_string().contains("`gpt-9` is not allowed"), "{run}");

    let (_, usage) = s.call(Method::GET, "/v1/usage", Some(&key), None).await;
    let today = &usage["days"][0];
    assert_eq!(today["usage"]["llm_tokens"], 12 + 7 + 14 + 6, "{usage}");
    let models = today["llm_models"].as_array().unwrap();
    assert_eq!(models.len(), 2, "{usage}");
    assert!(models.iter().any(|m| m["model"] == "gpt-4o-mini" && m["provider"] == "openai" && m["calls"] == 1));
    assert!(models.iter().any(|m| m["model"] == "claude-sonnet" && m["prompt_tokens"] == 14));
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_a_hard_daily_quota_and_other_tenants_keep_their_own() {
    let s = loopback_server().await;
    let acme = s.tenant("owner@acme.test").await;
    let other = s.tenant("owner@other.test").await;
    let fake = FakeLlm::start().await;
    for tenant in [&acme, &other] {
        put_provider(&s, &tenant.api_key, "openai", openai(&fake)).await;
    }
    s.set_plan(&acme.tenant_id, Plan { llm_tokens_per_day: 60, ..Plan::default() }).await;

    // The answer may use only what is left after the prompt.
    let run = run_chat(&s, &acme.api_key, None).await;
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    let cap = fake.requests()[0].body["max_completion_tokens"].as_u64().unwrap();
    assert!(cap < 60 && cap > 0, "max tokens {cap} not capped to the quota");

    // 19 used each time: the fourth call finds nothing left.
    for _ in 0..2 {
        assert_eq!(run_chat(&s, &acme.api_key, None).await["run"]["status"], "succeeded");
    }
    let sent_before = fake.request_count();
    let refused = run_chat(&s, &acme.api_key, None).await;
    assert_eq!(refused["run"]["status"], "failed", "{refused}");
    let error = &refused["nodes"][0]["error"];
    assert_eq!(error["code"], "quota_exceeded", "{refused}");
    assert!(error["message"].as_str().unwrap().contains("llm_tokens_per_day"), "{error}");
    assert_eq!(fake.request_count(), sent_before, "a refused call must not reach the provider");

    // Another tenant is served meanwhile.
    let served = run_chat(&s, &other.api_key, None).await;
    assert_eq!(served["run"]["status"], "succeeded", "{served}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_url_is_no_way_past_the_operators_http_policy() {
    // The default operator policy: no private or loopback addresses.
    let s = server().await;
    let acme = s.tenant("owner@acme.test").await;
    let fake = FakeLlm::start().await;
    let mut setting = openai(&fake);
    setting["base_url"] = json!(fake.openai_base());
    put_provider(&s, &acme.api_key, "local", setting).await;
    let run = run_chat(&s, &acme.api_key, None).await;
    assert_eq!(run["run"]["status"], "failed", "{run}");
    let message = run["nodes"][0]["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("denied") && message.contains("127.0.0.1"), "{message}");
    assert_eq!(fake.request_count(), 0);

    let metadata =
        json!({"kind": "openai", "base_url": "http://169.254.169.254/v1", "default_model": "m", "default": true});
    put_provider(&s, &acme.api_key, "metadata", metadata).await;
    let run = run_chat(&s, &acme.api_key, None).await;
    assert!(run["nodes"][0]["error"]["message"].as_str().unwrap().contains("denied"), "{run}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_llm_grant_a_plugin_reaches_no_model() {
    let s = loopback_server().await;
    let acme = s.tenant("owner@acme.test").await;
    let fake = FakeLlm::start().await;
    put_provider(&s, &acme.api_key, "openai", openai(&fake)).await;
    let grants = json!({"hosts": [], "secrets": [], "kv": false, "llm": false});
    let (status, body) = s.call(Method::PUT, "/v1/plugins/trellis/ai/grants", Some(&acme.api_key), Some(grants)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let run = run_chat(&s, &acme.api_key, None).await;
    assert!(run["nodes"][0]["error"]["message"].as_str().unwrap().contains("llm is not enabled"), "{run}");
    assert_eq!(fake.request_count(), 0);
}

/// An agent's gated tool call is decided through the API, like an approval
/// node; an operator may decide, a viewer may not.
#[tokio::test(flavor = "multi_thread")]
async fn an_agents_gated_tool_is_decided_through_the_approvals_route() {
    let s = loopback_server().await;
    let acme = s.tenant("owner@acme.test").await;
    let key = acme.api_key.as_str();
    let fake = FakeLlm::start().await;
    put_provider(&s, key, "openai", openai(&fake)).await;
    fake.push(Reply::openai_tool_calls(&[("call_1", "bump", json!({"key": "gated"}))]));
    fake.push(Reply::openai_text("Bumped."));
    let agent = json!({"id": "gated", "nodes": [{"id": "assistant", "builtin": "agent", "config": {
        "prompt": "bump it", "tools": [{"name": "bump", "uses": "local/capabilities", "kind": "kv-counter",
        "approval": true, "parameters": {"type": "object", "required": ["key"]}, "config": {"key": "{{ input.key }}"}}]}}]});
    let (status, saved) = s.call(Method::POST, "/v1/workflows", Some(key), Some(agent)).await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    let (_, started) = s.call(Method::POST, "/v1/workflows/gated/runs", Some(key), Some(json!({}))).await;
    let run_id = started["run"]["id"].as_str().unwrap().to_owned();
    let waiting = s.wait_run(key, &run_id, |r| r["nodes"][0]["status"] == "waiting").await;
    assert_eq!(waiting["nodes"][0]["agent"]["steps"][1]["status"], "awaiting_approval", "{waiting}");

    let path = format!("/v1/runs/{run_id}/approvals/assistant");
    let viewer = s.key(&acme.tenant_id, Role::Viewer).await;
    let (status, _) = s.call(Method::POST, &path, Some(&viewer), Some(json!({"approved": true}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let operator = s.key(&acme.tenant_id, Role::Operator).await;
    let (status, body) = s.call(Method::POST, &path, Some(&operator), Some(json!({"approved": true}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let done = s.wait_run(key, &run_id, |r| r["run"]["status"] == "succeeded").await;
    assert_eq!(done["run"]["output"]["answer"], "Bumped.");
    assert_eq!(done["nodes"][0]["agent"]["steps"][1]["output"], json!({"count": 1}));
    // Decided once: a second decision finds nothing waiting.
    let (status, _) = s.call(Method::POST, &path, Some(&operator), Some(json!({"approved": true}))).await;
    assert_eq!(status, StatusCode::CONFLICT);
}
