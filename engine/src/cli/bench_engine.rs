//! `trellis bench engine`: durable runs on SQLite of a 40-node chain and a
//! 1→20→1 fan-out of a trivial first-party node, against the bare
//! instantiate+call floor measured in the same run.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use trellis_engine::catalog::Catalog;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::store::{RunStatus, TenantId, TenantStore};
use trellis_engine::workflow::Workflow;
use trellis_host_api::floor::BareRunner;
use trellis_host_api::{Invocation, Runtime, RuntimeConfig};

/// The goal for the 40-node chain.
const GOAL_CHAIN_MS: f64 = 10.0;
const CHAIN_LENGTH: usize = 40;
const FAN_OUT: usize = 20;

#[derive(Debug, Args)]
pub struct BenchEngineArgs {
    /// Measured runs per shape.
    #[arg(long, default_value_t = 30)]
    runs: usize,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    goal: super::bench::GoalCheck,
}

fn trivial_node(id: String) -> Value {
    json!({"id": id, "uses": "trellis/transform@^0.1", "kind": "reshape", "config": {"template": {"ok": true}}})
}

fn chain() -> anyhow::Result<Workflow> {
    let nodes: Vec<Value> = (0..CHAIN_LENGTH).map(|i| trivial_node(format!("n{i}"))).collect();
    let edges: Vec<Value> =
        (1..CHAIN_LENGTH).map(|i| json!({"from": format!("n{}", i - 1), "to": format!("n{i}")})).collect();
    Ok(Workflow::from_value(json!({"id": "bench-chain", "nodes": nodes, "edges": edges}))?)
}

fn fan_out() -> anyhow::Result<Workflow> {
    let mut nodes = vec![trivial_node("source".into()), trivial_node("sink".into())];
    let mut edges = Vec::new();
    for i in 0..FAN_OUT {
        nodes.push(trivial_node(format!("branch{i}")));
        edges.push(json!({"from": "source", "to": format!("branch{i}")}));
        edges.push(json!({"from": format!("branch{i}"), "to": "sink"}));
    }
    Ok(Workflow::from_value(json!({"id": "bench-fan-out", "nodes": nodes, "edges": edges}))?)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    super::bench::percentile(&samples, 0.5)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The floor a run is compared with: the same node, bare InstancePre +
/// call, in this process.
struct Floor<'a> {
    runner: &'a BareRunner,
    invocation: &'a Invocation,
}

/// Medians of a whole run of the saved workflow (how triggers and the API
/// start runs: the document was validated when saved), and of a run of the
/// unsaved document (validated first, as `trellis run FILE` does). With a
/// floor, one bare execution per node is timed after each run, so drift of
/// the machine's speed lands on both sides alike; their median comes third.
async fn time_runs(
    engine: &Engine,
    store: &TenantStore,
    workflow: &Workflow,
    runs: usize,
    floor: Option<Floor<'_>>,
) -> anyhow::Result<(Duration, Duration, Option<Duration>)> {
    engine.save(store, workflow).await?;
    for _ in 0..3 {
        engine.run_saved(store, &workflow.id, None, Value::Null).await?;
    }
    let mut saved = Vec::with_capacity(runs);
    let mut unsaved = Vec::with_capacity(runs);
    let mut bare = Vec::new();
    if let Some(floor) = &floor {
        for _ in 0..20 {
            floor.runner.run(floor.invocation).await.map_err(anyhow::Error::msg)?;
        }
    }
    for _ in 0..runs {
        let started = Instant::now();
        let run = engine.run_saved(store, &workflow.id, None, Value::Null).await?;
        saved.push(started.elapsed());
        if run.status != RunStatus::Succeeded {
            bail!("benchmark run failed: {:?}", run.error);
        }
        if let Some(floor) = &floor {
            for _ in 0..workflow.nodes.len() {
                let started = Instant::now();
                floor.runner.run(floor.invocation).await.map_err(anyhow::Error::msg)?;
                bare.push(started.elapsed());
            }
        }
        let started = Instant::now();
        let run = engine.run(store, workflow, Value::Null).await?;
        unsaved.push(started.elapsed());
        if run.status != RunStatus::Succeeded {
            bail!("benchmark run failed: {:?}", run.error);
        }
    }
    let bare = (!bare.is_empty()).then(|| median(bare));
    Ok((median(saved), median(unsaved), bare))
}

