//! `trellis bench hostile`: each attack of the hostile-tenant suite against
//! a live server on loopback (`bench_server`), while another tenant runs a
//! one-node workflow over `?wait` again and again. Per attack it prints the
//! server's peak resident-memory growth (this process's RSS, sampled every
//! 5 ms, over its value before the attack) and the other tenant's p99
//! request latency, next to the same figures with no attack.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use trellis_engine::auth::create_tenant;
use trellis_engine::executor::EngineConfig;
use trellis_engine::quota::Plan;
use trellis_engine::store::{PluginGrants, TenantId};
use trellis_marketplace::publish::Upload;
use trellis_marketplace::{ComponentDigest, PublisherSecretKey};

use super::bench::percentile;
use super::bench_server::BenchServer;
use trellis_engine::store::StorePlans;

/// The goals: what an attack may cost the server and the other tenant.
const GOAL_RSS_GROWTH_MIB: f64 = 256.0;
const GOAL_P99_RATIO: f64 = 2.0;

#[derive(Debug, Args)]
pub struct BenchHostileArgs {
    /// The other tenant's runs per measurement.
    #[arg(long, default_value_t = 60)]
    samples: usize,
    /// Only the attacks whose name contains this.
    #[arg(long)]
    only: Option<String>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    goal: super::bench::GoalCheck,
}

struct Bench {
    base: String,
    client: reqwest::Client,
    attacker: String,
    bystander: String,
    hook: String,
}

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<(reqwest::StatusCode, Value)> {
    let response = request.header("content-type", "application/json").send().await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

impl Bench {
    async fn save(&self, workflow: Value) -> anyhow::Result<()> {
        let (status, body) = send(
            self.client
                .post(format!("{}/v1/workflows", self.base))
                .bearer_auth(&self.attacker)
                .body(workflow.to_string()),
        )
        .await?;
        if !status.is_success() {
            bail!("saving an attack workflow: {status} {body}");
        }
        Ok(())
    }

    async fn run(&self, key: &str, workflow: &str, input: Value) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let url = format!("{}/v1/workflows/{workflow}/runs?wait=60", self.base);
        send(self.client.post(url).bearer_auth(key).body(json!({ "input": input }).to_string())).await
    }

    /// One step of an attack; errors are the attack's business.
    async fn attack_once(&self, attack: &str, round: u64) {
        let _ = match attack {
            "expression-list" => self.run(&self.attacker, "list-bomb", json!({"s": "a"})).await,
            "expression-string" => self.run(&self.attacker, "string-bomb", json!({"s": "a"})).await,
            "subworkflow-fork" => self.run(&self.attacker, "fork", json!({"next": "fork"})).await,
            "map-concurrency" => self.run(&self.attacker, "fan", json!({})).await,
            "log-flood" => self.run(&self.attacker, "flood", json!({})).await,
            "ipv6-loopback" => self.run(&self.attacker, "probe", json!({})).await,
            "webhook-replay" => {
                let body = r#"{"order": 1}"#;
                let timestamp = trellis_engine::store::now_ms() / 1000;
                let signature = trellis_engine::triggers::webhook::sign(b"whsec_bench", timestamp, body.as_bytes());
                let hex = &signature["sha256=".len()..];
                let spelling =
                    if round.is_multiple_of(2) { signature.clone() } else { format!("sha256={}", hex.to_uppercase()) };
                send(
                    self.client
                        .post(format!("{}{}", self.base, self.hook))
                        .header("x-trellis-timestamp", timestamp.to_string())
                        .header("x-trellis-signature", spelling)
                        .body(body),
                )
                .await
            }
            "sign-in-flood" => {
                let login = json!({"email": "bystander@localhost", "password": format!("guess-{round}")});
                send(self.client.post(format!("{}/v1/auth/login", self.base)).body(login.to_string())).await
            }
            "unauthenticated-upload" => {
                // Made as it is sent, so the client's own memory stays out of the figure.
                let chunks = futures::stream::iter((0..40).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1 << 20])));
                let request = self
                    .client
                    .post(format!("{}/v1/marketplace/plugins", self.base))
                    .header("content-length", 40u64 << 20)
                    .body(reqwest::Body::wrap_stream(chunks));
                send(request).await
            }
            _ => Ok((reqwest::StatusCode::OK, Value::Null)),
        };
    }

    /// The other tenant's request latencies, sorted.
    async fn bystander_latencies(&self, samples: usize) -> anyhow::Result<Vec<Duration>> {
        let mut latencies = Vec::with_capacity(samples);
        for _ in 0..samples {
            let started = Instant::now();
            let (status, run) = self.run(&self.bystander, "greet", json!({"name": "b"})).await?;
            if !status.is_success() || run["run"]["status"] != "succeeded" {
                bail!("the other tenant's run failed: {status} {run}");
            }
            latencies.push(started.elapsed());
        }
        latencies.sort();
        Ok(latencies)
    }
}

