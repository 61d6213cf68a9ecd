//! Runs and their node records: the hot path of every execution.

use async_trait::async_trait;

use crate::{NodeRecord, RunRecord, RunStatus, StoreError, TenantId, Usage};

/// Which runs a listing keeps; `None` keeps all.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunFilter<'a> {
    pub status: Option<RunStatus>,
    pub workflow: Option<&'a str>,
}

#[async_trait]
pub trait RunStore: Send + Sync {
    /// Inserts a run unless one with its id exists; returns whether it did.
    async fn insert_run(&self, run: &RunRecord) -> Result<bool, StoreError>;
    /// Audited (when the handle is), the run's id added to the entry's
    /// details as `run`.
    async fn update_run(&self, run: &RunRecord) -> Result<(), StoreError>;
    async fn get_run(&self, id: &str) -> Result<Option<RunRecord>, StoreError>;
    async fn child_runs(&self, parent_run: &str, parent_node: &str) -> Result<Vec<RunRecord>, StoreError>;
    /// Audited when the handle is.
    async fn put_node(&self, run_id: &str, node: &NodeRecord) -> Result<(), StoreError>;
    /// Writes several node records in one transaction.
    async fn put_nodes(&self, run_id: &str, nodes: &[&NodeRecord]) -> Result<(), StoreError>;
    /// Writes node records and the run record, and adds usage to a day's
    /// (when there is any), in one transaction: how a run ends.
    async fn put_nodes_and_run(
        &self,
        run: &RunRecord,
        nodes: &[&NodeRecord],
        usage: Option<(&str, &Usage)>,
    ) -> Result<(), StoreError>;
    async fn nodes(&self, run_id: &str) -> Result<Vec<NodeRecord>, StoreError>;
    /// Sets a top-level run aside while it only waits: gives up `worker`'s
    /// lease and records when the run is next due (`until`; [`NEVER_DUE`]
    /// when only a signal wakes it). Nothing of the run stays in memory; a
    /// claim takes it again once due. Refused (`false`) when `worker` does
    /// not hold the run, or when a signal is written that its driver has
    /// not acted on yet: a decision on a waiting node, or a cancel request.
    async fn set_aside_run(&self, run_id: &str, worker: &str, until: i64) -> Result<bool, StoreError>;
    /// A signal (a decision, a cancel request) was written for a top-level
    /// run: if it is set aside, it is due at once (due time 0).
    async fn wake_run(&self, run_id: &str) -> Result<(), StoreError>;
    /// Top-level runs, newest first, as the filter says, after a cursor
    /// (the id of the last run of the previous page; ids are time-ordered).
    async fn list_runs(
        &self,
        filter: &RunFilter<'_>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError>;
}

/// Finding work across tenants: the one place, besides sign-in, that reads
/// every tenant's rows.
#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Top-level runs not finished, across tenants (for crash recovery).
    async fn unfinished_runs(&self) -> Result<Vec<(TenantId, String)>, StoreError>;
    /// Cron schedules of every tenant due at `now`, earliest first.
    async fn due_crons(&self, now: i64, limit: u32) -> Result<Vec<(TenantId, crate::CronSchedule)>, StoreError>;
    /// Claims, for `worker` until `until`, up to `limit` unfinished
    /// top-level runs whose lease is free or lapsed at `now`, oldest first,
    /// and set-aside runs due by `now`, earliest first. A claimed run is no
    /// longer set aside. Workers claiming at once get disjoint runs.
    async fn claim_runs(
        &self,
        worker: &str,
        now: i64,
        until: i64,
        limit: u32,
    ) -> Result<Vec<(TenantId, String)>, StoreError>;
    /// Claims one run (the one a worker has just recorded) unless another
    /// worker holds a live lease on it, or it is finished.
    async fn claim_run(
        &self,
        tenant: &TenantId,
        run_id: &str,
        worker: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError>;
    /// The heartbeat: extends to `until` the leases `worker` still holds on
    /// unfinished runs, and returns those runs; a run missing from the
    /// answer was taken by another worker and must no longer be driven.
    async fn renew_leases(&self, worker: &str, until: i64) -> Result<Vec<(TenantId, String)>, StoreError>;
    /// Gives up `worker`'s lease on a run (a no-op when it holds none).
    async fn release_run(&self, tenant: &TenantId, run_id: &str, worker: &str) -> Result<(), StoreError>;
    /// Gives up every lease on an unfinished run not held by `worker`: for
    /// a process alone in its store, whose predecessors are gone.
    async fn release_leases_except(&self, worker: &str) -> Result<(), StoreError>;
    /// When the earliest set-aside run is due, if one waits on a time.
    async fn next_due(&self) -> Result<Option<i64>, StoreError>;
}

/// The due time of a run set aside until a signal wakes it.
pub const NEVER_DUE: i64 = i64::MAX;
