//! `trellis bench waiting`: what runs that wait cost. Starts runs that wait
//! on an approval and runs that wait on a delay, then measures the idle
//! process: its CPU over a window and its resident memory per waiting run.
//! Restarts the engine on the same store, approves every waiting run, and
//! times how long until every run (approved and delayed) has finished.

use std::collections::HashSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use trellis_engine::catalog::Catalog;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::quota::Plan;
use trellis_engine::store::{Notice, RunStatus, Store, TenantId, TenantStore, now_ms};
use trellis_engine::workflow::Workflow;
use trellis_host_api::{Runtime, RuntimeConfig};

const GOAL_CPU_PERCENT: f64 = 5.0;
const GOAL_KIB_PER_RUN: f64 = 50.0;
/// Starts and decisions in flight at once.
const IN_FLIGHT: usize = 64;

#[derive(Debug, Args)]
pub struct BenchWaitingArgs {
    /// Runs waiting on an approval, and as many waiting on a delay.
    #[arg(long, default_value_t = 20_000)]
    runs: usize,
    /// Seconds the idle process is watched for.
    #[arg(long, default_value_t = 30)]
    idle_secs: u64,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    goal: super::bench::GoalCheck,
}

/// CPU time this process has used (user and system, all threads).
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole `rusage` into the pointer it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

fn gated() -> anyhow::Result<Workflow> {
    Ok(serde_json::from_value(json!({
        "id": "gated",
        "nodes": [
            {"id": "ask", "builtin": "approval"},
            {"id": "after", "uses": "trellis/transform", "kind": "reshape", "config": {"template": {"approved": true}}}
        ],
        "edges": [{"from": "ask", "port": "approved", "to": "after"}]
    }))?)
}

/// Each run waits until the time in its input.
fn paused() -> anyhow::Result<Workflow> {
    Ok(serde_json::from_value(json!({
        "id": "paused",
        "nodes": [
            {"id": "pause", "builtin": "delay", "config": {"ms": "{{ input.until - input.now }}"}},
            {"id": "after", "uses": "trellis/transform", "kind": "reshape", "config": {"template": {"woke": true}}}
        ],
        "edges": [{"from": "pause", "to": "after"}]
    }))?)
}

async fn engine(store: Store, runtime: &Runtime) -> anyhow::Result<Engine> {
    let catalog = Catalog::local(runtime, None).await?;
    let config = EngineConfig {
        default_plan: Plan::unlimited(),
        set_aside: Some(Duration::from_secs(2)),
        ..EngineConfig::default()
    };
    Ok(Engine::new(runtime.clone(), catalog, store, config))
}

/// Starts `count` runs of a saved workflow, `IN_FLIGHT` at a time, each
/// driven until it waits; returns their ids. A run's input says until when
/// it is to wait, if it waits on a delay.
async fn start(
    engine: &Engine,
    tenant: &TenantStore,
    workflow: &str,
    count: usize,
    until: i64,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::with_capacity(count);
    let mut starting = JoinSet::new();
    for _ in 0..count {
        if starting.len() >= IN_FLIGHT {
            ids.push(joined(starting.join_next().await)?);
        }
        let (engine, tenant, workflow) = (engine.clone(), tenant.clone(), workflow.to_owned());
        starting.spawn(async move {
            let input = json!({"until": until, "now": now_ms()});
            let (run, doc) = engine.start_saved(&tenant, &workflow, None, input, "bench").await?;
            let run = engine.launch(tenant, run, doc).await??.run;
            if run.status != RunStatus::Running {
                bail!("run {} did not wait: {:?} {:?}", run.id, run.status, run.error);
            }
            Ok(run.id)
        });
    }
    while let Some(done) = starting.join_next().await {
        ids.push(joined(Some(done))?);
    }
    Ok(ids)
}

fn joined<T>(done: Option<Result<anyhow::Result<T>, tokio::task::JoinError>>) -> anyhow::Result<T> {
    done.context("a task was lost")?.context("a task panicked")?
}

