//! Crash recovery with the real binary: SIGKILL mid-run, start again, the
//! run completes without re-executing finished nodes, and the interrupted
//! node runs again with attempt + 1 and the same idempotency key.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use trellis_engine::store::{NodeStatus, RunStatus, TenantId, TenantStore, TenantStoreExt};
use trellis_host_api::capabilities::KvStore;

const WORKFLOW: &str = r#"
id: crash-me
nodes:
  - { id: first, uses: local/capabilities, kind: kv-counter, config: { key: first } }
  - { id: middle, uses: local/capabilities, kind: slow, config: { ms: 0, key: middle, hold_until: release } }
  - { id: last, uses: local/capabilities, kind: kv-counter, config: { key: last } }
edges:
  - { from: first, to: middle }
  - { from: middle, to: last }
"#;

struct Setup {
    data: tempfile::TempDir,
    plugins: tempfile::TempDir,
    workflow: std::path::PathBuf,
}

fn setup() -> Setup {
    let data = tempfile::tempdir().unwrap();
    let plugins = tempfile::tempdir().unwrap();
    std::fs::copy(trellis_plugin_artifacts::CAPABILITIES, plugins.path().join("capabilities.wasm")).unwrap();
    let workflow = data.path().join("crash-me.yaml");
    std::fs::write(&workflow, WORKFLOW).unwrap();
    Setup { data, plugins, workflow }
}

