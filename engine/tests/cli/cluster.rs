//! A cluster on one PostgreSQL: an API-only server and three workers.
//! Runs started through the API and through a webhook are claimed by the
//! workers; one worker is SIGKILLed while it holds runs, and the others
//! take them over when its leases lapse. Every run succeeds, and the
//! plugin's own kv counts show that no finished node ran twice. Then a
//! per-second cron fires once per tick across the four processes.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use trellis_engine::store::{NodeStatus, RunFilter, RunStatus, TenantId, TenantStore, TenantStoreExt};
use trellis_host_api::capabilities::KvStore;

use super::*;

const CONFIG: &str = r#"
[execution]
slots = 4
sandbox_instances = 8
claimed_runs = 8
lease_ms = 1500

[plan]
concurrent_runs = 10000
runs_per_day = 1000000
runs_per_second = 100000
requests_per_second = 100000
min_cron_interval_secs = 1
"#;

const RUNS: usize = 300;

/// `first` and `last` count their executions in kv; `middle` records each
/// attempt with its idempotency key and takes a while, so runs are caught
/// mid-flight.
fn workflow() -> Value {
    json!({
        "id": "counted",
        "triggers": [{"webhook": {}}],
        "nodes": [
            {"id": "first", "uses": "local/capabilities@^0.1", "kind": "kv-counter",
             "config": {"key": "{{ input.tag }}:first"}},
            {"id": "middle", "uses": "local/capabilities@^0.1", "kind": "slow",
             "config": {"ms": 150, "key": "{{ input.tag }}:middle"}},
            {"id": "last", "uses": "local/capabilities@^0.1", "kind": "kv-counter",
             "config": {"key": "{{ input.tag }}:last"}}
        ],
        "edges": [{"from": "first", "to": "middle"}, {"from": "middle", "to": "last"}]
    })
}

/// The cluster's processes: killed when the test ends, however it ends,
/// and on a failure their warnings and errors are printed.
#[derive(Default)]
struct Processes(Vec<(Child, std::sync::Arc<std::sync::Mutex<Vec<String>>>)>);

impl Processes {
    /// Starts one; the lines before the one `ready` accepts are kept.
    fn start(&mut self, args: &[&str], cache: &std::path::Path, ready: &str) -> String {
        let (child, lines) = spawn_lines(args, cache, &[("TRELLIS_LOG", "warn,trellis_engine=info")]);
        let (line, _) = lines_until(&lines, |l| l.starts_with(ready));
        let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = kept.clone();
        std::thread::spawn(move || {
            for line in lines {
                keep.lock().unwrap().push(line);
            }
        });
        self.0.push((child, kept));
        line
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (i, (child, lines)) in self.0.iter_mut().enumerate() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() || std::env::var_os("CLUSTER_LOGS").is_some() {
                for line in lines.lock().unwrap().iter().take(200) {
                    eprintln!("process {i}: {line}");
                }
            }
        }
    }
}

/// Publishes the testing guest that counts in kv to the data directory's
/// marketplace, as an approved publisher, before any process starts.
async fn publish_counting_guest(data: &std::path::Path) {
    let runtime = trellis_host_api::Runtime::new(trellis_host_api::RuntimeConfig::default()).unwrap();
    let registry =
        trellis_engine::installs::open_registry(data, &runtime, trellis_engine::installs::Blobs::Local).await.unwrap();
    let key = trellis_marketplace::PublisherSecretKey::generate();
    registry.register_publisher("local", &key.public_key().to_text()).await.unwrap();
    registry.approve_publisher("local").await.unwrap();
    let component = std::fs::read(trellis_plugin_artifacts::CAPABILITIES).unwrap();
    let manifest = "name = \"local/capabilities\"\nversion = \"0.1.0\"\ndescription = \"A testing guest\"\n\
                    license = \"Apache-2.0\"\ncategory = \"utility\"\n\n[capabilities]\nkv = true\n";
    let signature = key.sign(&trellis_marketplace::ComponentDigest::of(&component), manifest.as_bytes());
    let upload = trellis_marketplace::publish::Upload {
        component: &component,
        manifest: manifest.as_bytes(),
        signature: &signature,
    };
    registry.publish(&upload).await.unwrap();
}

/// A raw POST to a webhook (no authorization, the hook's token is the path).
fn hook(address: &str, path: &str, body: &Value) -> u16 {
    http(address, "POST", path, None, Some(body.clone())).0
}

async fn kv_count(store: &TenantStore, key: &str) -> Value {
    let kv = store.kv("local/capabilities", 1 << 30);
    kv.get(key).await.unwrap().map(|bytes| serde_json::from_slice(&bytes).unwrap()).unwrap_or(Value::Null)
}

