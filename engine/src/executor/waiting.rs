//! Runs that wait cost nothing.
//!
//! A top-level run whose driver has nothing in flight but approvals and
//! timers (a delay, a retry's backoff) far enough off is set aside in the
//! store: its driver ends, nothing of it stays in memory, and no process
//! holds its lease. What wakes it:
//!
//! - **Its time**: one watcher per process sleeps until the earliest due
//!   time it knows of (of the runs it set aside, and, at every heartbeat,
//!   of any), then claims the runs that are due and drives them again.
//! - **A signal**: an approval or a cancel request makes the run due at
//!   once; the process that wrote it claims it, or any worker does on the
//!   notice.
//!
//! A driver that does wait in memory (for an approval beside work still
//! in flight, or for a child run) is woken only by signals for its own run
//! tree: they come through [`Signals`], from this process or from other
//! processes' notices. No driver reads the store on a timer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use super::{Engine, Inner};
use crate::store::{NEVER_DUE, TenantId, now_ms};

/// Which run trees' drivers wait for a signal: each subscribes under its
/// top-level run, and a signal for that run wakes every driver of its tree.
#[derive(Default)]
pub(super) struct Signals {
    trees: Mutex<HashMap<(TenantId, String), watch::Sender<u64>>>,
}

impl Signals {
    fn trees(&self) -> MutexGuard<'_, HashMap<(TenantId, String), watch::Sender<u64>>> {
        self.trees.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver that changes when a signal for `run_id`'s tree arrives
    /// (from the moment of subscribing: a signal written before is read
    /// with the run's records).
    pub(super) fn subscribe(&self, tenant: &TenantId, run_id: &str) -> watch::Receiver<u64> {
        let mut trees = self.trees();
        // Trees whose drivers all ended are dropped as the map doubles.
        if trees.len() >= 64 && trees.len().is_power_of_two() {
            trees.retain(|_, sender| sender.receiver_count() > 0);
        }
        let key = (tenant.clone(), top_run(run_id).to_owned());
        trees.entry(key).or_insert_with(|| watch::channel(0).0).subscribe()
    }

    /// Wakes the drivers of `run_id`'s tree, if any wait here.
    pub(super) fn signal(&self, tenant: &TenantId, run_id: &str) {
        let key = (tenant.clone(), top_run(run_id).to_owned());
        if let Some(sender) = self.trees().get(&key) {
            sender.send_modify(|seen| *seen = seen.wrapping_add(1));
        }
    }

    /// Wakes every driver waiting here (notices may have been lost).
    pub(super) fn signal_all(&self) {
        for sender in self.trees().values() {
            sender.send_modify(|seen| *seen = seen.wrapping_add(1));
        }
    }
}

/// A child run's id starts with its top-level run's id and a dot.
fn top_run(run_id: &str) -> &str {
    run_id.split('.').next().unwrap_or(run_id)
}

/// The watcher of set-aside runs: one per process.
pub(super) struct Watcher {
    /// The earliest due time of a set-aside run known here.
    next_due: AtomicI64,
    /// Runs may wait to be claimed: one was woken, or a claim was full.
    work: AtomicBool,
    wake: Notify,
    started: AtomicBool,
}

impl Default for Watcher {
    fn default() -> Self {
        Watcher {
            next_due: AtomicI64::new(NEVER_DUE),
            work: AtomicBool::new(false),
            wake: Notify::new(),
            started: AtomicBool::new(false),
        }
    }
}

impl Watcher {
    /// Whether runs may wait to be claimed; clears the mark.
    pub(super) fn take_work_mark(&self) -> bool {
        self.work.swap(false, Ordering::AcqRel)
    }

    /// Whether runs may wait to be claimed.
    pub(super) fn has_work(&self) -> bool {
        self.work.load(Ordering::Acquire)
    }

    pub(super) fn mark_work(&self) {
        self.work.store(true, Ordering::Release);
    }
}

impl Engine {
    /// A run was set aside here until `due`: the watcher wakes then.
    pub(super) fn set_aside_until(&self, due: i64) {
        let watcher = &self.inner.watcher;
        let before = watcher.next_due.fetch_min(due, Ordering::AcqRel);
        self.watch_waiting();
        if due < before {
            watcher.wake.notify_one();
        }
    }

    /// Runs were woken (a signal, a due time another process learned of):
    /// the watcher claims them as room allows.
    pub(super) fn work_arrived(&self) {
        self.inner.watcher.mark_work();
        self.watch_waiting();
        self.inner.watcher.wake.notify_one();
    }

    /// Learns the earliest due time of any set-aside run (another
    /// process's too), so the watcher wakes for it.
    pub(super) async fn learn_next_due(&self) {
        match self.inner.store.next_due().await {
            Ok(Some(due)) => self.set_aside_until(due),
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "reading when set-aside runs are due failed"),
        }
    }

    /// Starts this process's watcher, once.
    fn watch_waiting(&self) {
        let watcher = &self.inner.watcher;
        if !self.executes() || watcher.started.swap(true, Ordering::AcqRel) {
            return;
        }
        tokio::spawn(watch(watcher.clone(), Arc::downgrade(&self.inner)));
    }
}

/// Sleeps until the earliest known due time or a wake-up, then claims what
/// is due; ends with the engine (holding only the watcher while it sleeps).
async fn watch(watcher: Arc<Watcher>, inner: Weak<Inner>) {
    loop {
        let due = watcher.next_due.load(Ordering::Acquire);
        let wait = Duration::from_millis(u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0));
        let deadline = tokio::time::Instant::now().checked_add(wait);
        tokio::select! {
            _ = sleep_until_or_forever(deadline) => {}
            _ = watcher.wake.notified() => {}
        }
        let Some(inner) = inner.upgrade() else { return };
        let engine = Engine { inner };
        if watcher.next_due.load(Ordering::Acquire) <= now_ms() {
            watcher.next_due.store(NEVER_DUE, Ordering::Release);
            watcher.mark_work();
        }
        if watcher.has_work() {
            engine.take_work().await;
            engine.learn_next_due().await;
        }
    }
}

async fn sleep_until_or_forever(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
