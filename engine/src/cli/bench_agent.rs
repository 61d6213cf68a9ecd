//! `trellis bench agent`: what the agent loop costs besides the model. A
//! durable run of one `agent` node that makes one tool call (model turn,
//! the tool as a sandboxed execution, model turn) against a provider on
//! loopback that answers at once, minus two model exchanges timed alone,
//! is compared with a durable run of one plain node of the same tool kind,
//! interleaved in one process.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Json;
use axum::routing::post;
use clap::Args;
use serde_json::{Value, json};
use trellis_engine::catalog::Catalog;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::llm::{LlmGateway, ProviderSetting, SharedProvider};
use trellis_engine::store::{RunStatus, TenantId};
use trellis_engine::workflow::Workflow;
use trellis_host_api::capabilities::llm::endpoint::{Endpoint, EndpointPolicy, ProviderKind};
use trellis_host_api::capabilities::llm::{ChatMessage, ChatRequest, Role};
use trellis_host_api::{Runtime, RuntimeConfig};

/// An agent's engine overhead should stay within this many plain runs.
const GOAL_RATIO: f64 = 3.0;

#[derive(Debug, Args)]
pub struct BenchAgentArgs {
    /// Measured runs per side.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    goal: super::bench::GoalCheck,
}

/// OpenAI chat completions on loopback, answering at once: a call of the
/// `shape` tool first, a final answer once the conversation holds a tool
/// result.
async fn instant_provider() -> anyhow::Result<String> {
    async fn answer(Json(request): Json<Value>) -> Json<Value> {
        let answered = request["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
        let message = if answered {
            json!({"role": "assistant", "content": "done"})
        } else {
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
                "function": {"name": "shape", "arguments": "{\"id\": 7}"}}]})
        };
        let finish = if answered { "stop" } else { "tool_calls" };
        Json(json!({"id": "b", "object": "chat.completion", "created": 1, "model": "bench",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/v1", listener.local_addr()?);
    let app = axum::Router::new().route("/v1/chat/completions", post(answer));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(base)
}

fn workflows() -> anyhow::Result<(Workflow, Workflow)> {
    let config = json!({"template": {"id": "{{ input.id }}", "ok": true}});
    let agent = Workflow::from_value(json!({"id": "bench-agent", "nodes": [{"id": "agent", "builtin": "agent",
        "config": {"prompt": "shape 7", "tools": [{"name": "shape", "uses": "trellis/transform@^0.1",
            "kind": "reshape", "parameters": {"type": "object"}, "config": config}]}}]}))?;
    let plain = Workflow::from_value(json!({"id": "bench-plain", "nodes": [{"id": "shape",
        "uses": "trellis/transform@^0.1", "kind": "reshape", "config": config}]}))?;
    Ok((agent, plain))
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    super::bench::percentile(&samples, 0.5)
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub async fn agent(args: BenchAgentArgs) -> anyhow::Result<ExitCode> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run `cargo run --release -p trellis-engine -- bench agent` for real figures");
    }
    let base_url = instant_provider().await?;
    let setting = ProviderSetting {
        kind: ProviderKind::Openai,
        base_url: Some(base_url.clone()),
        default_model: "bench".to_owned(),
        allowed_models: Vec::new(),
        max_tokens: 64,
        default: true,
    };
    let shared = SharedProvider { name: "bench".to_owned(), setting, api_key: None };
    let config = EngineConfig::default();
    let llm = LlmGateway::new(vec![shared], config.http.clone(), Duration::from_secs(10), None);
    let data_dir = std::env::temp_dir().join(format!("trellis-bench-agent-{}", std::process::id()));
    let store = trellis_engine::store::open_sqlite(&data_dir).await?;
    let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(data_dir.join("cache")), ..RuntimeConfig::default() })?;
    let catalog = Catalog::local(&runtime, None).await?;
    let engine = Engine::new(runtime, catalog, store.clone(), EngineConfig { llm: Arc::new(llm), ..config });
    let tenant = store.tenant(TenantId::new("bench"));
    let (agent, plain) = workflows()?;
    engine.save(&tenant, &agent).await?;
    engine.save(&tenant, &plain).await?;

    // One model exchange alone: the same request shape, the same client path.
    let endpoint = Endpoint { kind: ProviderKind::Openai, base_url, api_key: None };
    let policy = EndpointPolicy { http: None, ..EndpointPolicy::default() };
    let request = ChatRequest::new(vec![ChatMessage::new(Role::User, "shape 7")]);

    let run = |id: &'static str| {
        let (engine, tenant) = (engine.clone(), tenant.clone());
        async move {
            let started = Instant::now();
            let run = engine.run_saved(&tenant, id, None, Value::Null).await?;
            if run.status != RunStatus::Succeeded {
                bail!("benchmark run of {id} failed: {:?}", run.error);
            }
            anyhow::Ok(started.elapsed())
        }
    };
    for _ in 0..5 {
        run("bench-agent").await?;
        run("bench-plain").await?;
    }
    let (mut agent_runs, mut plain_runs, mut exchanges) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..args.runs {
        agent_runs.push(run("bench-agent").await?);
        plain_runs.push(run("bench-plain").await?);
        for _ in 0..2 {
            let started = Instant::now();
            endpoint.chat(&policy, "bench", &request).await.context("a lone model exchange")?;
            exchanges.push(started.elapsed());
        }
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    let (agent_run, plain_run, exchange) = (median(agent_runs), median(plain_runs), median(exchanges));
    let overhead = agent_run.saturating_sub(exchange * 2);
    let ratio = overhead.as_secs_f64() / plain_run.as_secs_f64();
    if args.json {
        let figures = json!({
            "runs": args.runs,
            "agent_run_us": us(agent_run),
            "model_exchange_us": us(exchange),
            "agent_without_model_us": us(overhead),
            "plain_node_run_us": us(plain_run),
            "ratio": ratio,
            "goal_ratio": GOAL_RATIO,
            "goal_met": ratio <= GOAL_RATIO,
        });
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "trellis bench agent: durable runs on SQLite, medians of {} each, interleaved; the provider on loopback answers at once",
            args.runs
        );
        println!("{:<52}{:>10.0} µs", "agent node, one tool call (2 model turns): run", us(agent_run));
        println!("{:<52}{:>10.0} µs", "one model exchange alone", us(exchange));
        println!("{:<52}{:>10.0} µs", "agent run without its 2 model exchanges", us(overhead));
        println!("{:<52}{:>10.0} µs", "plain node of the same tool kind: run", us(plain_run));
        println!("{:<52}{:>10.2}×   (goal ≤ {GOAL_RATIO}×)", "agent without model / plain node", ratio);
    }
    Ok(args.goal.verdict(ratio <= GOAL_RATIO, args.json))
}