#[test]
fn a_cluster_loses_no_run_and_runs_no_finished_node_twice_when_a_worker_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(database) = super::migrate::migrated_database(dir.path()) else { return };
    let data = dir.path().join("data");
    let config = dir.path().join("trellis.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(publish_counting_guest(&data));
    let created =
        trellis(&["admin", "create-tenant", "Acme", "--owner", "o@acme.test", "--database", &database], dir.path());
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let created = stdout_json(&created);
    let key = created["api_key"].as_str().unwrap().to_owned();
    let tenant = TenantId::new(created["tenant_id"].as_str().unwrap());

    // The processes share the data directory (its keys and marketplace) and the database.
    let common = ["--database", &database, "--data-dir", data.to_str().unwrap(), "--config", config.to_str().unwrap()];
    let mut api_args = vec!["serve", "--no-worker", "--listen", "127.0.0.1:0"];
    api_args.extend(common);
    let mut processes = Processes::default();
    let line = processes.start(&api_args, dir.path(), "trellis listening on http://");
    let address = line.trim_start_matches("trellis listening on http://").to_owned();

    let (status, body) = http(
        &address,
        "POST",
        "/v1/plugins",
        Some(&key),
        Some(json!({"name": "local/capabilities", "grants": {"kv": true}})),
    );
    assert!(status == 200 || status == 201, "{status} {body}");
    let (status, saved) = http(&address, "POST", "/v1/workflows", Some(&key), Some(workflow()));
    assert_eq!(status, 201, "{saved}");
    let (status, triggers) = http(&address, "GET", "/v1/workflows/counted/triggers", Some(&key), None);
    assert_eq!(status, 200, "{triggers}");
    let hook_path = triggers["webhook"]["path"].as_str().unwrap().to_owned();

    let mut workers = Vec::new();
    for _ in 0..3 {
        let mut args = vec!["worker"];
        args.extend(common);
        let line = processes.start(&args, dir.path(), "trellis worker ");
        workers.push(line.trim_start_matches("trellis worker ").split(' ').next().unwrap().to_owned());
    }

    // 300 runs, half through the API and half through the webhook, from
    // four clients at once.
    let started = Instant::now();
    let senders: Vec<_> = (0..4)
        .map(|client| {
            let (address, key, hook_path) = (address.clone(), key.clone(), hook_path.clone());
            std::thread::spawn(move || {
                for i in (client..RUNS).step_by(4) {
                    let tag = format!("run-{i}");
                    if i % 2 == 0 {
                        let body = json!({"input": {"tag": tag}});
                        let (status, answer) =
                            http(&address, "POST", "/v1/workflows/counted/runs", Some(&key), Some(body));
                        assert_eq!(status, 202, "{answer}");
                    } else {
                        assert_eq!(hook(&address, &hook_path, &json!({"tag": tag})), 202);
                    }
                }
            })
        })
        .collect();

    // SIGKILL the first worker while one of its runs is inside `middle`.
    let mut admin = rt.block_on(PgConnection::connect(&database)).unwrap();
    let victim_id = workers[0].clone();
    let held: Vec<String> = loop {
        let inside: Option<String> = rt
            .block_on(
                sqlx::query_scalar(
                    "SELECT r.id FROM runs r JOIN node_runs n ON n.tenant_id = r.tenant_id AND n.run_id = r.id
                      WHERE r.claimed_by = $1 AND r.status = 'running' AND n.node_id = 'middle'
                        AND n.status = 'running' LIMIT 1",
                )
                .bind(&victim_id)
                .fetch_optional(&mut admin),
            )
            .unwrap();
        if inside.is_some() {
            break rt
                .block_on(
                    sqlx::query_scalar(
                        "SELECT id FROM runs WHERE claimed_by = $1 AND status IN ('pending', 'running')",
                    )
                    .bind(&victim_id)
                    .fetch_all(&mut admin),
                )
                .unwrap();
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the first worker never ran `middle`");
        std::thread::sleep(Duration::from_millis(10));
    };
    let victim = &mut processes.0[1].0;
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    for sender in senders {
        sender.join().unwrap();
    }

    // Every run succeeds, driven to the end by the surviving workers.
    let store = rt.block_on(trellis_engine::store::open_postgres(database.parse().unwrap(), 4)).unwrap();
    let tenant_store = store.tenant(tenant.clone());
    let filter = RunFilter { status: None, workflow: Some("counted") };
    let runs = loop {
        let runs = rt.block_on(tenant_store.list_runs(&filter, None, 1000)).unwrap();
        let finished = runs.iter().filter(|r| r.status.is_finished()).count();
        if runs.len() == RUNS && finished == RUNS {
            break runs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{finished} of {} runs finished ({RUNS} started)",
            runs.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    for run in &runs {
        assert_eq!(run.status, RunStatus::Succeeded, "run {} {:?}", run.id, run.error);
    }
    // The killed worker's unfinished runs were finished by the others.
    let still_held: i64 = rt
        .block_on(
            sqlx::query_scalar("SELECT count(*) FROM runs WHERE id = ANY($1) AND claimed_by = $2")
                .bind(&held)
                .bind(&victim_id)
                .fetch_one(&mut admin),
        )
        .unwrap();
    assert_eq!(still_held, 0, "the killed worker's runs were taken over");
    let mut taken_over = 0;
    for run in &runs {
        let nodes = rt.block_on(tenant_store.nodes(&run.id)).unwrap();
        let tag = run.input["tag"].as_str().unwrap().to_owned();
        for node in &nodes {
            assert_eq!(node.status, NodeStatus::Succeeded, "{} {}", run.id, node.node_id);
            let counted = rt.block_on(kv_count(&tenant_store, &format!("{tag}:{}", node.node_id)));
            // Executions the plugin counted: one per attempt at most, and a
            // node that finished at its first attempt ran once.
            let executions = match node.node_id.as_str() {
                "middle" => {
                    // The attempts that reached the plugin (one killed
                    // before it wrote leaves no entry), rising to the
                    // record's, all with the run's one key for the node.
                    let attempts = counted.as_array().unwrap_or_else(|| panic!("{tag}: {counted}"));
                    let numbers: Vec<u64> = attempts.iter().map(|a| a["attempt"].as_u64().unwrap()).collect();
                    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{tag}: {counted}");
                    assert_eq!(numbers.last(), Some(&u64::from(node.attempt)), "{tag}: {counted}");
                    for attempt in attempts {
                        assert_eq!(attempt["idempotency_key"], json!(format!("{}:middle", run.id)), "{counted}");
                    }
                    attempts.len() as u64
                }
                _ => counted.as_u64().unwrap_or_else(|| panic!("{tag}:{}: {counted}", node.node_id)),
            };
            assert!(
                (1..=u64::from(node.attempt)).contains(&executions),
                "{tag}: {} executed {executions} times in {} attempts",
                node.node_id,
                node.attempt
            );
            if node.attempt > 1 {
                taken_over += 1;
            }
        }
    }
    assert!(held.iter().all(|id| runs.iter().any(|r| &r.id == id)));
    assert!(taken_over >= 1, "the node the killed worker was running ran again, with the next attempt");
    eprintln!("{} runs held by the killed worker; {taken_over} interrupted nodes ran again", held.len());

    // A per-second cron, with four processes looking for due fires: one run
    // per tick.
    let cron = json!({"id": "ticking", "triggers": [{"cron": "* * * * * *"}],
        "nodes": [{"id": "a", "uses": "trellis/transform@^0.1", "kind": "reshape", "config": {"template": {"ok": true}}}]});
    let (status, saved) = http(&address, "POST", "/v1/workflows", Some(&key), Some(cron));
    assert_eq!(status, 201, "{saved}");
    let ticking = RunFilter { status: None, workflow: Some("ticking") };
    let fires = loop {
        let runs = rt.block_on(tenant_store.list_runs(&ticking, None, 1000)).unwrap();
        if runs.len() >= 22 {
            break runs;
        }
        assert!(started.elapsed() < Duration::from_secs(240), "{} cron runs so far", runs.len());
        std::thread::sleep(Duration::from_millis(250));
    };
    let (status, _) = http(&address, "DELETE", "/v1/workflows/ticking", Some(&key), None);
    assert!(status == 204 || status == 200, "{status}");
    // A fire's run id carries its second; each second fired once, none skipped.
    let seconds: BTreeSet<u64> = fires
        .iter()
        .map(|run| {
            let id: uuid::Uuid = run.id.parse().unwrap();
            let (secs, _) = id.get_timestamp().unwrap().to_unix();
            secs
        })
        .collect();
    assert_eq!(seconds.len(), fires.len(), "two runs for one tick");
    let first = *seconds.iter().next().unwrap();
    let window: Vec<u64> = seconds.iter().copied().filter(|s| *s < first + 20).collect();
    assert_eq!(window, (first..first + 20).collect::<Vec<_>>(), "20 ticks, 20 runs");
}
