//! What a driver does while its run waits: reads the signals written for
//! it, and sets the run aside when nothing but approvals and far timers
//! remain, so that waiting holds no memory and no task.

use serde_json::Value;

use super::Driver;
use crate::executor::{EngineError, builtins};
use crate::store::{NEVER_DUE, NodeRecord, NodeStatus, now_ms};
use crate::workflow::Builtin;

/// What reading a run's signals found.
#[derive(PartialEq, Eq)]
pub(super) enum Signalled {
    Nothing,
    Decided,
    Cancel,
}

impl Driver {
    /// Reads the signals written for this run: approval decisions and a
    /// cancel request.
    pub(super) async fn read_signals(&mut self) -> Result<Signalled, EngineError> {
        let stored = self.store.get_run(&self.run.id).await?;
        if stored.is_some_and(|r| r.cancel_requested) {
            return Ok(Signalled::Cancel);
        }
        if self.approvals.is_empty() {
            return Ok(Signalled::Nothing);
        }
        let stored = self.store.nodes(&self.run.id).await?;
        Ok(if self.take_decisions(stored).await? { Signalled::Decided } else { Signalled::Nothing })
    }

    /// Acts on the decisions among `stored` for nodes waiting on one;
    /// returns whether there was any.
    pub(super) async fn take_decisions(&mut self, stored: Vec<NodeRecord>) -> Result<bool, EngineError> {
        let mut decided = false;
        for record in stored {
            if self.approvals.contains(&record.node_id)
                && let Some(decision) = record.signal
            {
                decided = true;
                self.approvals.remove(&record.node_id);
                if self.spec(&record.node_id)?.builtin == Some(Builtin::Agent) {
                    self.agent_decided(&record.node_id, decision).await?;
                    continue;
                }
                let input = self.nodes[&record.node_id].input.clone().unwrap_or(Value::Null);
                let emits = builtins::decided(&decision, input);
                self.node_mut(&record.node_id).signal = Some(decision);
                self.succeed(&record.node_id, emits).await?;
            }
        }
        Ok(decided)
    }

    /// When the run is next due, if it may be set aside now: everything in
    /// flight is a timer (a delay, a retry's backoff) at least the
    /// configured time off, or an approval. `None` while anything else is
    /// in flight (an attempt, an agent's turn, child runs).
    pub(super) fn set_aside_due(&self) -> Option<i64> {
        let after = self.engine.inner.config.set_aside?;
        if !self.may_set_aside || !self.deferred.is_empty() {
            return None;
        }
        let mut due = NEVER_DUE;
        for node_id in &self.active {
            let node = &self.nodes[node_id];
            let timer = match node.status {
                NodeStatus::Retrying => true,
                NodeStatus::Waiting => self.workflow.node(node_id).is_some_and(|n| n.builtin == Some(Builtin::Delay)),
                _ => false,
            };
            if !timer {
                return None;
            }
            due = due.min(node.wake_at?);
        }
        let soon = now_ms().saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
        (due >= soon).then_some(due)
    }

    /// Sets the run aside until `due`, with what it metered so far; returns
    /// whether it was (a signal not yet read, or a lease lost, refuses it).
    pub(super) async fn set_aside(&mut self, due: i64) -> Result<bool, EngineError> {
        // Usage alone: the run record is not written, so a cancel request
        // written meanwhile stays.
        if let Some((day, usage)) = self.take_usage() {
            self.store.add_usage(&day, &usage).await?;
        }
        let worker = self.engine.worker_id().to_owned();
        if !self.store.set_aside_run(&self.run.id, &worker, due).await? {
            return Ok(false);
        }
        // The timers are the watcher's now.
        self.tasks.shutdown().await;
        self.engine.set_aside_until(due);
        Ok(true)
    }
}
