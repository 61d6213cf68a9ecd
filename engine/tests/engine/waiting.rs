//! Runs that wait are set aside: their drives end, and a signal or their
//! time takes them up again, in this engine or in one started afresh.

use std::time::Duration;

use serde_json::json;
use trellis_engine::store::{NodeStatus, RunRecord, RunStatus};

use crate::common::{GATED, Harness, engine_on, harness, test_config, workflow};

const PAUSED: &str = r#"
id: paused
nodes:
  - { id: pause, builtin: delay, config: { ms: 1200 } }
  - { id: next, uses: trellis/transform, kind: reshape, config: { template: 3 } }
edges:
  - { from: pause, to: next }
"#;

/// Starts a run leased to the engine and returns once its drive ended.
async fn started_and_set_aside(h: &Harness, yaml: &str) -> RunRecord {
    let run = h.engine.start(&h.store, &workflow(yaml), None, json!({})).await.unwrap();
    let drive = h.engine.spawn_drive(h.store.clone(), run.id.clone());
    let ended =
        tokio::time::timeout(Duration::from_secs(10), drive).await.expect("the drive ends").unwrap().unwrap().run;
    assert_eq!(ended.status, RunStatus::Running, "set aside, not finished");
    ended
}

async fn finished(h: &Harness, run_id: &str) -> RunRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let run = h.engine.wait_finished(&h.store, run_id, deadline).await.unwrap();
    assert!(run.status.is_finished(), "{run_id} finished within 10 s: {:?}", run.status);
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn an_approval_sets_the_run_aside_until_decided() {
    let h = harness().await;
    let run = started_and_set_aside(&h, GATED).await;
    let waiting = h.wait_for(&run.id, "wait", NodeStatus::Waiting).await;
    assert!(waiting.signal.is_none());

    h.engine.decide(&h.store, &run.id, "wait", json!({"approved": true})).await.unwrap();
    let done = finished(&h, &run.id).await;
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.output, Some(json!(2)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delay_sets_the_run_aside_until_its_time() {
    let h = harness().await;
    let run = started_and_set_aside(&h, PAUSED).await;
    let pause = h.wait_for(&run.id, "pause", NodeStatus::Waiting).await;
    let wake_at = pause.wake_at.expect("a wake time");

    let done = finished(&h, &run.id).await;
    assert_eq!(done.status, RunStatus::Succeeded);
    let (_, nodes) = h.engine.details(&h.store, &run.id).await.unwrap();
    let next = nodes.iter().find(|n| n.node_id == "next").unwrap();
    let started = next.started_at.expect("started");
    assert!(started >= wake_at, "not before its time: {started} < {wake_at}");
    assert!(started < wake_at + 2_000, "taken up within 2 s of its time: {}", started - wake_at);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_set_aside_run_is_cancelled_on_request() {
    let h = harness().await;
    let run = started_and_set_aside(&h, GATED).await;
    h.engine.cancel(&h.store, &run.id).await.unwrap();
    let done = finished(&h, &run.id).await;
    assert_eq!(done.status, RunStatus::Cancelled);
    let (_, nodes) = h.engine.details(&h.store, &run.id).await.unwrap();
    assert!(nodes.iter().all(|n| n.status == NodeStatus::Cancelled), "{nodes:?}");
}

/// An engine started afresh on the store (a restart) claims none of the
/// waiting runs, and takes each up when its decision comes.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_engine_reads_no_waiting_run_until_it_is_woken() {
    let h = harness().await;
    let mut runs = Vec::new();
    for _ in 0..20 {
        runs.push(started_and_set_aside(&h, GATED).await);
    }
    let restarted = engine_on(h.engine.store().clone(), test_config()).await;
    let resumed = restarted.resume_all().await.unwrap();
    assert!(resumed.is_empty(), "no waiting run was claimed: {resumed:?}");

    for run in &runs {
        restarted.decide(&h.store, &run.id, "wait", json!({"approved": true})).await.unwrap();
    }
    for run in &runs {
        assert_eq!(finished(&h, &run.id).await.status, RunStatus::Succeeded);
    }
}
