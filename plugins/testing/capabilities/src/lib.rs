//! Exercises the host capabilities a well-behaved plugin uses: kv, llm and
//! log (plus stdout). Also counts its own executions in kv, which later
//! engine tests use to prove a finished node is not run again.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, kv, llm, log, plugin};

#[derive(Deserialize, JsonSchema)]
struct CounterConfig {
    key: String,
}

#[derive(Serialize, JsonSchema)]
struct CounterOutput {
    count: u64,
}

/// Increments a counter in kv and emits the new value.
struct KvCounter;

impl Node for KvCounter {
    const KIND: &'static str = "kv-counter";
    const TITLE: &'static str = "KV counter";
    const DESCRIPTION: &'static str = "Increments a counter stored in kv";
    type Config = CounterConfig;
    type Input = Value;
    type Output = CounterOutput;

    fn run(_cx: &Context, config: CounterConfig, _input: Value) -> Result<Emits<CounterOutput>, NodeError> {
        let count = kv::get_json::<u64>(&config.key).map_err(NodeError::Fatal)?.unwrap_or(0) + 1;
        kv::set_json(&config.key, &count).map_err(NodeError::Retryable)?;
        Ok(Emits::out(CounterOutput { count }))
    }
}

#[derive(Deserialize, JsonSchema)]
struct AskConfig {
    question: String,
}

/// Asks the tenant's LLM one question.
struct LlmAsk;

impl Node for LlmAsk {
    const KIND: &'static str = "llm-ask";
    const TITLE: &'static str = "Ask the LLM";
    const DESCRIPTION: &'static str = "Sends one user message and emits the answer";
    type Config = AskConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: AskConfig, _input: Value) -> Result<Emits<Value>, NodeError> {
        let request = llm::request(vec![llm::system("Be brief."), llm::user(config.question)]);
        let response = llm::chat(&request)?;
        Ok(Emits::out(json!({
            "answer": response.content,
            "tokens": response.usage.prompt_tokens + response.usage.completion_tokens,
        })))
    }
}

#[derive(Deserialize, JsonSchema)]
struct LookupArgs {
    key: String,
}

/// One tool round through `llm@0.2.0`: offers a `lookup` tool, answers
/// each call the model makes, and emits the final answer.
struct LlmToolRound;

impl Node for LlmToolRound {
    const KIND: &'static str = "llm-tool-round";
    const TITLE: &'static str = "LLM tool round";
    const DESCRIPTION: &'static str = "Offers a lookup tool, answers its calls, emits the final answer";
    type Config = AskConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: AskConfig, _input: Value) -> Result<Emits<Value>, NodeError> {
        let mut request = llm::request(vec![llm::user(config.question)]);
        request.tools.push(llm::tool::<LookupArgs>("lookup", "Looks a key up"));
        let mut calls = Vec::new();
        for _ in 0..4 {
            let response = llm::chat(&request)?;
            if response.tool_calls.is_empty() {
                return Ok(Emits::out(json!({
                    "answer": response.content,
                    "finish_reason": response.finish_reason,
                    "model": response.model,
                    "calls": calls,
                })));
            }
            request.messages.push(llm::assistant(&response));
            for call in &response.tool_calls {
                let answer = match llm::arguments::<LookupArgs>(call) {
                    Ok(args) => format!("{} is 42", args.key),
                    Err(problem) => problem,
                };
                calls.push(json!({"id": call.id, "arguments": serde_json::from_str::<Value>(&call.arguments).ok()}));
                request.messages.push(llm::tool_result(call, answer));
            }
        }
        Err(NodeError::Fatal("the model kept calling tools".to_owned()))
    }
}

/// Logs at every level and prints to stdout and stderr.
struct LogLines;

impl Node for LogLines {
    const KIND: &'static str = "log-lines";
    const TITLE: &'static str = "Log lines";
    const DESCRIPTION: &'static str = "Writes log lines at each level";
    type Config = Value;
    type Input = Value;
    type Output = Value;

    fn run(cx: &Context, _config: Value, _input: Value) -> Result<Emits<Value>, NodeError> {
        log::debug("debug line");
        log::info(&format!("run {} node {} attempt {}", cx.run_id, cx.node_id, cx.attempt));
        log::warn("warn line");
        log::error("error line");
        // The host links environment, arguments and stdin but gives them
        // nothing: say what this guest sees, so a test can hold it to that.
        let mut stdin = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut stdin);
        println!(
            "printed to stdout ({} environment variables, {} arguments, {} bytes of stdin)",
            std::env::vars().count(),
            std::env::args().count(),
            stdin.len()
        );
        eprintln!("printed to stderr");
        Ok(Emits::none())
    }
}

#[derive(Deserialize, JsonSchema)]
struct SlowConfig {
    /// Milliseconds to sleep before answering.
    ms: u64,
    /// kv key under which each attempt appends `{attempt, idempotency_key}`.
    key: String,
    /// After the sleep, hold until this kv key exists (a test sets it when
    /// it is ready for the node to finish): a wait on an event, not a clock.
    #[serde(default)]
    hold_until: Option<String>,
}

/// Records the attempt, sleeps, then emits the attempts seen so far: a
/// node that is slow enough to be interrupted, and that shows whether it
/// was re-run with the same idempotency key.
struct Slow;

impl Node for Slow {
    const KIND: &'static str = "slow";
    const TITLE: &'static str = "Slow";
    const DESCRIPTION: &'static str = "Records its attempt in kv, then sleeps";
    type Config = SlowConfig;
    type Input = Value;
    type Output = Value;

    fn run(cx: &Context, config: SlowConfig, input: Value) -> Result<Emits<Value>, NodeError> {
        let mut attempts: Vec<Value> = kv::get_json(&config.key).map_err(NodeError::Fatal)?.unwrap_or_default();
        attempts.push(json!({"attempt": cx.attempt, "idempotency_key": cx.idempotency_key}));
        kv::set_json(&config.key, &attempts).map_err(NodeError::Retryable)?;
        std::thread::sleep(std::time::Duration::from_millis(config.ms));
        if let Some(release) = &config.hold_until {
            while kv::get(release).map_err(NodeError::Fatal)?.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
        Ok(Emits::out(json!({"attempts": attempts, "input": input})))
    }
}

#[derive(Deserialize, JsonSchema)]
struct FlakyConfig {
    /// Attempts that fail (retryable) before one succeeds.
    failures: u32,
}

/// Fails with a retryable error on its first `failures` attempts.
struct Flaky;

impl Node for Flaky {
    const KIND: &'static str = "flaky";
    const TITLE: &'static str = "Flaky";
    const DESCRIPTION: &'static str = "Fails retryably a set number of times";
    type Config = FlakyConfig;
    type Input = Value;
    type Output = Value;

    fn run(cx: &Context, config: FlakyConfig, input: Value) -> Result<Emits<Value>, NodeError> {
        if cx.attempt <= config.failures {
            return Err(NodeError::Retryable(format!("attempt {} failed on purpose", cx.attempt)));
        }
        Ok(Emits::out(json!({"attempt": cx.attempt, "input": input})))
    }
}

plugin!(KvCounter, LlmAsk, LlmToolRound, LogLines, Slow, Flaky);
