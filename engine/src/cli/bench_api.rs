//! `trellis bench api`: runs per second of a durable 10-node workflow of
//! trivial first-party nodes, started over real HTTP on loopback through
//! the webhook and through `POST /v1/workflows/{id}/runs?wait=`, with one
//! client connection and with four. The server is this process's own
//! `app(state)` on SQLite in a temporary directory, as `trellis serve`
//! runs it; the client is reqwest.
//!
//! A webhook answers 202 as soon as the run is recorded, so its figure is
//! runs *finished* per second: from the first request to the moment every
//! run it started has succeeded.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use trellis_engine::auth::create_tenant;
use trellis_engine::executor::EngineConfig;
use trellis_engine::quota::Plan;
use trellis_engine::store::{RunStatus, TenantId};

use super::bench_server::BenchServer;
use trellis_engine::store::StorePlans;
use trellis_host_api::Invocation;
use trellis_host_api::floor::BareRunner;

/// The issue's goal through webhooks.
const GOAL_WEBHOOK_RUNS_PER_SEC: f64 = 1200.0;
const NODES: usize = 10;

#[derive(Debug, Args)]
pub struct BenchApiArgs {
    /// Runs per measurement (each of: webhook and wait, 1 and 4 connections).
    #[arg(long, default_value_t = 1000)]
    runs: usize,
    #[arg(long)]
    json: bool,
    /// Measure only runs started this way (for profiling one path).
    #[arg(long, value_enum)]
    only: Option<StartedThrough>,
    #[command(flatten)]
    goal: super::bench::GoalCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StartedThrough {
    Webhook,
    Wait,
}

fn workflow() -> Value {
    let nodes: Vec<Value> = (0..NODES)
        .map(|i| json!({"id": format!("n{i}"), "uses": "trellis/transform@^0.1", "kind": "reshape", "config": {"template": {"ok": true}}}))
        .collect();
    let edges: Vec<Value> = (1..NODES).map(|i| json!({"from": format!("n{}", i - 1), "to": format!("n{i}")})).collect();
    json!({"id": "bench-api", "triggers": [{"webhook": {}}], "nodes": nodes, "edges": edges})
}

struct Target {
    base: String,
    api_key: String,
    hook: String,
    store: trellis_engine::store::TenantStore,
}

/// One client per connection: reqwest keeps one idle keep-alive connection
/// per client here, and each client sends its requests one after another.
fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder().pool_max_idle_per_host(1).timeout(Duration::from_secs(120)).build()?)
}

