//! Which top-level runs this process drives. Each is leased to it in the
//! store: recorded already held (a run it starts), or claimed (a run it
//! resumes or takes over). A heartbeat renews the leases; a run whose lease
//! another worker took after it lapsed is no longer driven here, and a run
//! whose worker stopped renewing is claimed here and resumed from its
//! records (finished nodes are not run again; the interrupted one runs
//! again with the next attempt and the same idempotency key).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};

use super::{Driven, Engine, EngineError};
use crate::store::{Lease, RunRecord, TenantId, TenantStore, now_ms};

pub(super) struct Leases {
    /// This process, as the store's leases name it.
    worker: String,
    lease: Duration,
    /// The top-level runs driven here.
    driving: Mutex<HashMap<(TenantId, String), AbortHandle>>,
    /// Held while claiming, so claims made at once do not overfill.
    pub(super) claiming: tokio::sync::Mutex<()>,
    /// Runs the last heartbeat found leased here but not driven.
    orphans: Mutex<HashSet<(TenantId, String)>>,
}

impl Leases {
    pub(super) fn new(lease: Duration) -> Self {
        Leases {
            worker: uuid::Uuid::now_v7().to_string(),
            lease,
            driving: Mutex::default(),
            claiming: tokio::sync::Mutex::new(()),
            orphans: Mutex::default(),
        }
    }

    pub(super) fn worker(&self) -> &str {
        &self.worker
    }

    pub(super) fn until(&self) -> i64 {
        now_ms().saturating_add(i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX))
    }

    /// The lease a run this process records is created with.
    pub(super) fn new_lease(&self) -> Lease<'_> {
        Lease { worker: &self.worker, until: self.until() }
    }

    fn driving(&self) -> MutexGuard<'_, HashMap<(TenantId, String), AbortHandle>> {
        self.driving.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Top-level runs being driven here now.
    pub(super) fn driving_count(&self) -> usize {
        self.driving().values().filter(|task| !task.is_finished()).count()
    }
}

impl Engine {
    /// This process, as the store's leases name it.
    pub fn worker_id(&self) -> &str {
        &self.inner.leases.worker
    }

    /// Drives a top-level run on a task of its own, tracked as leased here.
    /// On a shared store, a drive that ends makes room: more work is
    /// claimed.
    pub(super) fn drive_leased<F>(
        &self,
        tenant: TenantId,
        run_id: String,
        drive: F,
    ) -> JoinHandle<Result<Driven, EngineError>>
    where
        F: Future<Output = Result<Driven, EngineError>> + Send + 'static,
    {
        let key = (tenant, run_id);
        let engine = self.clone();
        let done = key.clone();
        let task = tokio::spawn(async move {
            let result = drive.await;
            engine.inner.leases.driving().remove(&done);
            if engine.inner.store.shared() || engine.inner.watcher.has_work() {
                let engine = engine.clone();
                tokio::spawn(async move { engine.take_work().await });
            }
            result
        });
        let mut driving = self.inner.leases.driving();
        // Aborted drives leave their entry; without a heartbeat (an
        // embedded engine), the map is swept as it doubles.
        if driving.len() >= 1024 && driving.len().is_power_of_two() {
            driving.retain(|_, task| !task.is_finished());
        }
        if !task.is_finished() {
            driving.insert(key, task.abort_handle());
        }
        task
    }

    /// Drives a run this process has just claimed, from its records.
    pub(super) fn drive_claimed(&self, tenant: TenantId, run_id: String) -> JoinHandle<Result<Driven, EngineError>> {
        let engine = self.clone();
        let store = engine.inner.store.tenant(tenant.clone());
        let id = run_id.clone();
        self.drive_leased(tenant, run_id, async move { engine.drive_leased_run(&store, &id).await })
    }

    /// Claims a recorded run, then drives it; when another worker holds a
    /// live lease on it, answers the run as it stands instead.
    pub(super) fn claim_and_drive(
        &self,
        store: TenantStore,
        run_id: String,
    ) -> JoinHandle<Result<Driven, EngineError>> {
        let engine = self.clone();
        let tenant = store.tenant().clone();
        let (claimed_tenant, claimed_id) = (tenant.clone(), run_id.clone());
        let drive = async move {
            let leases = &engine.inner.leases;
            let store_db = &engine.inner.store;
            if !store_db.claim_run(&claimed_tenant, &claimed_id, &leases.worker, now_ms(), leases.until()).await? {
                let run = store.get_run(&claimed_id).await?.ok_or(EngineError::RunNotFound(claimed_id))?;
                return Ok(Driven { run, nodes: None });
            }
            let result = engine.drive_leased_run(&store, &claimed_id).await;
            if let Err(error) = &result {
                tracing::error!(%error, run = %claimed_id, "driving a run failed");
            }
            result
        };
        self.drive_leased(tenant, run_id, drive)
    }

