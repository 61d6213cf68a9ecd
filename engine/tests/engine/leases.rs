//! Runs are leased to the worker that drives them. A worker that stops
//! renewing loses its run to another, which finishes it without running
//! its finished nodes again; the first stops driving it at its next beat.

use std::time::Duration;

use serde_json::json;
use trellis_engine::executor::EngineConfig;
use trellis_engine::store::{NodeStatus, RunStatus, TenantId, now_ms};

use crate::common::{engine_on, harness_with, node, test_config, workflow};

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_worker_stops_renewing_is_taken_over_and_finished() {
    // The run waits in memory, driven and leased (not set aside).
    let config = EngineConfig { lease: Duration::from_millis(500), set_aside: None, ..test_config() };
    let h = harness_with(config.clone()).await;
    let other = engine_on(h.engine.store().clone(), config).await;
    let doc = workflow(
        r#"
id: handover
nodes:
  - { id: first, uses: trellis/transform, kind: reshape, config: { template: 1 } }
  - { id: wait, builtin: approval }
  - { id: next, uses: trellis/transform, kind: reshape, config: { template: 2 } }
edges:
  - { from: first, to: wait }
  - { from: wait, port: approved, to: next }
"#,
    );
    let run = h.engine.start(&h.store, &doc, None, json!({})).await.unwrap();
    let driving = h.engine.spawn_drive(h.store.clone(), run.id.clone());
    h.wait_for(&run.id, "wait", NodeStatus::Waiting).await;
    let first = node(&h.store.nodes(&run.id).await.unwrap(), "first").clone();
    assert_eq!((first.status, first.attempt), (NodeStatus::Succeeded, 1));

    // Past the lease, but its worker beats first: the other takes nothing.
    tokio::time::sleep(Duration::from_millis(600)).await;
    h.engine.beat().await.unwrap();
    other.beat().await.unwrap();
    let store = h.engine.store();
    let held = store.renew_leases(h.engine.worker_id(), now_ms() + 500).await.unwrap();
    assert_eq!(held, [(TenantId::new("t1"), run.id.clone())], "still the first worker's");

    // The first worker stops beating: once its lease lapses, the other
    // takes the run over and resumes it from its records.
    tokio::time::sleep(Duration::from_millis(600)).await;
    other.beat().await.unwrap();
    assert!(store.renew_leases(h.engine.worker_id(), now_ms() + 500).await.unwrap().is_empty());
    assert_eq!(store.renew_leases(other.worker_id(), now_ms() + 5_000).await.unwrap().len(), 1);
    // At its next beat the first worker learns it lost the run and stops.
    h.engine.beat().await.unwrap();
    let stopped = driving.await;
    assert!(stopped.is_err_and(|e| e.is_cancelled()), "the first worker no longer drives the run");

    other.decide(&h.store, &run.id, "wait", json!({"approved": true})).await.unwrap();
    let mut finished = None;
    for _ in 0..400 {
        let current = h.store.get_run(&run.id).await.unwrap().unwrap();
        if current.status.is_finished() {
            finished = Some(current);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let finished = finished.expect("the run finished");
    assert_eq!(finished.status, RunStatus::Succeeded, "{:?}", finished.error);
    let nodes = h.store.nodes(&run.id).await.unwrap();
    assert_eq!(node(&nodes, "first"), &first, "a finished node is not run again");
    assert_eq!(node(&nodes, "next").status, NodeStatus::Succeeded);
}
