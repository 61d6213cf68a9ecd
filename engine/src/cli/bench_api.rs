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

/// Webhook runs finished per second, as a share of what the cores could
/// finish if a run cost only its floor.
const GOAL_WEBHOOK_SHARE_OF_FLOOR: f64 = 0.5;
/// A `?wait` run on one connection, as a multiple of the floor.
const GOAL_WAIT_RATIO: f64 = 2.0;
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

    /// The median of the samples taken since `from`.
    fn median_since(&self, from: usize) -> Duration {
        let mut recent = self.samples[from.min(self.samples.len())..].to_vec();
        recent.sort();
        recent.get(recent.len() / 2).copied().unwrap_or_default()
    }
}

/// One line: how runs were started, over how many connections, how many
/// finished a second, and the floor measured just before.
struct Figure {
    name: &'static str,
    connections: usize,
    rate: f64,
    floor: Duration,
}

impl Figure {
    /// What the cores could finish if a run cost only its floor.
    fn floor_rate(&self, cores: usize) -> f64 {
        cores as f64 / self.floor.as_secs_f64().max(1e-9)
    }

    /// Runs one after another on a connection: one run's latency against
    /// the floor.
    fn latency_ratio(&self) -> f64 {
        1.0 / self.rate / self.floor.as_secs_f64().max(1e-9)
    }

    /// Webhooks: half the floor's throughput; `?wait` on one connection:
    /// within twice the floor. Four `?wait` connections have no goal.
    fn met(&self, cores: usize) -> bool {
        match (self.name, self.connections) {
            ("webhook", _) => self.rate >= GOAL_WEBHOOK_SHARE_OF_FLOOR * self.floor_rate(cores),
            (_, 1) => self.latency_ratio() <= GOAL_WAIT_RATIO,
            _ => true,
        }
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
            // Before each line, so the machine's drift lands on both.
            let from = floor.samples.len();
            floor.measure(&target.store, args.runs.div_ceil(10)).await?;
            let line_floor = floor.median_since(from);
            let rate = measure(&target, connections, args.runs, webhook).await?;
            figures.push(Figure { name, connections, rate, floor: line_floor });
        }
    }
    drop(server);
    let floor_run = floor.median();
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // Every goal measured must be reached (none measured: met).
    let met = figures.iter().all(|figure| figure.met(cores));

    if args.json {
        let items: Vec<Value> = figures
            .iter()
            .map(|f| {
                json!({"via": f.name, "connections": f.connections, "runs_per_sec": f.rate,
                    "floor_run_ms": f.floor.as_secs_f64() * 1e3, "floor_runs_per_sec": f.floor_rate(cores),
                    "latency_to_floor": f.latency_ratio(), "goal_met": f.met(cores)})
            })
            .collect();
        let report = json!({"runs": args.runs, "nodes": NODES, "cores": cores, "results": items,
            "floor_run_ms": floor_run.as_secs_f64() * 1e3,
            "goal_webhook_share_of_floor": GOAL_WEBHOOK_SHARE_OF_FLOOR, "goal_wait_ratio": GOAL_WAIT_RATIO,
            "goal_met": met});
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "trellis bench api: durable {NODES}-node runs of trivial nodes over HTTP on loopback, {} runs per line; \
             the floor ({NODES} bare executions + one durable write) measured before each line",
            args.runs
        );
        for f in &figures {
            let floor_ms = f.floor.as_secs_f64() * 1e3;
            let versus = if f.name == "webhook" {
                format!(
                    "floor {floor_ms:.2} ms: {:.0} runs/s on {cores} cores; {:.2} of it (goal ≥ {GOAL_WEBHOOK_SHARE_OF_FLOOR})",
                    f.floor_rate(cores),
                    f.rate / f.floor_rate(cores)
                )
            } else if f.connections == 1 {
                format!("floor {floor_ms:.2} ms: {:.2}× it per run (goal ≤ {GOAL_WAIT_RATIO}×)", f.latency_ratio())
            } else {
                format!("floor {floor_ms:.2} ms")
            };
            println!(
                "{:<12}{} connection{:<4}{:>8.0} runs/s   {versus}",
                f.name,
                f.connections,
                if f.connections == 1 { "" } else { "s" },
                f.rate
            );
        }
    }
    Ok(args.goal.verdict(met, args.json))
}
