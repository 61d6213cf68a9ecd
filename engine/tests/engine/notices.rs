//! Processes on one store tell each other what changed. Here two engines
//! share a store whose drivers poll it only once an hour: an approval or
//! a cancel written through one reaches the other's driver by notice, and
//! a plan changed by the operator is seen at once, not when a cache entry
//! expires. On PostgreSQL each notice makes the trip through
//! `LISTEN/NOTIFY`.

use std::time::{Duration, Instant};

use serde_json::json;
use trellis_engine::executor::EngineConfig;
use trellis_engine::quota::Plan;
use trellis_engine::store::{NodeStatus, RunStatus, StorePlans, TenantId};

use crate::common::{GATED, engine_on, harness_with, test_config, workflow};

/// Waits held in memory (no run is set aside): only a signal wakes a
/// driver, since none reads the store on a timer.
fn in_memory_waits() -> EngineConfig {
    EngineConfig { set_aside: None, ..test_config() }
}

#[tokio::test(flavor = "multi_thread")]
async fn approvals_and_cancels_reach_another_engines_driver_by_notice() {
    let h = harness_with(in_memory_waits()).await;
    let other = engine_on(h.engine.store().clone(), in_memory_waits()).await;
    h.engine.follow_notices(|_| {});
    other.follow_notices(|_| {});
    let doc = workflow(GATED);

    let approved = h.engine.start(&h.store, &doc, None, json!({})).await.unwrap();
    let driving = h.engine.spawn_drive(h.store.clone(), approved.id.clone());
    h.wait_for(&approved.id, "wait", NodeStatus::Waiting).await;
    let cancelled = h.engine.start(&h.store, &doc, None, json!({})).await.unwrap();
    let driving_cancelled = h.engine.spawn_drive(h.store.clone(), cancelled.id.clone());
    h.wait_for(&cancelled.id, "wait", NodeStatus::Waiting).await;

    let asked = Instant::now();
    other.decide(&h.store, &approved.id, "wait", json!({"approved": true})).await.unwrap();
    let run = tokio::time::timeout(Duration::from_secs(10), driving).await.expect("woken by the notice").unwrap();
    assert_eq!(run.unwrap().run.status, RunStatus::Succeeded);
    other.cancel(&h.store, &cancelled.id).await.unwrap();
    let run =
        tokio::time::timeout(Duration::from_secs(10), driving_cancelled).await.expect("woken by the notice").unwrap();
    assert_eq!(run.unwrap().run.status, RunStatus::Cancelled);
    assert!(asked.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_changed_elsewhere_is_seen_before_the_cache_would_expire() {
    let h = harness_with(test_config()).await;
    h.engine.follow_notices(|_| {});
    let created = trellis_engine::auth::create_tenant(h.engine.store(), "Acme", "o@acme.test").await.unwrap();
    let tenant = TenantId::new(created.tenant_id);
    let store = h.engine.store().tenant(tenant.clone());
    let before = h.engine.plan(&store).await.unwrap();
    // The operator's change, through the store only (as `trellis admin
    // set-plan` in another process does).
    let changed = Plan { workflows: before.workflows + 7, ..(*before).clone() };
    let set = Instant::now();
    h.engine.store().set_plan(&tenant, &changed).await.unwrap();
    loop {
        if h.engine.plan(&store).await.unwrap().workflows == changed.workflows {
            break;
        }
        assert!(set.elapsed() < Duration::from_millis(1000), "still the cached plan");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