pub async fn engine(args: BenchEngineArgs) -> anyhow::Result<ExitCode> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run `cargo run --release -p trellis-engine -- bench engine` for real figures");
    }
    let data_dir = std::env::temp_dir().join(format!("trellis-bench-engine-{}", std::process::id()));
    let store = trellis_engine::store::open_sqlite(&data_dir).await?;
    let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(data_dir.join("cache")), ..RuntimeConfig::default() })?;
    let catalog = Catalog::local(&runtime, None).await?;
    let engine = Engine::new(runtime, catalog, store.clone(), EngineConfig::default());
    let tenant = store.tenant(TenantId::new("bench"));

    let component = trellis_engine::first_party::find("trellis/transform").context("transform missing")?.component;
    let runner = BareRunner::new(component).map_err(anyhow::Error::msg)?;
    let invocation = Invocation::standalone("reshape", json!({"template": {"ok": true}}), Value::Null);
    let floor = Floor { runner: &runner, invocation: &invocation };
    let (chain_median, chain_validated, floor_node) =
        time_runs(&engine, &tenant, &chain()?, args.runs, Some(floor)).await?;
    let floor_node = floor_node.context("no floor measured")?;
    let (fan_median, fan_validated, _) = time_runs(&engine, &tenant, &fan_out()?, args.runs, None).await?;

    // The durable-write floor: one node record upserted, as each chain step does.
    let record = trellis_engine::store::NodeRecord::pending("bench-write", "n0");
    let mut writes = Vec::new();
    for i in 0..(args.runs * CHAIN_LENGTH).max(200) {
        let started = Instant::now();
        tenant.put_nodes("bench-write", &[&record]).await?;
        if i >= 20 {
            writes.push(started.elapsed());
        }
    }
    let write_floor = median(writes);
    let _ = std::fs::remove_dir_all(&data_dir);

    let chain_floor = floor_node * CHAIN_LENGTH as u32;
    let overhead_us = (chain_median.as_secs_f64() - chain_floor.as_secs_f64()) * 1e6 / CHAIN_LENGTH as f64;
    if args.json {
        let figures = json!({
            "runs": args.runs,
            "chain_40_median_ms": ms(chain_median),
            "chain_40_with_validation_ms": ms(chain_validated),
            "fan_out_1_20_1_median_ms": ms(fan_median),
            "fan_out_1_20_1_with_validation_ms": ms(fan_validated),
            "floor_per_node_us": floor_node.as_secs_f64() * 1e6,
            "floor_chain_ms": ms(chain_floor),
            "engine_overhead_per_node_us": overhead_us,
            "store_write_per_node_us": write_floor.as_secs_f64() * 1e6,
            "goal_chain_ms": GOAL_CHAIN_MS,
            "goal_met": ms(chain_median) <= GOAL_CHAIN_MS,
        });
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        println!(
            "trellis bench engine: whole durable runs on SQLite (WAL: record, every node, finish), median of {} each; the floor timed between the chain's runs",
            args.runs
        );
        println!(
            "{:<44}{:>10.2} ms   (goal ≤ {GOAL_CHAIN_MS} ms)",
            "40-node chain, saved workflow: run",
            ms(chain_median)
        );
        println!("{:<44}{:>10.2} ms", "40-node chain, document validated first", ms(chain_validated));
        println!("{:<44}{:>10.2} ms", "1→20→1 fan-out/fan-in, saved: run", ms(fan_median));
        println!("{:<44}{:>10.2} ms", "1→20→1, document validated first", ms(fan_validated));
        println!("{:<44}{:>10.1} µs", "floor: bare instantiate+call per node", floor_node.as_secs_f64() * 1e6);
        println!("{:<44}{:>10.2} ms", "floor × 40", ms(chain_floor));
        println!("{:<44}{:>10.1} µs", "engine overhead per node (chain)", overhead_us);
        println!("{:<44}{:>10.1} µs", "  of which: one durable SQLite write", write_floor.as_secs_f64() * 1e6);
    }
    Ok(args.goal.verdict(ms(chain_median) <= GOAL_CHAIN_MS, args.json))
}
