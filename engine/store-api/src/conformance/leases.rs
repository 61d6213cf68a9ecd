//! Claiming work under leases: what a cluster of workers shares.

use std::collections::BTreeSet;

use crate::{Admission, Lease, ParentRef, RunQuotas, RunStatus, Store, TenantId};

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