/// Waits until every run in `pending` has finished, from the end notices
/// (and a read of those left, should notices be dropped); fails on a run
/// that did not succeed. Returns when the runs in `first` had all finished.
async fn all_finished(
    tenant: &TenantStore,
    notices: &mut tokio::sync::broadcast::Receiver<Notice>,
    mut pending: HashSet<String>,
    first: &HashSet<String>,
    patience: Duration,
) -> anyhow::Result<Instant> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut first_done = None;
    while !pending.is_empty() {
        if first_done.is_none() && first.iter().all(|id| !pending.contains(id)) {
            first_done = Some(Instant::now());
        }
        match tokio::time::timeout_at(deadline, notices.recv()).await {
            Ok(Ok(Notice::Finished { run, .. })) => {
                pending.remove(&run);
            }
            Ok(Ok(_)) => {}
            Ok(Err(RecvError::Lagged(_))) => {
                let mut left = HashSet::new();
                for id in pending {
                    let run = tenant.get_run(&id).await?.with_context(|| format!("run {id} is gone"))?;
                    if !run.status.is_finished() {
                        left.insert(id);
                    } else if run.status != RunStatus::Succeeded {
                        bail!("run {id} ended {:?}: {:?}", run.status, run.error);
                    }
                }
                pending = left;
            }
            Ok(Err(RecvError::Closed)) => bail!("the store's notices closed"),
            Err(_) => bail!("{} runs had not finished after {} s", pending.len(), patience.as_secs()),
        }
    }
    Ok(first_done.unwrap_or_else(Instant::now))
}

