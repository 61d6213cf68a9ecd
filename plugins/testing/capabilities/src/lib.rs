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
        let request = llm::request(vec![llm::message("system", "Be brief."), llm::message("user", config.question)]);
        let response = llm::chat(&request).map_err(NodeError::Fatal)?;
        Ok(Emits::out(json!({
            "answer": response.content,
            "tokens": response.prompt_tokens + response.completion_tokens,
        })))
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
        println!("printed to stdout");
        eprintln!("printed to stderr");
        Ok(Emits::none())
    }
}

plugin!(KvCounter, LlmAsk, LogLines);