/// Sends a JSON request; the status and the JSON answer.
async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let response = request.header("content-type", "application/json").send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// Starts `count` runs over `connections` connections; returns the ids.
async fn start_runs(
    target: &Arc<Target>,
    connections: usize,
    count: usize,
    webhook: bool,
) -> anyhow::Result<Vec<String>> {
    let mut tasks = Vec::new();
    for c in 0..connections {
        let share = count / connections + usize::from(c < count % connections);
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let client = client()?;
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                let request = if webhook {
                    client.post(format!("{}{}", target.base, target.hook)).body(r#"{"n": 1}"#)
                } else {
                    client
                        .post(format!("{}/v1/workflows/bench-api/runs?wait=60", target.base))
                        .bearer_auth(&target.api_key)
                        .body(r#"{"input": {"n": 1}}"#)
                };
                let (status, body) = send(request).await?;
                if !status.is_success() {
                    bail!("{status}: {body}");
                }
                let id = body["run_id"].as_str().or_else(|| body["run"]["id"].as_str()).context("no run id")?;
                if !webhook && body["run"]["status"] != "succeeded" {
                    bail!("run {id} did not succeed: {}", body["run"]);
                }
                ids.push(id.to_owned());
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::with_capacity(count);
    for task in tasks {
        ids.extend(task.await??);
    }
    Ok(ids)
}

/// The floor of one run, measured in this process between the lines: the
/// run's ten nodes as bare instantiate + call, and one durable write of a
/// node record (a run needs at least one commit before its answer).
struct Floor {
    runner: BareRunner,
    invocation: Invocation,
    samples: Vec<Duration>,
}

impl Floor {
    fn new() -> anyhow::Result<Self> {
        let component = trellis_engine::first_party::find("trellis/transform").context("transform missing")?.component;
        let runner = BareRunner::new(component).map_err(anyhow::Error::msg)?;
        let invocation = Invocation::standalone("reshape", json!({"template": {"ok": true}}), Value::Null);
        Ok(Floor { runner, invocation, samples: Vec::new() })
    }

    async fn measure(&mut self, store: &trellis_engine::store::TenantStore, runs: usize) -> anyhow::Result<()> {
        let record = trellis_engine::store::NodeRecord::pending("bench-floor", "n0");
        for _ in 0..runs {
            let started = Instant::now();
            for _ in 0..NODES {
                self.runner.run(&self.invocation).await.map_err(anyhow::Error::msg)?;
            }
            store.put_nodes("bench-floor", &[&record]).await?;
            self.samples.push(started.elapsed());
        }
        Ok(())
    }

    fn median(&mut self) -> Duration {
        self.samples.sort();
        self.samples.get(self.samples.len() / 2).copied().unwrap_or_default()
    }
}

/// Runs per second of one measurement.
async fn measure(target: &Arc<Target>, connections: usize, count: usize, webhook: bool) -> anyhow::Result<f64> {
    let started = Instant::now();
    let ids = start_runs(target, connections, count, webhook).await?;
    if webhook {
        // Runs finish roughly in the order they started.
        for id in &ids {
            loop {
                let run = target.store.get_run(id).await?.context("a started run is missing")?;
                match run.status {
                    RunStatus::Succeeded => break,
                    status if status.is_finished() => bail!("run {id} ended {status:?}: {:?}", run.error),
                    // Coarse, so the bench's own reads cost the server little.
                    _ => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        }
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

pub async fn api(args: BenchApiArgs) -> anyhow::Result<ExitCode> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run `cargo run --release -p trellis-engine -- bench api` for real figures");
    }
    // The server's own path: the first-party plugins published into a
    // local registry and installed in the tenant.
    let server = BenchServer::start("api", EngineConfig::default()).await?;
    let (store, base) = (server.store.clone(), server.base.clone());
    let tenant = create_tenant(&store, "bench", "bench@localhost").await?;
    // The default plan caps concurrent runs at 500; a webhook flood is
    // exactly what this measures.
    store.set_plan(&TenantId::new(tenant.tenant_id.clone()), &Plan::unlimited()).await?;

    let http = client()?;
    let (_, created) =
        send(http.post(format!("{base}/v1/workflows")).bearer_auth(&tenant.api_key).body(workflow().to_string()))
            .await?;
    if created["version"] != 1 {
        bail!("saving the workflow failed: {created}");
    }
    let (_, triggers) =
        send(http.get(format!("{base}/v1/workflows/bench-api/triggers")).bearer_auth(&tenant.api_key)).await?;
    let hook = triggers["webhook"]["path"].as_str().context("no hook path")?.to_owned();
    let target = Arc::new(Target {
        base,
        api_key: tenant.api_key.clone(),
        hook,
        store: store.tenant(TenantId::new(tenant.tenant_id.clone())),
    });

    // Warm up: compiled code, connections, SQLite pages.
    measure(&target, 4, 100.min(args.runs), true).await?;
    let mut floor = Floor::new()?;
    floor.measure(&target.store, 10).await?;
    floor.samples.clear();
    let mut figures = Vec::new();
    for (name, webhook) in [("webhook", true), ("api ?wait", false)] {
        let through = if webhook { StartedThrough::Webhook } else { StartedThrough::Wait };
        if args.only.is_some_and(|only| only != through) {
            continue;
        }
        for connections in [1, 4] {
            // Between the lines, so the machine's drift lands on both.
            floor.measure(&target.store, args.runs.div_ceil(10)).await?;
            let rate = measure(&target, connections, args.runs, webhook).await?;
            figures.push((name, connections, rate));
        }
    }
    drop(server);
    let floor_run = floor.median();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // What the cores could finish if a run cost only its floor.
    let floor_rate = cores as f64 / floor_run.as_secs_f64().max(1e-9);
    // One connection's runs one after another: its latency against the floor.
    let wait_ratio = figures
        .iter()
        .find(|(name, connections, _)| *name == "api ?wait" && *connections == 1)
        .map(|(.., rate)| 1.0 / rate / floor_run.as_secs_f64().max(1e-9));
    // Every webhook figure measured must reach the goal (none measured: met).
    let met =
        figures.iter().filter(|(name, ..)| *name == "webhook").all(|(.., rate)| *rate >= GOAL_WEBHOOK_RUNS_PER_SEC);

    if args.json {
        let items: Vec<Value> = figures
            .iter()
            .map(|(name, connections, rate)| json!({"via": name, "connections": connections, "runs_per_sec": rate}))
            .collect();
        let report = json!({"runs": args.runs, "nodes": NODES, "results": items,
            "floor_run_ms": floor_run.as_secs_f64() * 1e3, "floor_runs_per_sec": floor_rate,
            "wait_latency_to_floor": wait_ratio,
            "goal_webhook_runs_per_sec": GOAL_WEBHOOK_RUNS_PER_SEC, "goal_met": met});
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "trellis bench api: durable {NODES}-node runs of trivial nodes over HTTP on loopback, {} runs per line",
            args.runs
        );
        for (name, connections, rate) in &figures {
            let goal =
                if *name == "webhook" { format!("   (goal ≥ {GOAL_WEBHOOK_RUNS_PER_SEC})") } else { String::new() };
            println!(
                "{:<12}{connections} connection{:<4}{:>10.0} runs/s{goal}",
                name,
                if *connections == 1 { "" } else { "s" },
                rate
            );
        }
        println!(
            "floor per run ({NODES} bare executions + one durable write, between the lines): {:.2} ms, \
             {floor_rate:.0} runs/s on {cores} cores",
            floor_run.as_secs_f64() * 1e3
        );
        if let Some(ratio) = wait_ratio {
            println!("api ?wait, 1 connection: {ratio:.2}× the floor per run");
        }
    }
    Ok(args.goal.verdict(met, args.json))
}