const ATTACKS: [(&str, &str); 10] = [
    ("expression-list", "`{{ [input.s] * 3000000000 }}` in a respond body"),
    ("expression-string", "`{{ input.s * 100000000 }}` in a respond body"),
    ("subworkflow-fork", "a subworkflow calling itself by an expression"),
    ("map-concurrency", "a map over 300 items with concurrency `{{ 300 }}`"),
    ("log-flood", "a plugin logging 5,000,000 empty lines"),
    ("ipv6-loopback", "requests to `[::127.0.0.1]`"),
    ("webhook-replay", "one signed webhook sent again and again, in two spellings"),
    ("sign-in-flood", "failed sign-ins for the other tenant's owner"),
    ("unauthenticated-upload", "40 MB publish bodies without upload headers"),
    ("none", "(no attack: the other tenant alone)"),
];

async fn prepare(server: &BenchServer) -> anyhow::Result<Bench> {
    let registry = &server.state.marketplace.registry;
    let key = PublisherSecretKey::generate();
    registry.register_publisher("local", &key.public_key().to_text()).await?;
    registry.approve_publisher("local").await?;
    let component = std::fs::read(trellis_plugin_artifacts::HOSTILE).context("the hostile guest")?;
    let manifest = "name = \"local/hostile\"\nversion = \"0.1.0\"\ndescription = \"Attacks\"\nlicense = \"Apache-2.0\"\n\
                    category = \"utility\"\n\n[capabilities]\nhosts = [\"*\"]\n";
    let signature = key.sign(&ComponentDigest::of(&component), manifest.as_bytes());
    registry.publish(&Upload { component: &component, manifest: manifest.as_bytes(), signature: &signature }).await?;

    let attacker = create_tenant(&server.store, "attacker", "attacker@localhost").await?;
    let bystander = create_tenant(&server.store, "bystander", "bystander@localhost").await?;
    // The other tenant sends as fast as it is answered, faster than the
    // default rates allow: its plan lifts them, so what it measures is what
    // the attack costs it, not its own rate.
    let unpaced = Plan { requests_per_second: u64::MAX, runs_per_second: u64::MAX, ..Plan::default() };
    server.store.set_plan(&TenantId::new(&bystander.tenant_id), &unpaced).await?;
    let attacker_store = server.store.tenant(TenantId::new(&attacker.tenant_id));
    let grants = PluginGrants { hosts: ["*".to_owned()].into(), ..PluginGrants::default() };
    trellis_engine::installs::service::install(
        &attacker_store,
        &server.state.marketplace.installed,
        "local/hostile",
        "*",
        &grants,
    )
    .await?;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build()?;
    let mut bench = Bench {
        base: server.base.clone(),
        client,
        attacker: attacker.api_key.clone(),
        bystander: bystander.api_key.clone(),
        hook: String::new(),
    };
    let greet = json!({"id": "greet", "nodes": [{"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render",
        "config": {"template": "hello {{ input.name }}"}}]});
    let (status, body) = send(
        bench.client.post(format!("{}/v1/workflows", bench.base)).bearer_auth(&bench.bystander).body(greet.to_string()),
    )
    .await?;
    if !status.is_success() {
        bail!("saving the other tenant's workflow: {status} {body}");
    }
    let respond = |id: &str, body: &str| json!({"id": id, "nodes": [{"id": "r", "builtin": "respond", "config": {"body": body}}]});
    // From the input: constants that large are refused when saved.
    bench.save(respond("list-bomb", "{{ [input.s] * 3000000000 }}")).await?;
    bench.save(respond("string-bomb", "{{ input.s * 100000000 }}")).await?;
    bench
        .save(json!({"id": "fork", "nodes": [{"id": "again", "builtin": "subworkflow",
            "config": {"workflow": "{{ input.next }}", "input": "{{ input }}"}}]}))
        .await?;
    bench
        .save(json!({"id": "fan", "nodes": [{"id": "each", "builtin": "map", "config": {
            "items": "{{ range(300) | list }}", "concurrency": "{{ 300 }}",
            "nodes": [{"id": "wait", "builtin": "delay", "config": {"ms": 50}}]}}]}))
        .await?;
    bench
        .save(json!({"id": "flood", "nodes": [{"id": "logs", "uses": "local/hostile", "kind": "log-flood",
            "config": {"lines": 5_000_000}}]}))
        .await?;
    bench
        .save(json!({"id": "probe", "nodes": [{"id": "call", "uses": "trellis/http-request@^0.1", "kind": "request",
            "config": {"url": "http://[::127.0.0.1]:9/"}}]}))
        .await?;
    let secret = json!({"value": "whsec_bench"});
    send(
        bench
            .client
            .put(format!("{}/v1/secrets/HOOK", bench.base))
            .bearer_auth(&bench.attacker)
            .body(secret.to_string()),
    )
    .await?;
    bench
        .save(json!({"id": "hooked", "triggers": [{"webhook": {"secret": "HOOK"}}], "nodes": [
            {"id": "hi", "uses": "trellis/transform@^0.1", "kind": "render", "config": {"template": "x"}}]}))
        .await?;
    let (_, triggers) =
        send(bench.client.get(format!("{}/v1/workflows/hooked/triggers", bench.base)).bearer_auth(&bench.attacker))
            .await?;
    bench.hook = triggers["webhook"]["path"].as_str().context("no hook path")?.to_owned();
    Ok(bench)
}

