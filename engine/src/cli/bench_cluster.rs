//! `trellis bench cluster --database postgres://…`: runs per second of
//! workflows whose nodes wait on I/O (each calls a local endpoint that
//! answers after `--latency-ms`), executed by one worker and then by
//! three, each with the same fixed execution slots, on one PostgreSQL.
//!
//! Each side gets a fresh schema. An API-only engine records the runs
//! unleased and announces them; the workers are engines with a
//! connection pool and a `LISTEN` connection of their own, as separate
//! `trellis worker` processes have, and claim runs as they have room. The
//! figure is runs finished per second, from the first start to the last
//! end. Work bound by waiting scales with workers; the ratio's goal is
//! 2.5× for three.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor};
use trellis_engine::catalog::Catalog;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::quota::Plan;
use trellis_engine::store::{Store, TenantId, now_ms};
use trellis_engine::workflow::Workflow;
use trellis_host_api::capabilities::HttpPolicy;
use trellis_host_api::{Runtime, RuntimeConfig};

const GOAL_RATIO: f64 = 2.5;

#[derive(Debug, Args)]
pub struct BenchClusterArgs {
    /// The PostgreSQL server (each side gets a schema of its own, dropped after).
    #[arg(long, value_name = "URL", env = "TRELLIS_DATABASE_URL")]
    database: String,
    /// Runs per side.
    #[arg(long, default_value_t = 150)]
    runs: usize,
    /// Execution slots of each worker.
    #[arg(long, default_value_t = 4)]
    slots: usize,
    /// How long the local endpoint takes to answer each node's request.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Nodes per workflow, each one request.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    goal: super::bench::GoalCheck,
}

/// A schema of its own on the server, migrated, dropped when done.
struct Schema {
    base: PgConnectOptions,
    name: String,
}

impl Schema {
    async fn create(base: &PgConnectOptions) -> anyhow::Result<Schema> {
        let name = format!("bench_{}_{}", now_ms() / 1000, uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect_with(base).await.context("connecting to --database")?;
        admin.execute(format!("CREATE SCHEMA {name}").as_str()).await?;
        admin.close().await?;
        let schema = Schema { base: base.clone(), name };
        trellis_store_postgres::migrate(&schema.options()).await?;
        Ok(schema)
    }

    fn options(&self) -> PgConnectOptions {
        self.base.clone().options([("search_path", self.name.as_str())])
    }

    async fn drop_it(self) -> anyhow::Result<()> {
        let mut admin = sqlx::PgConnection::connect_with(&self.base).await?;
        admin.execute(format!("DROP SCHEMA {} CASCADE", self.name).as_str()).await?;
        admin.close().await?;
        Ok(())
    }
}

/// An endpoint that answers `{"ok": true}` after `latency`.
async fn slow_endpoint(latency: Duration) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let router = axum::Router::new().route(
        "/slow",
        axum::routing::get(move || async move {
            tokio::time::sleep(latency).await;
            axum::Json(json!({"ok": true}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/slow", listener.local_addr()?);
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((url, server))
}

fn workflow(url: &str, nodes: usize) -> anyhow::Result<Workflow> {
    let list: Vec<Value> = (0..nodes)
        .map(|i| json!({"id": format!("n{i}"), "uses": "trellis/http-request@^0.1", "kind": "request", "config": {"url": url}}))
        .collect();
    let edges: Vec<Value> = (1..nodes).map(|i| json!({"from": format!("n{}", i - 1), "to": format!("n{i}")})).collect();
    Ok(serde_json::from_value(json!({"id": "bench-cluster", "nodes": list, "edges": edges}))?)
}

/// An engine with a store of its own on the schema (its own pool and
/// `LISTEN` connection), the first-party plugins and `slots` slots.
async fn engine(schema: &Schema, slots: usize, executes: bool) -> anyhow::Result<Engine> {
    let store: Store = trellis_engine::store::open_postgres(schema.options(), 8).await?;
    let runtime = Runtime::new(RuntimeConfig { max_concurrent_instances: 64, ..RuntimeConfig::default() })?;
    let catalog = Catalog::local(&runtime, None).await?;
    let config = EngineConfig {
        max_concurrency: slots,
        max_claimed_runs: slots,
        executes,
        http: HttpPolicy { allow_private_network: true, ..HttpPolicy::allowing(["127.0.0.1"]) },
        default_plan: Plan::unlimited(),
        ..EngineConfig::default()
    };
    Ok(Engine::new(runtime, catalog, store, config))
}

/// Runs per second with `workers` workers.
async fn side(args: &BenchClusterArgs, base: &PgConnectOptions, url: &str, workers: usize) -> anyhow::Result<f64> {
    let schema = Schema::create(base).await?;
    let api = engine(&schema, args.slots, false).await?;
    let mut background = vec![api.follow_notices(|_| {})];
    for _ in 0..workers {
        let worker = engine(&schema, args.slots, true).await?;
        background.push(worker.follow_notices(|_| {}));
        background.push(worker.keep_leases());
    }
    let created = trellis_engine::auth::create_tenant(api.store(), "bench", "bench@bench.test").await?;
    let tenant = api.store().tenant(TenantId::new(created.tenant_id));
    let doc = workflow(url, args.nodes)?;
    api.save(&tenant, &doc).await?;

    let started = Instant::now();
    let mut finishing = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let (run, workflow) = api.start_saved(&tenant, &doc.id, None, json!({}), "bench").await?;
        finishing.push(api.launch(tenant.clone(), run, workflow));
    }
    for finished in finishing {
        let run = finished.await??.run;
        if run.status != trellis_engine::store::RunStatus::Succeeded {
            bail!("run {} ended {:?}: {:?}", run.id, run.status, run.error);
        }
    }
    let rate = args.runs as f64 / started.elapsed().as_secs_f64();
    for task in background {
        task.abort();
    }
    schema.drop_it().await?;
    Ok(rate)
}

pub async fn cluster(args: BenchClusterArgs) -> anyhow::Result<ExitCode> {
    if args.runs == 0 || args.slots == 0 || args.nodes == 0 {
        bail!("--runs, --slots and --nodes must be at least 1");
    }
    let base: PgConnectOptions = super::database::options(&args.database)?;
    let (url, endpoint) = slow_endpoint(Duration::from_millis(args.latency_ms)).await?;
    let one = side(&args, &base, &url, 1).await?;
    let three = side(&args, &base, &url, 3).await?;
    endpoint.abort();
    let ratio = three / one;
    let floor = args.slots as f64 * 1000.0 / (args.latency_ms as f64 * args.nodes as f64);
    if args.json {
        println!(
            "{}",
            json!({"runs": args.runs, "slots": args.slots, "latency_ms": args.latency_ms, "nodes": args.nodes,
                "one_worker_runs_per_sec": one, "three_workers_runs_per_sec": three, "ratio": ratio,
                "one_worker_ceiling_runs_per_sec": floor, "goal_ratio": GOAL_RATIO})
        );
    } else {
        println!(
            "bench cluster: {} runs of {} nodes, each node waiting {} ms on a local endpoint; {} slots per worker",
            args.runs, args.nodes, args.latency_ms, args.slots
        );
        println!("  1 worker:  {one:>8.1} runs/s (its slots allow at most {floor:.1})");
        println!("  3 workers: {three:>8.1} runs/s");
        println!("  ratio:     {ratio:>8.2}× (goal ≥ {GOAL_RATIO}×)");
    }
    Ok(args.goal.verdict(ratio >= GOAL_RATIO, args.json))
}