    /// Drives unfinished top-level runs, when this process starts, until
    /// each has ended or been set aside. Alone in its store (it holds the
    /// data directory), the leases of earlier processes are void. Runs are
    /// claimed a page at a time (`max_claimed_runs`), so a restart never
    /// reads every unfinished run at once; set-aside runs are not read at
    /// all until they are due.
    pub async fn resume_all(&self) -> Result<Vec<RunRecord>, EngineError> {
        let leases = &self.inner.leases;
        let store = &self.inner.store;
        if !store.shared() {
            store.release_leases_except(&leases.worker).await?;
        }
        self.learn_next_due().await;
        let mut ended = Vec::new();
        loop {
            let room = self.inner.config.max_claimed_runs.saturating_sub(leases.driving_count()).max(1);
            let room = u32::try_from(room).unwrap_or(u32::MAX);
            let claimed = store.claim_runs(&leases.worker, now_ms(), leases.until(), room).await?;
            if claimed.is_empty() {
                return Ok(ended);
            }
            let drives: Vec<_> =
                claimed.into_iter().map(|(tenant, run_id)| self.drive_claimed(tenant, run_id)).collect();
            for drive in drives {
                match drive.await {
                    Ok(result) => ended.push(result?.run),
                    // Stopped: another worker took the run over.
                    Err(stopped) if stopped.is_cancelled() => {}
                    Err(panicked) => tracing::error!(error = %panicked, "driving a resumed run panicked"),
                }
            }
        }
    }

    /// One heartbeat: renews the leases held here, stops driving any run
    /// another worker took, and takes over runs whose lease lapsed (or that
    /// were never leased), as many as there is room for.
    pub async fn beat(&self) -> Result<(), EngineError> {
        let leases = &self.inner.leases;
        let held: HashSet<(TenantId, String)> =
            self.inner.store.renew_leases(&leases.worker, leases.until()).await?.into_iter().collect();
        let unheld: Vec<((TenantId, String), AbortHandle)> = {
            let mut driving = leases.driving();
            driving.retain(|_, task| !task.is_finished());
            driving.iter().filter(|(key, _)| !held.contains(*key)).map(|(k, t)| (k.clone(), t.clone())).collect()
        };
        let store = &self.inner.store;
        for ((tenant, run_id), task) in unheld {
            // Not renewed: another worker took it; or this process claimed
            // it just after the renewal (the claim is taken again, which
            // succeeds unless another worker holds a live lease); or it has
            // just finished and its drive is winding down (starting its
            // error workflow, answering a wait), which must not be cut short.
            if store.claim_run(&tenant, &run_id, &leases.worker, now_ms(), leases.until()).await? {
                continue;
            }
            let run = store.tenant(tenant.clone()).get_run(&run_id).await?;
            if run.is_some_and(|run| !run.status.is_finished()) {
                tracing::info!(run = %run_id, "another worker took over a run driven here");
                task.abort();
                leases.driving().remove(&(tenant, run_id));
            }
        }
        self.release_orphans(held).await?;
        self.take_work().await;
        // Runs another process set aside are due here too if it is gone.
        self.learn_next_due().await;
        Ok(())
    }

    /// Gives up the leases of runs held here that no drive here is working
    /// on (a drive that ended in an error, with its run unfinished), so
    /// that a worker claims and resumes them. A run is given up only when
    /// two heartbeats in a row found it so: one just recorded, between its
    /// admission and the start of its drive, is not.
    async fn release_orphans(&self, held: HashSet<(TenantId, String)>) -> Result<(), EngineError> {
        let leases = &self.inner.leases;
        let orphans: HashSet<(TenantId, String)> = {
            let driving = leases.driving();
            held.into_iter().filter(|key| driving.get(key).is_none_or(|task| task.is_finished())).collect()
        };
        let previous =
            std::mem::replace(&mut *leases.orphans.lock().unwrap_or_else(|p| p.into_inner()), orphans.clone());
        for (tenant, run_id) in orphans.intersection(&previous) {
            tracing::warn!(run = %run_id, "no drive here works on a leased run: releasing it");
            self.inner.store.release_run(tenant, run_id, &leases.worker).await?;
        }
        Ok(())
    }

    /// Beats every third of the lease, for as long as the process runs.
    pub fn keep_leases(&self) -> JoinHandle<()> {
        let engine = self.clone();
        let period = (self.inner.leases.lease / 3).max(Duration::from_millis(10));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if let Err(error) = engine.beat().await {
                    tracing::error!(%error, "renewing run leases failed");
                }
            }
        })
    }
}
