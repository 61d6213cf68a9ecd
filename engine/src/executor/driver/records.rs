//! The run's records: when the driver writes what changed (before the
//! work it announces starts, unless that work and those records are
//! self-contained), and the last write that ends the run.

use serde_json::{Value, json};

use super::{Driver, Work};
use crate::executor::EngineError;
use crate::quota::{Usage, day_of};
use crate::store::{NodeRecord, NodeStatus, Notice, RunStatus, now_ms};

impl Driver {
    /// What this driver metered, for the tenant's usage of today, written
    /// with the run's last record. A crash loses what was metered since the
    /// driver started (the attempts it re-runs are metered again).
    pub(super) fn take_usage(&mut self) -> Option<(String, Usage)> {
        let usage = std::mem::take(&mut self.usage);
        (!usage.is_zero()).then(|| (day_of(now_ms()), usage))
    }

    /// Writes the run's last state: the changed nodes, the run record and
    /// the metered usage, in one commit; then tells listeners.
    pub(super) async fn close(&mut self, changed: Vec<String>) -> Result<(), EngineError> {
        let usage = self.take_usage();
        let records: Vec<&NodeRecord> = changed.iter().map(|id| &self.nodes[id]).collect();
        let usage = usage.as_ref().map(|(day, usage)| (day.as_str(), usage));
        self.store.put_nodes_and_run(&self.run, &records, usage).await?;
        for node_id in changed {
            self.announce(&node_id);
        }
        self.announce_run();
        if self.run.parent.is_none() {
            super::engine_metrics(&self.engine).run_finished(self.run.status.as_str());
            // Whoever waits for this run's answer may not be its first
            // driver: another process, or a wait begun before the run was
            // set aside.
            let finished = Notice::Finished { tenant: self.store.tenant().clone(), run: self.run.id.clone() };
            self.engine.announce(finished).await;
        }
        Ok(())
    }

    /// Writes every changed node in one transaction, tells listeners, then
    /// starts the work those records announce (an attempt, child runs, a
    /// timer): state is durable before it is acted on.
    pub(super) async fn flush(&mut self) -> Result<(), EngineError> {
        if !self.dirty.is_empty() && self.must_write() {
            let records: Vec<&NodeRecord> = self.dirty.iter().map(|id| &self.nodes[id]).collect();
            self.store.put_nodes(&self.run.id, &records).await?;
            for node_id in std::mem::take(&mut self.dirty) {
                self.announce(&node_id);
            }
        }
        // A lone attempt with nothing else in flight (every step of a
        // chain) runs right here: no task hand-off to another thread and
        // back. Its result arrives in the inbox like any other. Signals
        // (cancel, approvals) are read when it returns, at the latest at the
        // node's timeout.
        if let [(Work::Attempt { .. }, _)] = self.deferred.as_slice()
            && self.active.len() == 1
            && self.approvals.is_empty()
        {
            if let Some((_, work)) = self.deferred.pop() {
                work.await;
            }
            return Ok(());
        }
        for (_, work) in self.deferred.drain(..) {
            self.tasks.spawn(work);
        }
        Ok(())
    }

    /// Whether the changed records must be written before the deferred
    /// work starts. They may wait (for the next write that must happen, at
    /// the latest the run's last, before its answer) only when the driver
    /// goes straight on to attempts of plugins that cannot act outside
    /// their execution, and every changed record is of such a node: if the
    /// process dies first, those nodes run again from the last written
    /// state, which changes nothing anyone saw and gives an equivalent
    /// result. A chain of such nodes is then one commit, not one per node.
    pub(super) fn must_write(&self) -> bool {
        let self_contained_work = self.deferred.iter().all(|(work, _)| *work == Work::Attempt { reaches_out: false });
        let self_contained_records = self.dirty.iter().all(|id| self.self_contained.contains(id));
        self.deferred.is_empty() || !self_contained_work || !self_contained_records
    }

    pub(super) fn leaf_output(&self) -> Value {
        let leaves: Vec<&NodeRecord> = self
            .graph
            .leaves()
            .into_iter()
            .filter_map(|id| self.nodes.get(id))
            .filter(|n| n.status == NodeStatus::Succeeded)
            .collect();
        match leaves.as_slice() {
            [single] => single.output(),
            many => Value::Object(many.iter().map(|n| (n.node_id.clone(), n.output())).collect()),
        }
    }

    pub(super) async fn finish(&mut self) -> Result<(), EngineError> {
        self.run.status = RunStatus::Succeeded;
        self.run.output = Some(self.leaf_output());
        self.run.updated_at = now_ms();
        self.run.finished_at = Some(self.run.updated_at);
        let changed = std::mem::take(&mut self.dirty).into_iter().collect();
        self.close(changed).await
    }

    /// Ends the run early: stops everything in flight, marks unfinished
    /// nodes (and child runs) cancelled, and records why.
    pub(super) async fn stop(&mut self, status: RunStatus, reason: Option<String>) -> Result<(), EngineError> {
        self.tasks.shutdown().await;
        self.deferred.clear();
        let now = now_ms();
        let mut changed: Vec<String> = std::mem::take(&mut self.dirty).into_iter().collect();
        for node in self.nodes.values_mut() {
            if !node.status.is_finished() {
                node.status = NodeStatus::Cancelled;
                node.finished_at = Some(now);
                if !changed.contains(&node.node_id) {
                    changed.push(node.node_id.clone());
                }
            }
        }
        for node_id in &changed {
            for mut child in self.store.child_runs(&self.run.id, node_id).await? {
                if !child.status.is_finished() {
                    child.status = RunStatus::Cancelled;
                    child.finished_at = Some(now);
                    self.store.update_run(&child).await?;
                }
            }
        }
        self.run.status = status;
        self.run.error = reason;
        self.run.updated_at = now;
        self.run.finished_at = Some(now);
        if status == RunStatus::Failed
            && let Some(handler) = self.workflow.on_error.clone()
        {
            let failed_node = self
                .nodes
                .values()
                .filter(|n| n.status == NodeStatus::Failed)
                .min_by_key(|n| n.finished_at)
                .map(|n| json!({"id": n.node_id, "error": n.error, "attempts": n.attempt}));
            self.engine.start_error_workflow(&self.store, &self.run, &handler, failed_node).await;
        }
        self.close(changed).await
    }
}