fn trellis(setup: &Setup, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_trellis"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(setup.data.path())
        .arg("--plugins")
        .arg(setup.plugins.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn store(data: &Path) -> TenantStore {
    trellis_engine::store::open_sqlite(data).await.unwrap().tenant(TenantId::local())
}

/// Waits until the only run's `middle` node is executing inside the plugin; returns the run id.
async fn wait_for_middle(store: &TenantStore, data: &Path, child: &mut Child) -> String {
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
            }
            panic!("trellis exited early with {status}: {stderr}");
        }
        let db = trellis_engine::store::open_sqlite(data).await.unwrap();
        if let Some((_, run_id)) = db.unfinished_runs().await.unwrap().into_iter().next() {
            let nodes = store.nodes(&run_id).await.unwrap();
            // Running is recorded before the attempt starts; wait until the
            // plugin itself has logged attempt 1, so the kill lands mid-attempt.
            let started = store.kv("local/capabilities", 1 << 20).get("middle").await.unwrap().is_some();
            if started && nodes.iter().any(|n| n.node_id == "middle" && n.status == NodeStatus::Running) {
                return run_id;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("middle never started");
}

async fn kv_json(store: &TenantStore, key: &str) -> Value {
    let kv = store.kv("local/capabilities", 1 << 20);
    let bytes = kv.get(key).await.unwrap().unwrap_or_else(|| panic!("kv {key} missing"));
    serde_json::from_slice(&bytes).unwrap()
}

async fn assert_resumed_cleanly(setup: &Setup, run_id: &str) {
    // The interrupted node holds until released: its second attempt may finish.
    let kv = store(setup.data.path()).await.kv("local/capabilities", 1 << 20);
    kv.set("release", b"true".to_vec()).await.unwrap();
    let output = trellis(setup, &["resume", "--json"]).output().unwrap();
    assert!(output.status.success(), "resume failed: {}", String::from_utf8_lossy(&output.stderr));

    let store = store(setup.data.path()).await;
    let run = store.get_run(run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let nodes = store.nodes(run_id).await.unwrap();
    let attempt = |id: &str| nodes.iter().find(|n| n.node_id == id).unwrap().attempt;
    assert_eq!((attempt("first"), attempt("middle"), attempt("last")), (1, 2, 1));

    // Execution counts kept by the plugin itself: finished nodes ran once.
    assert_eq!(kv_json(&store, "first").await, json!(1));
    assert_eq!(kv_json(&store, "last").await, json!(1));
    let key = format!("{run_id}:middle");
    assert_eq!(
        kv_json(&store, "middle").await,
        json!([{"attempt": 1, "idempotency_key": key}, {"attempt": 2, "idempotency_key": key}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_run_then_restart_completes_the_run() {
    let setup = setup();
    let mut child = trellis(&setup, &["run", setup.workflow.to_str().unwrap(), "--json"]).spawn().unwrap();
    let store = store(setup.data.path()).await;
    let run_id = wait_for_middle(&store, setup.data.path(), &mut child).await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let run = store.get_run(&run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Running);
    assert_resumed_cleanly(&setup, &run_id).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_leaves_a_resumable_run() {
    let setup = setup();
    let mut child = trellis(&setup, &["run", setup.workflow.to_str().unwrap()]).spawn().unwrap();
    let store = store(setup.data.path()).await;
    let run_id = wait_for_middle(&store, setup.data.path(), &mut child).await;
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("trellis resume {run_id}")), "{stderr}");
    assert_resumed_cleanly(&setup, &run_id).await;
}

const BACKING_OFF: &str = r#"
id: backing-off
nodes:
  - { id: first, uses: local/capabilities, kind: kv-counter, config: { key: first } }
  - id: flaky
    uses: local/capabilities
    kind: flaky
    config: { failures: 1 }
    retry: { max_attempts: 3, backoff: fixed, initial_ms: 3000 }
edges:
  - { from: first, to: flaky }
"#;

/// A back-off under way survives SIGKILL: after `resume` the node's second
/// attempt runs (not a third, not a fresh first) and the finished node
/// before it does not run again.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_a_retry_back_off_then_resume_retries_once() {
    let setup = setup();
    std::fs::write(&setup.workflow, BACKING_OFF).unwrap();
    let mut child = trellis(&setup, &["run", setup.workflow.to_str().unwrap(), "--json"]).spawn().unwrap();
    let store = store(setup.data.path()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let run_id = loop {
        assert!(std::time::Instant::now() < deadline, "the node never backed off");
        let db = trellis_engine::store::open_sqlite(setup.data.path()).await.unwrap();
        if let Some((_, run_id)) = db.unfinished_runs().await.unwrap().into_iter().next() {
            let nodes = store.nodes(&run_id).await.unwrap();
            if nodes.iter().any(|n| n.node_id == "flaky" && n.status == NodeStatus::Retrying) {
                break run_id;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().unwrap(); // SIGKILL, in the back-off
    child.wait().unwrap();

    let output = trellis(&setup, &["resume", "--json"]).output().unwrap();
    assert!(output.status.success(), "resume failed: {}", String::from_utf8_lossy(&output.stderr));
    let run = store.get_run(&run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let nodes = store.nodes(&run_id).await.unwrap();
    let flaky = nodes.iter().find(|n| n.node_id == "flaky").unwrap();
    assert_eq!(flaky.attempt, 2, "{flaky:?}");
    assert_eq!(kv_json(&store, "first").await, json!(1), "the finished node ran again");
}

const AGENT: &str = r#"
id: agent-crash
nodes:
  - id: assistant
    builtin: agent
    config:
      prompt: Count once, then say done.
      tools:
        - name: count
          uses: local/capabilities
          kind: kv-counter
          parameters: { type: object, properties: { key: { type: string } }, required: [key] }
          config: { key: "{{ input.key }}" }
"#;

/// An agent killed while its second model turn is in flight resumes from
/// its written steps: the first turn is not asked again, the finished tool
/// call does not run again (the plugin's own count stays 1), and only the
/// unfinished turn is asked again.
#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_agent_turn_then_resume_repeats_no_finished_turn_or_tool_call() {
    use trellis_engine::store::{AgentStep, ToolStatus};
    use trellis_fake_llm::{FakeLlm, Reply};

    let setup = setup();
    std::fs::write(&setup.workflow, AGENT).unwrap();
    let fake = FakeLlm::start().await;
    fake.push(Reply::openai_tool_calls(&[("call_1", "count", json!({"key": "tool"}))]));
    fake.push(Reply::Hang);
    let config = setup.data.path().join("trellis.toml");
    let provider = format!(
        "[llm.providers.fake]\nkind = \"openai\"\nbase_url = \"{}\"\ndefault_model = \"m\"\ndefault = true\n",
        fake.openai_base()
    );
    std::fs::write(&config, provider).unwrap();
    let config = config.to_str().unwrap();

    let workflow = setup.workflow.to_str().unwrap();
    let mut child = trellis(&setup, &["run", workflow, "--json", "--config", config]).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while fake.request_count() < 2 {
        assert!(std::time::Instant::now() < deadline, "the second turn was never asked");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("trellis exited early with {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL, while the model's second turn is awaited
    child.wait().unwrap();

    let store = store(setup.data.path()).await;
    let db = trellis_engine::store::open_sqlite(setup.data.path()).await.unwrap();
    let (_, run_id) = db.unfinished_runs().await.unwrap().into_iter().next().expect("the run is unfinished");
    let written = store.nodes(&run_id).await.unwrap().into_iter().find(|n| n.node_id == "assistant").unwrap();
    let steps = written.agent.as_ref().unwrap().steps.clone();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(matches!(&steps[1], AgentStep::Tool(t) if t.status == ToolStatus::Succeeded));
    assert_eq!(kv_json(&store, "tool").await, json!(1));

    fake.push(Reply::openai_text("done"));
    let output = trellis(&setup, &["resume", "--json", "--config", config]).output().unwrap();
    assert!(output.status.success(), "resume failed: {}", String::from_utf8_lossy(&output.stderr));
    let run = store.get_run(&run_id).await.unwrap().unwrap();
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.output, Some(json!({"answer": "done", "turns": 2, "tool_calls": 1})));
    // Execution counts: the tool ran once in all; the model was asked for
    // turn 1 once and for turn 2 twice (the killed ask, then the resumed one).
    assert_eq!(kv_json(&store, "tool").await, json!(1));
    assert_eq!(fake.request_count(), 3);
    let resumed = &fake.requests()[2];
    assert_eq!(resumed.messages().len(), 3, "task, turn 1 and the tool's result");
    assert_eq!(resumed.messages()[2]["tool_call_id"], "call_1");
}
