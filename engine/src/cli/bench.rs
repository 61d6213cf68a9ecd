//! `trellis bench node`: what our sandbox costs per execution over the raw
//! wasmtime floor, measured interleaved in one run so machine noise hits
//! both sides alike. Also compile time against a cached load.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;
use trellis_host_api::floor::BareRunner;
use trellis_host_api::{Capabilities, Invocation, Limits, LoadedFrom, Runtime, RuntimeConfig};

/// The goal from the issue: full path within 1.5× of the floor.
const GOAL_RATIO: f64 = 1.5;

#[derive(Debug, Args)]
pub struct BenchNodeArgs {
    /// Measured executions per side.
    #[arg(long, default_value_t = 500)]
    iterations: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    goal: GoalCheck,
}

/// What every benchmark does with its goal: says whether it was met, and
/// with `--check` exits non-zero when it was not.
#[derive(Debug, Clone, Copy, Args)]
pub struct GoalCheck {
    /// Exit with status 1 when the goal is missed.
    #[arg(long)]
    check: bool,
}

impl GoalCheck {
    /// Prints the verdict (`goal met` / `goal missed`, on stderr after
    /// JSON so the JSON stays one document) and picks the exit status.
    pub(super) fn verdict(self, met: bool, json: bool) -> ExitCode {
        let line = if met { "verdict: goal met" } else { "verdict: goal missed" };
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        if met || !self.check { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }
}

/// Resident memory of this process, in bytes.
pub(super) fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()).unwrap_or(0) * 4096
}

/// The `p` quantile (0..=1) of sorted samples.
pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub async fn node(args: BenchNodeArgs) -> anyhow::Result<ExitCode> {
    if args.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; run `cargo run --release -p trellis-engine -- bench node` for real figures"
        );
    }
    let plugin = trellis_engine::first_party::find("trellis/transform").context("trellis/transform is not embedded")?;
    let invocation =
        Invocation::standalone("reshape", json!({"template": {"id": "{{ input.id }}", "ok": true}}), json!({"id": 7}));

    // Compile cold, then load what the first runtime cached, as a restart would.
    let cache_dir = std::env::temp_dir().join(format!("trellis-bench-{}", std::process::id()));
    let config = RuntimeConfig { cache_dir: Some(cache_dir.clone()), ..RuntimeConfig::default() };
    let cold = Runtime::new(config.clone())?;
    let compiled = cold.load(plugin.component)?;
    drop(cold);
    let runtime = Runtime::new(config)?;
    let loaded = runtime.load(plugin.component)?;
    let _ = std::fs::remove_dir_all(&cache_dir);
    if compiled.loaded_from() != LoadedFrom::Compiled || loaded.loaded_from() != LoadedFrom::Cache {
        bail!("cache did not behave: first load {:?}, second {:?}", compiled.loaded_from(), loaded.loaded_from());
    }

    let floor = BareRunner::new(plugin.component).map_err(anyhow::Error::msg)?;
    let limits = Limits::default();
    let full = || runtime.execute(&loaded, &invocation, &limits, Capabilities::default());

    for _ in 0..20 {
        let execution = full().await;
        if !execution.succeeded() {
            bail!("benchmark node failed: {:?}", execution.report.failure);
        }
        if !floor.run(&invocation).await.map_err(anyhow::Error::msg)? {
            bail!("benchmark node failed on the floor runner");
        }
    }

    let mut ours = Vec::with_capacity(args.iterations);
    let mut raw = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        let started = Instant::now();
        let execution = full().await;
        ours.push(started.elapsed());
        std::hint::black_box(&execution);

        let started = Instant::now();
        let answered = floor.run(&invocation).await.map_err(anyhow::Error::msg)?;
        raw.push(started.elapsed());
        std::hint::black_box(answered);
    }
    ours.sort();
    raw.sort();
    let (ours_median, raw_median) = (percentile(&ours, 0.5), percentile(&raw, 0.5));
    let ratio = ours_median.as_secs_f64() / raw_median.as_secs_f64();
    let compile = compiled.load_time();
    let cached = loaded.load_time();

    if args.json {
        let figures = json!({
            "node": "trellis/transform reshape",
            "iterations": args.iterations,
            "full_path_median_us": micros(ours_median),
            "full_path_p90_us": micros(percentile(&ours, 0.9)),
            "floor_median_us": micros(raw_median),
            "floor_p90_us": micros(percentile(&raw, 0.9)),
            "ratio": ratio,
            "goal_ratio": GOAL_RATIO,
            "goal_met": ratio <= GOAL_RATIO,
            "compile_ms": compile.as_secs_f64() * 1e3,
            "cached_load_ms": cached.as_secs_f64() * 1e3,
        });
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "trellis bench node: trellis/transform `reshape`, {} executions per side, interleaved",
            args.iterations
        );
        println!("{:<28}{:>12}{:>12}", "", "median", "p90");
        println!("{:<28}{:>10.1}µs{:>10.1}µs", "full host path", micros(ours_median), micros(percentile(&ours, 0.9)));
        println!("{:<28}{:>10.1}µs{:>10.1}µs", "raw wasmtime floor", micros(raw_median), micros(percentile(&raw, 0.9)));
        println!("{:<28}{:>11.2}×   (goal ≤ {GOAL_RATIO}×)", "ratio (median)", ratio);
        println!("{:<28}{:>10.1}ms", "compile (cold start)", compile.as_secs_f64() * 1e3);
        println!(
            "{:<28}{:>10.1}ms   ({:.0}× faster)",
            "load from cache (restart)",
            cached.as_secs_f64() * 1e3,
            compile.as_secs_f64() / cached.as_secs_f64().max(1e-9)
        );
    }
    Ok(args.goal.verdict(ratio <= GOAL_RATIO, args.json))
}
