//! Fairness: one tenant's queue does not starve another's.
//!
//! Bound: execution slots are handed out round-robin across tenants with
//! waiting nodes, so a tenant's node waits for at most one slot release per
//! other waiting tenant. With every slot held by nodes of duration D, the
//! first release comes within D, so the second tenant's node starts within
//! D (plus scheduling) no matter how many runs the first tenant queued;
//! with FIFO slots it would wait for all of them (D + 200 × d / slots).
//! Here the nodes holding the slots when the quiet tenant arrives hold them
//! until the test releases them, once every queued node and the quiet
//! tenant's are waiting: no clock is raced. d = 20 ms the queued nodes'.

use std::time::{Duration, Instant};

use serde_json::json;
use trellis_engine::executor::EngineConfig;
use trellis_engine::store::{RunStatus, TenantId};
use trellis_host_api::capabilities::KvStore;

use crate::common::*;
use trellis_engine::store::TenantStoreExt;

const SLOTS: usize = 4;
const QUEUED: usize = 200;
const NODE_MS: u64 = 20;

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_with_one_run_is_served_while_another_has_two_hundred_queued() {
    let h = harness_with(EngineConfig { max_concurrency: SLOTS, ..test_config() }).await;
    let busy = h.engine.store().tenant(TenantId::new("busy"));
    let quiet = h.engine.store().tenant(TenantId::new("quiet"));
    let sleeping = |ms: u64, key: &str, hold: &str| {
        workflow(&format!(
            "id: slow\nnodes:\n  - {{ id: sleep, uses: local/capabilities, kind: slow, config: {{ ms: {ms}, key: {key}{hold} }} }}\n"
        ))
    };
    let slow = sleeping(NODE_MS, "queued", "");

    let mut busy_runs = Vec::new();
    for i in 0..SLOTS {
        // Holds its slot until the test writes `release`.
        let blocker = sleeping(0, &format!("blocker{i}"), ", hold_until: release");
        let run = h.engine.start(&busy, &blocker, None, json!({})).await.unwrap();
        h.engine.spawn_drive(busy.clone(), run.id.clone());
        busy_runs.push(run.id);
    }
    // The blockers record themselves in kv once they run, i.e. hold a slot.
    let kv = busy.kv("local/capabilities", 1 << 20);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mut running = 0;
        for i in 0..SLOTS {
            running += usize::from(kv.get(&format!("blocker{i}")).await.unwrap().is_some());
        }
        if running == SLOTS {
            break;
        }
        assert!(Instant::now() < deadline, "the blockers never all ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for _ in 0..QUEUED {
        let run = h.engine.start(&busy, &slow, None, json!({})).await.unwrap();
        h.engine.spawn_drive(busy.clone(), run.id.clone());
        busy_runs.push(run.id);
    }
    // Wait until they all queue behind the blockers.
    while h.engine.queue_depths().iter().map(|(_, n)| n).sum::<usize>() < QUEUED {
        if Instant::now() > deadline {
            let (run, nodes) = h.engine.details(&busy, &busy_runs[0]).await.unwrap();
            let (last, last_nodes) = h.engine.details(&busy, busy_runs.last().unwrap()).await.unwrap();
            panic!(
                "the busy tenant's runs never queued: {:?}\n{run:?}\n{nodes:?}\n{last:?}\n{last_nodes:?}",
                h.engine.queue_depths()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let started = Instant::now();
    let run = h.engine.start(&quiet, &slow, None, json!({})).await.unwrap();
    let quiet_run = h.engine.spawn_drive(quiet.clone(), run.id.clone());
    // Once the quiet tenant's node waits too, the blockers let go.
    while !h.engine.queue_depths().iter().any(|(tenant, n)| tenant.as_str() == "quiet" && *n == 1) {
        assert!(Instant::now() < deadline, "the quiet tenant's node never queued: {:?}", h.engine.queue_depths());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    kv.set("release", b"true".to_vec()).await.unwrap();
    let finished = quiet_run.await.unwrap().unwrap().run;
    let latency = started.elapsed();
    assert_eq!(finished.status, RunStatus::Succeeded);

    let mut done_before = 0;
    for id in &busy_runs {
        let other = busy.get_run(id).await.unwrap().unwrap();
        if other.finished_at.is_some_and(|at| at <= finished.finished_at.unwrap()) {
            done_before += 1;
        }
    }
    eprintln!(
        "quiet tenant's run took {latency:?} ({NODE_MS} ms node, {SLOTS} slots) while {done_before} of the busy \
         tenant's {QUEUED} runs finished"
    );
    // Round-robin: the quiet run took one of the first slots released, so
    // only the blockers and the runs taking slots beside it finished first.
    assert!(done_before <= 3 * SLOTS, "{done_before} busy runs finished first");
    assert!(h.engine.queue_depths().iter().any(|(_, n)| *n > QUEUED / 2), "the busy queue was still long");
    for id in busy_runs {
        h.engine.cancel(&busy, &id).await.unwrap();
    }
}
