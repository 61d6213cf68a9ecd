//! `trellis node run`: one invocation of one kind, for plugin authors.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use trellis_host_api::{Capabilities, Invocation, Limits, Runtime, RuntimeConfig};

use super::CacheArgs;
use super::sandbox_args::SandboxArgs;

/// Largest `--config` / `--input` accepted.
const MAX_JSON_ARG_BYTES: usize = 4 << 20;

#[derive(Debug, Args)]
pub struct NodeRunArgs {
    /// Component file, or a first-party plugin name such as `trellis/http-request`.
    #[arg(long)]
    plugin: String,
    /// Node kind to run (see `trellis plugin inspect`).
    #[arg(long)]
    kind: String,
    /// Node config as JSON.
    #[arg(long, default_value = "{}")]
    config: String,
    /// Node input as JSON.
    #[arg(long, default_value = "null")]
    input: String,
    /// No host is allowed unless `--allow-host` names it.
    #[command(flatten)]
    sandbox: SandboxArgs,
    /// Fuel limit [default: 1000000000].
    #[arg(long)]
    fuel: Option<u64>,
    /// Wall-time limit in milliseconds [default: 30000].
    #[arg(long)]
    timeout_ms: Option<u64>,
    /// Memory limit in MiB [default: 64].
    #[arg(long)]
    memory_mb: Option<u64>,
    #[command(flatten)]
    cache: CacheArgs,
}

fn parse_json(what: &str, text: &str) -> anyhow::Result<Value> {
    if text.len() > MAX_JSON_ARG_BYTES {
        bail!("--{what} is {} bytes, over the {MAX_JSON_ARG_BYTES}-byte limit", text.len());
    }
    serde_json::from_str(text).with_context(|| format!("--{what} is not valid JSON"))
}

pub async fn run(args: NodeRunArgs) -> anyhow::Result<ExitCode> {
    let config = parse_json("config", &args.config)?;
    let input = parse_json("input", &args.input)?;
    let (secrets, granted_secrets) = args.sandbox.secrets()?;

    let defaults = Limits::default();
    let limits = Limits {
        fuel: args.fuel.unwrap_or(defaults.fuel),
        timeout: args.timeout_ms.map(Duration::from_millis).unwrap_or(defaults.timeout),
        memory_bytes: args.memory_mb.map(|mb| mb.saturating_mul(1 << 20)).unwrap_or(defaults.memory_bytes),
        ..defaults
    };
    let capabilities =
        Capabilities { http: args.sandbox.http_policy(&[]), granted_secrets, secrets, ..Capabilities::default() };

    let bytes = super::plugin_source::read(&args.plugin)?;
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: args.cache.dir(),
        pooling: false,
        memory_ceiling_bytes: limits.memory_bytes.max(RuntimeConfig::default().memory_ceiling_bytes),
        ..RuntimeConfig::default()
    })?;
    let plugin = runtime.load(&bytes).with_context(|| format!("loading {}", args.plugin))?;
    let kinds = runtime.describe(&plugin).await.with_context(|| format!("describing {}", args.plugin))?;
    if !kinds.iter().any(|kind| kind.name == args.kind) {
        let known: Vec<&str> = kinds.iter().map(|kind| kind.name.as_str()).collect();
        bail!("{} has no node kind {:?}; its kinds are {}", args.plugin, args.kind, known.join(", "));
    }
    let invocation = Invocation::standalone(args.kind, config, input);
    let execution = runtime.execute(&plugin, &invocation, &limits, capabilities).await;

    let output = json!({
        "emits": execution.emits,
        "report": execution.report,
        "plugin": {
            "digest": plugin.digest(),
            "wit_version": plugin.wit_version(),
            "loaded_from": plugin.loaded_from(),
            "load_ms": plugin.load_time().as_secs_f64() * 1000.0,
        },
    });
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(if execution.succeeded() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