struct Figure {
    attack: &'static str,
    what: &'static str,
    rss_growth_mib: f64,
    p50_ms: f64,
    p99_ms: f64,
}

pub async fn hostile(args: BenchHostileArgs) -> anyhow::Result<ExitCode> {
    if args.samples == 0 {
        bail!("--samples must be at least 1");
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: debug build; run `cargo run --release -p trellis-engine -- bench hostile` for real figures"
        );
    }
    // Every tenant on the plan `trellis serve` gives tenants by default.
    let config = EngineConfig { default_plan: Plan::default(), ..EngineConfig::default() };
    let server = BenchServer::start("hostile", config).await?;
    let bench = Arc::new(prepare(&server).await?);
    // Warm up: compiled code, connections, SQLite pages.
    bench.bystander_latencies(10).await?;

    let mut figures = Vec::new();
    for (attack, what) in ATTACKS.iter().copied().rev() {
        if args.only.as_deref().is_some_and(|only| attack != "none" && !attack.contains(only)) {
            continue;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let before = super::bench::resident_bytes();
        let peak = Arc::new(AtomicU64::new(before));
        let sampler = {
            let (stop, peak) = (stop.clone(), peak.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(super::bench::resident_bytes(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        // Two attacking loops, so the attack has a request in flight always.
        let attackers: Vec<_> = (0..2)
            .map(|lane| {
                let (stop, bench) = (stop.clone(), bench.clone());
                tokio::spawn(async move {
                    let mut round = lane;
                    while !stop.load(Ordering::Relaxed) && attack != "none" {
                        bench.attack_once(attack, round).await;
                        round += 2;
                    }
                })
            })
            .collect();
        // Let the attack get going before measuring.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let latencies = bench.bystander_latencies(args.samples).await;
        stop.store(true, Ordering::Relaxed);
        for task in attackers {
            let _ = tokio::time::timeout(Duration::from_secs(60), task).await;
        }
        let _ = sampler.await;
        let latencies = latencies?;
        let growth = peak.load(Ordering::Relaxed).saturating_sub(before);
        figures.push(Figure {
            attack,
            what,
            rss_growth_mib: growth as f64 / f64::from(1 << 20),
            p50_ms: percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            p99_ms: percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        });
    }
    let idle = figures.iter().find(|f| f.attack == "none").map_or(0.0, |f| f.p99_ms);
    let met = figures.iter().all(|f| f.rss_growth_mib < GOAL_RSS_GROWTH_MIB && f.p99_ms < GOAL_P99_RATIO * idle);

    if args.json {
        let items: Vec<Value> = figures
            .iter()
            .map(|f| {
                json!({"attack": f.attack, "what": f.what, "rss_growth_mib": f.rss_growth_mib, "p50_ms": f.p50_ms, "p99_ms": f.p99_ms,
                    "idle_p99_ms": idle, "p99_ratio": if idle > 0.0 { f.p99_ms / idle } else { 0.0 }})
            })
            .collect();
        let report = json!({"samples": args.samples, "results": items,
            "goal_rss_growth_mib": GOAL_RSS_GROWTH_MIB, "goal_p99_ratio": GOAL_P99_RATIO, "goal_met": met});
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "trellis bench hostile: the other tenant's p99 over {} runs and the server's peak RSS growth, per attack",
            args.samples
        );
        println!(
            "{:<24}{:>10}{:>9}{:>9}{:>9}  goals: < {GOAL_RSS_GROWTH_MIB} MiB, p99 < {GOAL_P99_RATIO}× idle",
            "attack", "RSS +MiB", "p50 ms", "p99 ms", "× idle"
        );
        for f in &figures {
            let ratio = if idle > 0.0 { f.p99_ms / idle } else { 0.0 };
            println!(
                "{:<24}{:>10.1}{:>9.1}{:>9.1}{:>9.2}  {}",
                f.attack, f.rss_growth_mib, f.p50_ms, f.p99_ms, ratio, f.what
            );
        }
    }
    Ok(args.goal.verdict(met, args.json))
}
