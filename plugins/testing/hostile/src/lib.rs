//! Guests that attack the host, one node kind per attack. Each has a test in
//! host-api/tests/hostile.rs showing the host survives and reports the right
//! failure.

use std::hint::black_box;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use trellis_plugin_sdk::{Context, Emits, Node, NodeError, http, log, plugin, secrets};

#[derive(Deserialize, JsonSchema)]
struct NoConfig {}

/// Burns CPU forever: stopped by fuel or by the wall-time limit.
struct Spin;

impl Node for Spin {
    const KIND: &'static str = "spin";
    const TITLE: &'static str = "Spin";
    const DESCRIPTION: &'static str = "Loops forever";
    type Config = Value;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, _config: Value, _input: Value) -> Result<Emits<Value>, NodeError> {
        let mut x: u64 = 0;
        loop {
            x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

/// Allocates and keeps 1 MiB blocks until something stops it.
struct GrowMemory;

impl Node for GrowMemory {
    const KIND: &'static str = "grow-memory";
    const TITLE: &'static str = "Grow memory";
    const DESCRIPTION: &'static str = "Allocates without bound";
    type Config = Value;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, _config: Value, _input: Value) -> Result<Emits<Value>, NodeError> {
        let mut kept: Vec<Vec<u8>> = Vec::new();
        loop {
            let block = vec![1u8; 1 << 20];
            kept.push(black_box(block));
        }
    }
}

#[inline(never)]
fn descend(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    black_box(descend(black_box(depth + 1))).wrapping_add(depth)
}

/// Recurses without a base case: exhausts the wasm call stack.
struct Recurse;

impl Node for Recurse {
    const KIND: &'static str = "recurse";
    const TITLE: &'static str = "Recurse";
    const DESCRIPTION: &'static str = "Recurses without bound";
    type Config = Value;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, _config: Value, _input: Value) -> Result<Emits<Value>, NodeError> {
        Ok(Emits::out(json!(descend(0))))
    }
}

#[derive(Deserialize, JsonSchema)]
struct FetchConfig {
    url: String,
}

/// Fetches a URL; the tests point it at addresses the policy must refuse.
/// A refusal is returned as a fatal node error carrying the host's reason.
struct Fetch;

impl Node for Fetch {
    const KIND: &'static str = "fetch";
    const TITLE: &'static str = "Fetch";
    const DESCRIPTION: &'static str = "GETs a URL";
    type Config = FetchConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: FetchConfig, _input: Value) -> Result<Emits<Value>, NodeError> {
        let response = http::get(&config.url).map_err(|e| NodeError::Fatal(e.to_string()))?;
        Ok(Emits::out(json!({ "status": response.status, "body": response.text() })))
    }
}

#[derive(Deserialize, JsonSchema)]
struct SecretConfig {
    name: String,
}

/// Reads a secret by name, whether or not it was granted.
struct ReadSecret;

impl Node for ReadSecret {
    const KIND: &'static str = "read-secret";
    const TITLE: &'static str = "Read secret";
    const DESCRIPTION: &'static str = "Returns a secret's value";
    type Config = SecretConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: SecretConfig, _input: Value) -> Result<Emits<Value>, NodeError> {
        let value = secrets::get(&config.name).map_err(NodeError::Fatal)?;
        // The value itself is redacted from the record; its length shows
        // which tenant's value was read.
        Ok(Emits::out(json!({ "value": value, "length": value.len() })))
    }
}

#[derive(Deserialize, JsonSchema)]
struct HugeConfig {
    mebibytes: usize,
}

/// Emits a string of the configured size.
struct HugeOutput;

impl Node for HugeOutput {
    const KIND: &'static str = "huge-output";
    const TITLE: &'static str = "Huge output";
    const DESCRIPTION: &'static str = "Emits megabytes";
    type Config = HugeConfig;
    type Input = Value;
    type Output = String;

    fn run(_cx: &Context, config: HugeConfig, _input: Value) -> Result<Emits<String>, NodeError> {
        Ok(Emits::out("x".repeat(config.mebibytes << 20)))
    }
}

/// Panics: a trap, not a node error.
struct Panic;

impl Node for Panic {
    const KIND: &'static str = "panic";
    const TITLE: &'static str = "Panic";
    const DESCRIPTION: &'static str = "Panics";
    type Config = NoConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, _config: NoConfig, _input: Value) -> Result<Emits<Value>, NodeError> {
        panic!("hostile guest panicked on purpose");
    }
}

#[derive(Deserialize, JsonSchema)]
struct FloodConfig {
    lines: u64,
}

/// Logs the configured number of empty lines: capped by count, not bytes.
struct LogFlood;

impl Node for LogFlood {
    const KIND: &'static str = "log-flood";
    const TITLE: &'static str = "Log flood";
    const DESCRIPTION: &'static str = "Logs empty lines";
    type Config = FloodConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: FloodConfig, _input: Value) -> Result<Emits<Value>, NodeError> {
        for _ in 0..config.lines {
            log::info("");
        }
        Ok(Emits::out(json!({"logged": config.lines})))
    }
}

#[derive(Deserialize, JsonSchema)]
struct LeakConfig {
    name: String,
    /// Requested with the secret in its path.
    url: String,
    /// Fail with the secret in the error instead of emitting it.
    #[serde(default)]
    fail: bool,
}

/// Puts a secret's value everywhere a record keeps: a log line, a request
/// URL, its output (a value and a key), or its error.
struct LeakSecret;

impl Node for LeakSecret {
    const KIND: &'static str = "leak-secret";
    const TITLE: &'static str = "Leak secret";
    const DESCRIPTION: &'static str = "Writes a secret into logs, a URL and its output";
    type Config = LeakConfig;
    type Input = Value;
    type Output = Value;

    fn run(_cx: &Context, config: LeakConfig, _input: Value) -> Result<Emits<Value>, NodeError> {
        // Asked for twice: the host keeps one copy.
        secrets::get(&config.name).map_err(NodeError::Fatal)?;
        let value = secrets::get(&config.name).map_err(NodeError::Fatal)?;
        log::info(&format!("the secret is {value}"));
        let _ = http::get(&format!("{}/{value}?key={value}", config.url));
        if config.fail {
            return Err(NodeError::Fatal(format!("failed holding {value}")));
        }
        Ok(Emits::out(json!({"value": value, "nested": [format!("x{value}x")], value.clone(): true})))
    }
}

plugin!(Spin, GrowMemory, Recurse, Fetch, ReadSecret, HugeOutput, Panic, LogFlood, LeakSecret);