pub async fn waiting(args: BenchWaitingArgs) -> anyhow::Result<ExitCode> {
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; run `cargo run --release -p trellis-engine -- bench waiting` for real figures"
        );
    }
    let dir = tempfile::tempdir()?;
    let cache_dir = std::env::temp_dir().join(format!("trellis-bench-waiting-{}", std::process::id()));
    let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(cache_dir.clone()), ..RuntimeConfig::default() })?;
    let store = trellis_engine::store::open_sqlite(dir.path()).await?;
    let first = engine(store.clone(), &runtime).await?;
    let created = trellis_engine::auth::create_tenant(&store, "bench", "bench@bench.test").await?;
    let tenant_id = TenantId::new(created.tenant_id);
    let tenant = store.tenant(tenant_id.clone());
    first.save(&tenant, &gated()?).await?;

    // Warm up (the plugin compiled, the pages cached), then measure from
    // there.
    let warm = start(&first, &tenant, "gated", IN_FLIGHT, 0).await?;
    let mut notices = store.notices();
    for id in &warm {
        first.decide(&tenant, id, "ask", json!({"approved": true})).await?;
    }
    all_finished(&tenant, &mut notices, warm.into_iter().collect(), &HashSet::new(), Duration::from_secs(60)).await?;
    // What compiling and warming up freed is given back before measuring.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before = super::bench::resident_bytes();

    let started = Instant::now();
    let approvals = start(&first, &tenant, "gated", args.runs, 0).await?;
    // The delays end together, after the idle window: twice as long again
    // as the approvals took to start (the delays take about as long), plus
    // the window and a margin. Should starting take longer, the window is
    // cut short before the first delay ends.
    let margin = started.elapsed() * 2 + Duration::from_secs(args.idle_secs + 5);
    let until = now_ms() + margin.as_millis() as i64;
    first.save(&tenant, &paused()?).await?;
    let delays = start(&first, &tenant, "paused", args.runs, until).await?;
    let start_secs = started.elapsed().as_secs_f64();
    let waiting = approvals.len() + delays.len();

    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_waiting = super::bench::resident_bytes();
    let cpu_before = cpu_time();
    let idle = Instant::now();
    let before_due = Duration::from_millis(u64::try_from(until - now_ms() - 1_000).unwrap_or(0));
    let window = Duration::from_secs(args.idle_secs).min(before_due);
    if window.is_zero() {
        bail!("the delays are due before the idle window could begin");
    }
    tokio::time::sleep(window).await;
    let cpu_percent = (cpu_time() - cpu_before).as_secs_f64() / idle.elapsed().as_secs_f64() * 100.0;
    // Signed: memory given back meanwhile can make it negative.
    let kib_per_run = (rss_waiting as f64 - rss_before as f64) / 1024.0 / waiting as f64;

    // A restart: a new engine on the store opened afresh.
    drop(first);
    drop(notices);
    drop(store);
    let store = trellis_engine::store::open_sqlite(dir.path()).await?;
    let tenant = store.tenant(tenant_id);
    let rss_restart = super::bench::resident_bytes();
    let restarted = Instant::now();
    let second = engine(store.clone(), &runtime).await?;
    let resumed = second.resume_all().await?;
    let resume_ms = restarted.elapsed().as_secs_f64() * 1000.0;
    let restart_kib = super::bench::resident_bytes().saturating_sub(rss_restart) as f64 / 1024.0;

    let mut notices = store.notices();
    let approving = Instant::now();
    let mut deciding = JoinSet::new();
    for id in &approvals {
        if deciding.len() >= IN_FLIGHT {
            joined(deciding.join_next().await)?;
        }
        let (engine, tenant, id) = (second.clone(), tenant.clone(), id.clone());
        deciding.spawn(async move {
            engine.decide(&tenant, &id, "ask", json!({"approved": true})).await?;
            anyhow::Ok(())
        });
    }
    while let Some(done) = deciding.join_next().await {
        joined(Some(done))?;
    }
    let decided = approving.elapsed().as_secs_f64();
    let pending: HashSet<String> = approvals.iter().chain(&delays).cloned().collect();
    let approved: HashSet<String> = approvals.iter().cloned().collect();
    let approved_at = all_finished(&tenant, &mut notices, pending, &approved, Duration::from_secs(600)).await?;
    let approved_secs = approved_at.duration_since(approving).as_secs_f64();
    let lateness = lateness(&tenant, &delays, until).await?;
    let _ = std::fs::remove_dir_all(&cache_dir);

    let met = cpu_percent < GOAL_CPU_PERCENT && kib_per_run <= GOAL_KIB_PER_RUN;
    if args.json {
        println!(
            "{}",
            json!({"approval_runs": approvals.len(), "delay_runs": delays.len(), "start_secs": start_secs,
                "idle_secs": window.as_secs_f64(), "idle_cpu_percent": cpu_percent, "rss_before_bytes": rss_before,
                "rss_waiting_bytes": rss_waiting, "kib_per_waiting_run": kib_per_run,
                "restart_resume_ms": resume_ms, "restart_runs_read": resumed.len(), "restart_kib": restart_kib,
                "decisions_secs": decided, "approved_finished_secs": approved_secs, "delay_lateness_ms_mean": lateness.0,
                "delay_lateness_ms_max": lateness.1,
                "goal_cpu_percent": GOAL_CPU_PERCENT, "goal_kib_per_run": GOAL_KIB_PER_RUN})
        );
    } else {
        println!(
            "bench waiting: {} runs waiting on an approval, {} on a delay (SQLite)",
            approvals.len(),
            delays.len()
        );
        println!(
            "  started:    {start_secs:.1} s ({:.0} runs/s, each driven until it waits)",
            waiting as f64 / start_secs
        );
        println!(
            "  idle CPU:   {cpu_percent:.2}% of one core over {:.0} s (goal < {GOAL_CPU_PERCENT}%)",
            window.as_secs_f64()
        );
        println!(
            "  memory:     {:.1} MiB → {:.1} MiB resident: {kib_per_run:.2} KiB per waiting run (goal ≤ {GOAL_KIB_PER_RUN} KiB)",
            rss_before as f64 / 1048576.0,
            rss_waiting as f64 / 1048576.0
        );
        println!(
            "  restart:    resumed in {resume_ms:.0} ms, {} runs read, {restart_kib:.0} KiB more resident",
            resumed.len()
        );
        println!(
            "  approving:  {} decisions sent in {decided:.1} s; every approved run finished {approved_secs:.1} s \
             after the first was sent ({:.0} runs/s)",
            approvals.len(),
            approvals.len() as f64 / approved_secs
        );
        println!(
            "  delays:     every delayed run taken up {:.0} ms after its time on average, {:.0} ms at most",
            lateness.0, lateness.1
        );
    }
    Ok(args.goal.verdict(met, args.json))
}

/// How late the delayed runs' next nodes started after the delays ended
/// (`until`, give or take the millisecond the delay's length was computed
/// in): mean and maximum, in milliseconds.
async fn lateness(tenant: &TenantStore, delays: &[String], until: i64) -> anyhow::Result<(f64, f64)> {
    let (mut total, mut most) = (0.0, 0.0_f64);
    for id in delays {
        let nodes = tenant.nodes(id).await?;
        let after = nodes.iter().find(|n| n.node_id == "after").and_then(|n| n.started_at);
        let Some(after) = after else { bail!("run {id}'s next node did not start") };
        let late = (after - until) as f64;
        total += late;
        most = most.max(late);
    }
    Ok((total / delays.len().max(1) as f64, most))
}
