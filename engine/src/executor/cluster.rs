//! Working beside other processes on one database.
//!
//! Every process follows the notices of the others
//! ([`Engine::follow_notices`]): an approval or cancel wakes the drivers
//! here, a change to a tenant's installs, grants or plan drops what this
//! process cached of it, and work recorded elsewhere is claimed when this
//! process executes and has room. A process that only records runs (the
//! API of `serve --no-worker`) leaves them unleased for the workers and
//! learns of their end from a notice.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use super::{Driven, Engine, EngineError};
use crate::store::{Area, Notice, RunRecord, TenantStore, now_ms};

/// How often a process waiting for another's run reads it anyway, in case
/// its end's notice was lost.
const FINISH_CHECK: Duration = Duration::from_secs(2);
/// How long a process waits for another's run at most (the longest
/// `?wait` the API honours); then it answers the run as it stands.
const FINISH_PATIENCE: Duration = Duration::from_secs(60);

impl Engine {
    /// Whether this process drives runs, or only records them for the
    /// workers.
    pub fn executes(&self) -> bool {
        self.inner.config.executes
    }

    /// Acts on every process's notices for as long as this one runs; `also`
    /// sees each notice after the engine did (the API's own caches).
    pub fn follow_notices(&self, also: impl Fn(&Notice) + Send + Sync + 'static) -> JoinHandle<()> {
        let engine = self.clone();
        let mut notices = self.inner.store.notices();
        tokio::spawn(async move {
            loop {
                let notice = match notices.recv().await {
                    Ok(notice) => notice,
                    Err(RecvError::Lagged(_)) => Notice::Resync,
                    Err(RecvError::Closed) => return,
                };
                engine.on_notice(&notice).await;
                also(&notice);
            }
        })
    }

    async fn on_notice(&self, notice: &Notice) {
        let inner = &self.inner;
        match notice {
            Notice::Signal { tenant, run } => {
                inner.signals.signal(tenant, run);
                self.work_arrived();
            }
            Notice::Changed { tenant, area: Area::Installs } => inner.plugins.forget(Some(tenant)),
            Notice::Changed { tenant, area: Area::Grants } => inner.config.secrets.forget_grants(Some(tenant)),
            Notice::Changed { tenant, area: Area::Plan } => inner.plans.forget(Some(tenant)),
            Notice::Changed { tenant, area: Area::Workflows } => self.forget_saved(Some(tenant)),
            Notice::Finished { .. } => {}
            Notice::Work => self.take_work().await,
            Notice::Resync => {
                inner.signals.signal_all();
                self.work_arrived();
                inner.plugins.forget(None);
                inner.config.secrets.forget_grants(None);
                inner.plans.forget(None);
                self.forget_saved(None);
                self.take_work().await;
            }
        }
    }

    /// Tells the other processes; a notice that cannot be sent is logged,
    /// since what it announces is already committed and is seen anyway
    /// (at the next heartbeat, or when a cache entry expires).
    pub async fn announce(&self, notice: Notice) {
        if let Err(error) = self.inner.store.notify(&notice).await {
            tracing::warn!(%error, ?notice, "a notice could not be sent");
        }
    }

    /// A tenant's `area` changed through this process: forgotten here at
    /// once, and by the other processes when the notice reaches them.
    pub async fn changed(&self, tenant: &crate::store::TenantId, area: Area) {
        self.on_notice(&Notice::Changed { tenant: tenant.clone(), area }).await;
        self.announce(Notice::Changed { tenant: tenant.clone(), area }).await;
    }

    /// Claims as many unleased or lapsed runs as this process has room
    /// for, and drives them.
    pub(super) async fn take_work(&self) {
        if !self.executes() {
            return;
        }
        let leases = &self.inner.leases;
        // One claim at a time, so two wake-ups do not both fill the room.
        let _claiming = leases.claiming.lock().await;
        // The mark is cleared before claiming: work that arrives meanwhile
        // marks it again.
        self.inner.watcher.take_work_mark();
        let max = self.inner.config.max_claimed_runs;
        let driving = leases.driving_count();
        let room = max.saturating_sub(driving);
        // Claimed a batch at a time: one claim per ending drive would be a
        // write per run.
        if room == 0 || (driving > 0 && room < max.div_ceil(4)) {
            self.inner.watcher.mark_work();
            return;
        }
        let room = u32::try_from(room).unwrap_or(u32::MAX);
        let taken = match self.inner.store.claim_runs(leases.worker(), now_ms(), leases.until(), room).await {
            Ok(taken) => taken,
            Err(error) => {
                self.inner.watcher.mark_work();
                return tracing::error!(%error, "claiming runs failed");
            }
        };
        // A full claim may have left more: taken as drives end.
        if taken.len() >= room as usize {
            self.inner.watcher.mark_work();
        }
        for (tenant, run_id) in taken {
            tracing::debug!(run = %run_id, "claimed a run");
            self.drive_claimed(tenant, run_id);
        }
    }

    /// For a process that does not execute: tells the workers a run is
    /// waiting, and answers the run once it finished, or as it stands after
    /// [`FINISH_PATIENCE`].
    pub(super) fn await_worker(&self, store: TenantStore, run_id: String) -> JoinHandle<Result<Driven, EngineError>> {
        let engine = self.clone();
        // Listening before the workers are told, so the end is not missed.
        let notices = self.inner.store.notices();
        tokio::spawn(async move {
            engine.announce(Notice::Work).await;
            let deadline = tokio::time::Instant::now() + FINISH_PATIENCE;
            let run = finished_or_as_it_stands(&store, &run_id, notices, deadline).await?;
            Ok(Driven { run, nodes: None })
        })
    }

    /// A run once it has finished (driven here or by any process), or as
    /// it stands at `deadline`: what a wait for a set-aside run answers.
    pub async fn wait_finished(
        &self,
        store: &TenantStore,
        run_id: &str,
        deadline: tokio::time::Instant,
    ) -> Result<RunRecord, EngineError> {
        let notices = self.inner.store.notices();
        finished_or_as_it_stands(store, run_id, notices, deadline).await
    }
}

/// Reads the run, then again at its end's notice (or every
/// [`FINISH_CHECK`], in case the notice was lost), until it has finished or
/// `deadline` passed.
async fn finished_or_as_it_stands(
    store: &TenantStore,
    run_id: &str,
    mut notices: tokio::sync::broadcast::Receiver<Notice>,
    deadline: tokio::time::Instant,
) -> Result<RunRecord, EngineError> {
    loop {
        let run = store.get_run(run_id).await?.ok_or_else(|| EngineError::RunNotFound(run_id.to_owned()))?;
        let now = tokio::time::Instant::now();
        if run.status.is_finished() || now >= deadline {
            return Ok(run);
        }
        let _ = tokio::time::timeout(FINISH_CHECK.min(deadline - now), async {
            loop {
                match notices.recv().await {
                    Ok(Notice::Finished { tenant, run }) if &tenant == store.tenant() && run == run_id => return,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => return,
                    // No more notices: the periodic read is all there is.
                    Err(RecvError::Closed) => std::future::pending().await,
                }
            }
        })
        .await;
    }
}
