//! Claiming work under leases: what a cluster of workers shares.

use std::collections::BTreeSet;

use crate::{Admission, Lease, NEVER_DUE, NodeRecord, NodeStatus, ParentRef, RunQuotas, RunStatus, Store, TenantId};

use super::run;

pub async fn runs_are_claimed_under_leases_that_lapse(store: &Store) {
    let (acme, globex) = (store.tenant(TenantId::new("acme")), store.tenant(TenantId::new("globex")));
    for id in ["a1", "a2"] {
        acme.insert_run(&run(id)).await.unwrap();
    }
    globex.insert_run(&run("g1")).await.unwrap();
    let mut done = run("done");
    done.status = RunStatus::Succeeded;
    acme.insert_run(&done).await.unwrap();
    let mut child = run("a1.m.0");
    child.parent = Some(ParentRef { run_id: "a1".into(), node_id: "m".into(), item: 0 });
    acme.insert_run(&child).await.unwrap();

    // w1 takes two, oldest first, across tenants; w2 the rest. Finished
    // runs and child runs (driven by their parent's worker) are never claimed.
    let first = store.claim_runs("w1", 1_000, 31_000, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let second = store.claim_runs("w2", 1_000, 31_000, 10).await.unwrap();
    assert_eq!(second.len(), 1);
    let all: BTreeSet<_> = first.iter().chain(&second).map(|(t, id)| (t.as_str().to_owned(), id.clone())).collect();
    let expected = [("acme", "a1"), ("acme", "a2"), ("globex", "g1")].map(|(t, id)| (t.to_owned(), id.to_owned()));
    assert_eq!(all, BTreeSet::from(expected));
    assert!(store.claim_runs("w3", 1_000, 31_000, 10).await.unwrap().is_empty(), "every lease is live");

    // The heartbeat keeps w1's leases past their first end.
    assert_eq!(store.renew_leases("w1", 61_000).await.unwrap().len(), 2);
    // w2 stops renewing: at 40 s its lease has lapsed and w3 takes the run.
    let taken = store.claim_runs("w3", 40_000, 70_000, 10).await.unwrap();
    assert_eq!(taken, second, "only the lapsed lease");
    assert!(store.renew_leases("w2", 90_000).await.unwrap().is_empty(), "w2 learns it lost the run");
    assert!(!store.claim_run(&second[0].0, &second[0].1, "w2", 40_000, 90_000).await.unwrap(), "w3 holds it");

    // A run w1 records is its own from the start: no sweep takes it.
    let quotas = RunQuotas { concurrent_runs: 100, runs_per_day: 100 };
    let lease = Some(Lease { worker: "w1", until: 70_000 });
    assert_eq!(acme.admit_run(&run("a3"), "2026-12-07", quotas, lease).await.unwrap(), Admission::Admitted);
    assert!(store.claim_runs("w5", 40_000, 90_000, 10).await.unwrap().is_empty(), "a3 is held by w1");
    assert!(store.claim_run(&TenantId::new("acme"), "a3", "w1", 40_000, 70_000).await.unwrap());
    assert!(store.claim_run(&TenantId::new("acme"), "a3", "w1", 40_000, 70_000).await.unwrap(), "again: still w1's");
    assert!(!store.claim_run(&TenantId::new("acme"), "done", "w1", 40_000, 70_000).await.unwrap(), "finished");

    // A finished run's lease is not renewed; a released one is free at once.
    let (tenant, id) = first[0].clone();
    let handle = store.tenant(tenant.clone());
    let mut finished = handle.get_run(&id).await.unwrap().unwrap();
    finished.status = RunStatus::Succeeded;
    handle.update_run(&finished).await.unwrap();
    let held = store.renew_leases("w1", 100_000).await.unwrap();
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(!held.contains(&(tenant, id)));
    store.release_run(&TenantId::new("acme"), "a3", "w1").await.unwrap();
    let freed = store.claim_runs("w4", 50_000, 80_000, 10).await.unwrap();
    assert_eq!(freed, [(TenantId::new("acme"), "a3".to_owned())]);
}

/// Eight workers claiming at once never share a run.
pub async fn concurrent_claims_take_disjoint_runs(store: &Store) {
    let tenant = store.tenant(TenantId::new("t"));
    for i in 0..40 {
        tenant.insert_run(&run(&format!("r{i:02}"))).await.unwrap();
    }
    let claims = (0..8).map(|w| {
        let store = store.clone();
        tokio::spawn(async move { store.claim_runs(&format!("w{w}"), 1_000, 31_000, 7).await.unwrap() })
    });
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for claim in claims.collect::<Vec<_>>() {
        for (_, id) in claim.await.unwrap() {
            total += 1;
            assert!(seen.insert(id.clone()), "{id} claimed twice");
        }
    }
    assert_eq!(total, 40, "eight claims of seven cover all forty");
}

/// A run that only waits is set aside: no lease, nothing renewed; a claim
/// takes it when its time comes or a signal wakes it, and a signal its
/// driver has not acted on keeps it from being set aside.
pub async fn set_aside_runs_are_claimed_when_due_or_woken(store: &Store) {
    // Leases that outlast every time the scenario claims at.
    const FAR: i64 = 1 << 60;
    let acme = store.tenant(TenantId::new("acme"));
    let tenant = TenantId::new("acme");
    for id in ["timer", "approval", "decided", "cancelled"] {
        acme.insert_run(&run(id)).await.unwrap();
    }
    assert_eq!(store.claim_runs("w1", 1_000, FAR, 10).await.unwrap().len(), 4);

    assert!(!acme.set_aside_run("timer", "w2", 5_000).await.unwrap(), "w2 does not hold it");
    assert!(acme.set_aside_run("timer", "w1", 5_000).await.unwrap());
    assert!(acme.set_aside_run("approval", "w1", NEVER_DUE).await.unwrap());
    // Waiting, they hold no place among the tenant's concurrent runs.
    let quotas = RunQuotas { concurrent_runs: 3, runs_per_day: 100 };
    assert_eq!(acme.admit_run(&run("third"), "2026-12-07", quotas, None).await.unwrap(), Admission::Admitted);
    let refused = acme.admit_run(&run("fourth"), "2026-12-07", quotas, None).await.unwrap();
    assert!(matches!(refused, Admission::Refused(_)), "{refused:?}");
    assert_eq!(store.claim_runs("w1", 1_000, FAR, 10).await.unwrap().len(), 1, "the third");
    let held: BTreeSet<String> = store.renew_leases("w1", FAR).await.unwrap().into_iter().map(|(_, id)| id).collect();
    let expected = ["cancelled", "decided", "third"].map(str::to_owned);
    assert_eq!(held, BTreeSet::from(expected), "set-aside runs hold no lease");
    assert_eq!(store.next_due().await.unwrap(), Some(5_000), "a run woken only by a signal has no time");
    assert!(store.claim_runs("w3", 4_000, FAR, 10).await.unwrap().is_empty(), "not due yet");
    let due = store.claim_runs("w3", 5_000, FAR, 10).await.unwrap();
    assert_eq!(due, [(tenant.clone(), "timer".to_owned())]);
    assert_eq!(store.next_due().await.unwrap(), None);
    assert!(store.claim_runs("w3", 1 << 50, FAR, 10).await.unwrap().is_empty(), "no time wakes it");
    acme.wake_run("approval").await.unwrap();
    let woken = store.claim_runs("w3", 6_000, FAR, 10).await.unwrap();
    assert_eq!(woken, [(tenant.clone(), "approval".to_owned())], "a signal makes it due");
    assert!(acme.set_aside_run("approval", "w3", NEVER_DUE).await.unwrap(), "and it may wait again");
    assert!(store.claim_run(&tenant, "approval", "w4", 7_000, FAR).await.unwrap(), "claimed by name");
    assert!(store.claim_runs("w5", 1 << 50, FAR, 10).await.unwrap().is_empty(), "no longer set aside");

    // A decision written on a waiting node, not yet acted on, or a cancel
    // request, keeps the run with its driver.
    let mut waiting = NodeRecord::pending("decided", "ask");
    waiting.status = NodeStatus::Waiting;
    acme.put_node("decided", &waiting).await.unwrap();
    waiting.signal = Some(serde_json::json!({"approved": true}));
    acme.put_node("decided", &waiting).await.unwrap();
    assert!(!acme.set_aside_run("decided", "w1", NEVER_DUE).await.unwrap(), "a decision waits to be read");
    waiting.status = NodeStatus::Succeeded;
    acme.put_node("decided", &waiting).await.unwrap();
    assert!(acme.set_aside_run("decided", "w1", NEVER_DUE).await.unwrap(), "once read, it may wait");
    let mut cancelled = acme.get_run("cancelled").await.unwrap().unwrap();
    cancelled.cancel_requested = true;
    acme.update_run(&cancelled).await.unwrap();
    assert!(!acme.set_aside_run("cancelled", "w1", NEVER_DUE).await.unwrap(), "a cancel waits to be read");
}

/// A process alone in its store voids its predecessors' leases, not its own.
pub async fn a_lone_process_takes_over_earlier_leases(store: &Store) {
    let acme = store.tenant(TenantId::new("acme"));
    for id in ["mine", "theirs"] {
        acme.insert_run(&run(id)).await.unwrap();
    }
    let tenant = TenantId::new("acme");
    assert!(store.claim_run(&tenant, "mine", "now", 1_000, 31_000).await.unwrap());
    assert!(store.claim_run(&tenant, "theirs", "before", 1_000, 31_000).await.unwrap());
    store.release_leases_except("now").await.unwrap();
    let taken = store.claim_runs("now", 2_000, 32_000, 10).await.unwrap();
    assert_eq!(taken, [(tenant, "theirs".to_owned())]);
}
