//! The loop that executes one run: decides which nodes are ready, launches
//! them, records every state change, and finishes the run.
//!
//! One driver per run is the only writer of that run's node records (an
//! approval decision is the one exception: it writes `signal` on a waiting
//! node, which the driver reads and never overwrites).

mod agent_launch;
mod plugin_attempt;
mod records;
mod waiting;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use trellis_host_api::{Emit, Execution, Failure, FailureCode};

use super::builtins;
use super::{Driven, Engine, EngineError, LiveEvent, NodeEvent, RunEvent};
use crate::catalog::Catalog;
use crate::quota::Usage;
use crate::store::{AttemptRecord, NodeRecord, NodeStatus, RunRecord, RunStatus, TenantStore, now_ms};
use crate::workflow::{Builtin, Graph, Join, NodeSpec, PluginRef, Workflow};
use waiting::Signalled;

fn engine_metrics(engine: &Engine) -> &crate::metrics::Metrics {
    &engine.inner.metrics
}

pub(super) enum Event {
    /// A plugin attempt finished.
    Attempt { node_id: String, attempt: u32, execution: Box<Execution> },
    /// A `map` or `subworkflow` node's child runs finished.
    Children { node_id: String, result: Result<Value, Failure> },
    /// A retry backoff or a delay is over.
    Wake { node_id: String },
    /// An agent node's launch ended: answered, waiting for an approval, or
    /// failed.
    Agent { node_id: String, finished: Box<super::agent::Finished> },
}

/// What a piece of deferred work starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Work {
    /// A plugin attempt; `reaches_out` when its plugin can act outside its
    /// own execution (`Plugin::reaches_out`).
    Attempt { reaches_out: bool },
    /// A timer, child runs, an agent's step.
    Other,
}

enum Readiness {
    Wait,
    Skip,
    Ready(Value),
}

pub(super) struct Driver {
    engine: Engine,
    store: TenantStore,
    run: RunRecord,
    workflow: Workflow,
    graph: Graph,
    nodes: BTreeMap<String, NodeRecord>,
    tasks: JoinSet<()>,
    events: mpsc::UnboundedSender<Event>,
    inbox: mpsc::UnboundedReceiver<Event>,
    /// Nodes with work in flight: an attempt, a timer, child runs.
    active: BTreeSet<String>,
    /// Approval nodes waiting for a decision.
    approvals: BTreeSet<String>,
    /// Set when a node failed with no `error` edge: the run fails.
    failure: Option<String>,
    /// Nodes changed since the last write, in the order they changed (the
    /// order they are written and announced in).
    dirty: Vec<String>,
    /// Pending nodes whose readiness may have changed (indices into the
    /// document's nodes): all at first, then the successors of each node
    /// that finishes. Keeps a long chain linear instead of quadratic.
    candidates: BTreeSet<usize>,
    positions: BTreeMap<String, usize>,
    /// Work to start once the state that announces it is written; a plugin
    /// attempt may run on the driver's own task.
    deferred: Vec<(Work, futures::future::BoxFuture<'static, ()>)>,
    /// Nodes that cannot act outside their own execution (plugins that
    /// reach nothing, branches, switches, skipped nodes): their records may wait for the
    /// next write (see `Driver::must_write`).
    self_contained: BTreeSet<String>,
    /// HTTP requests of this run so far (the `http_requests_per_run` quota).
    http_used: u64,
    /// The run tree's shared request budget, taken at the first plugin node.
    http_budget: Option<Arc<trellis_host_api::capabilities::RequestBudget>>,
    /// Metered by this driver and not yet added to the tenant's usage.
    usage: Usage,
    /// The tenant's plugins, read when the driver starts: a run keeps the
    /// versions it started with even if the tenant upgrades meanwhile.
    catalog: Arc<Catalog>,
    /// Why the tenant's plugins could not be read, if they could not.
    catalog_error: Option<String>,
    /// Changes when an approval or cancel request for this run's tree is
    /// written.
    signals: tokio::sync::watch::Receiver<u64>,
    /// Whether the run is set aside when it only waits (a run leased here,
    /// driven on its own task), rather than waited for in memory.
    may_set_aside: bool,
}

impl Driver {
    pub(super) async fn load(engine: Engine, store: TenantStore, run_id: &str) -> Result<Driver, EngineError> {
        // Subscribed before reading: a signal written after the read wakes
        // the driver, one written before is in what it reads.
        let signals = engine.inner.signals.subscribe(store.tenant(), run_id);
        let run = store.get_run(run_id).await?.ok_or_else(|| EngineError::RunNotFound(run_id.to_owned()))?;
        let workflow: Workflow = run
            .document
            .parse()
            .map_err(|e| EngineError::Corrupt { run: run_id.to_owned(), message: e.to_string() })?;
        let nodes = store.nodes(run_id).await?;
        Ok(Self::with_state(engine, store, run, workflow, nodes, signals))
    }

    /// A driver for a run that was just recorded and has no node records.
    pub(super) fn fresh(engine: Engine, store: TenantStore, run: RunRecord, workflow: Workflow) -> Driver {
        let signals = engine.inner.signals.subscribe(store.tenant(), &run.id);
        Self::with_state(engine, store, run, workflow, Vec::new(), signals)
    }

    /// The run is set aside when it only waits.
    pub(super) fn may_set_aside(mut self) -> Driver {
        self.may_set_aside = self.run.parent.is_none() && self.engine.inner.config.set_aside.is_some();
        self
    }

    fn with_state(
        engine: Engine,
        store: TenantStore,
        run: RunRecord,
        workflow: Workflow,
        stored: Vec<NodeRecord>,
        signals: tokio::sync::watch::Receiver<u64>,
    ) -> Driver {
        let graph = Graph::new(&workflow);
        let workflow_len = workflow.nodes.len();
        let positions = workflow.nodes.iter().enumerate().map(|(i, n)| (n.id.clone(), i)).collect();
        let mut nodes: BTreeMap<String, NodeRecord> = stored.into_iter().map(|n| (n.node_id.clone(), n)).collect();
        for spec in &workflow.nodes {
            nodes.entry(spec.id.clone()).or_insert_with(|| NodeRecord::pending(&run.id, &spec.id));
        }
        let (events, inbox) = mpsc::unbounded_channel();
        let http_used = nodes.values().map(|n| n.http_calls.len() as u64).sum();
        Driver {
            engine,
            store,
            run,
            workflow,
            graph,
            nodes,
            tasks: JoinSet::new(),
            events,
            inbox,
            active: BTreeSet::new(),
            approvals: BTreeSet::new(),
            failure: None,
            dirty: Vec::new(),
            candidates: (0..workflow_len).collect(),
            positions,
            deferred: Vec::new(),
            self_contained: BTreeSet::new(),
            http_used,
            http_budget: None,
            usage: Usage::default(),
            catalog: Arc::default(),
            catalog_error: None,
            signals,
            may_set_aside: false,
        }
    }

    pub(super) async fn run(self) -> Result<RunRecord, EngineError> {
        Ok(self.drive().await?.run)
    }

    /// Drives the run until it ends or is set aside; a run that ended comes
    /// with its node records as this driver wrote them, in document order.
    pub(super) async fn drive(mut self) -> Result<Driven, EngineError> {
        self.go().await?;
        let nodes = self.run.status.is_finished().then(|| {
            let mut nodes = std::mem::take(&mut self.nodes);
            self.workflow.nodes.iter().filter_map(|spec| nodes.remove(&spec.id)).collect()
        });
        Ok(Driven { run: self.run, nodes })
    }

    async fn go(&mut self) -> Result<(), EngineError> {
        if self.run.status.is_finished() {
            return Ok(());
        }
        if self.run.status == RunStatus::Pending {
            self.run.status = RunStatus::Running;
            self.run.updated_at = now_ms();
            self.store.update_run(&self.run).await?;
            self.announce_run();
        }
        match self.engine.inner.plugins.for_tenant(&self.store).await {
            Ok(catalog) => self.catalog = catalog,
            Err(error) => self.catalog_error = Some(error.to_string()),
        }
        self.recover().await?;
        // Signals written while the run was set aside (or before a crash).
        if self.run.cancel_requested {
            return self.stop(RunStatus::Cancelled, Some("cancelled on request".to_owned())).await;
        }
        let stored: Vec<NodeRecord> = self.nodes.values().filter(|n| n.signal.is_some()).cloned().collect();
        self.take_decisions(stored).await?;
        loop {
            self.advance().await?;
            if let Some(reason) = self.failure.take() {
                return self.stop(RunStatus::Failed, Some(reason)).await;
            }
            // Nothing in flight means nothing deferred either: the last
            // node records go out with the run's.
            if self.active.is_empty() && self.approvals.is_empty() {
                return self.finish().await;
            }
            self.flush().await?;
            if let Some(due) = self.set_aside_due() {
                if self.set_aside(due).await? {
                    return Ok(());
                }
                // Refused: a signal is written that this driver has not
                // read yet (or the run is no longer leased here).
                match self.read_signals().await? {
                    Signalled::Cancel => {
                        return self.stop(RunStatus::Cancelled, Some("cancelled on request".to_owned())).await;
                    }
                    Signalled::Decided => continue,
                    Signalled::Nothing => {}
                }
            }
            let signalled = tokio::select! {
                Some(event) = self.inbox.recv() => {
                    self.handle(event).await?;
                    false
                }
                Ok(()) = self.signals.changed() => true,
            };
            if signalled && self.read_signals().await? == Signalled::Cancel {
                return self.stop(RunStatus::Cancelled, Some("cancelled on request".to_owned())).await;
            }
        }
    }

    fn spec(&self, node_id: &str) -> Result<NodeSpec, EngineError> {
        self.workflow.node(node_id).cloned().ok_or_else(|| EngineError::Corrupt {
            run: self.run.id.clone(),
            message: format!("node `{node_id}` is not in the document"),
        })
    }

    /// Picks up whatever was in flight when the previous driver stopped.
    async fn recover(&mut self) -> Result<(), EngineError> {
        let in_flight: Vec<(String, NodeStatus)> = self
            .nodes
            .values()
            .filter(|n| matches!(n.status, NodeStatus::Running | NodeStatus::Retrying | NodeStatus::Waiting))
            .map(|n| (n.node_id.clone(), n.status))
            .collect();
        for (node_id, status) in in_flight {
            let spec = self.spec(&node_id)?;
            let node = &self.nodes[&node_id];
            match (status, spec.builtin) {
                // Interrupted mid-attempt: run it again, same idempotency key.
                (NodeStatus::Running, None) => {
                    let input = node.input.clone().unwrap_or(Value::Null);
                    let attempt = node.attempt + 1;
                    self.launch_plugin(&spec, input, attempt).await?;
                }
                (NodeStatus::Retrying, _) | (NodeStatus::Waiting, Some(Builtin::Delay)) => {
                    let wake_at = node.wake_at.unwrap_or_else(now_ms);
                    self.schedule_wake(&node_id, wake_at);
                }
                (NodeStatus::Waiting, Some(Builtin::Approval)) => {
                    self.approvals.insert(node_id);
                }
                (NodeStatus::Waiting, Some(Builtin::Map | Builtin::Subworkflow)) => {
                    let config = node.config.clone().unwrap_or(Value::Null);
                    self.spawn_children(&spec, config);
                }
                // An agent goes on from its last written step.
                (NodeStatus::Running, Some(Builtin::Agent)) => self.spawn_agent(&node_id).await?,
                (NodeStatus::Waiting, Some(Builtin::Agent)) => {
                    self.approvals.insert(node_id);
                }
                // A built-in that finishes inline never stays running; redo it.
                (_, Some(_)) => {
                    let input = node.input.clone().unwrap_or(Value::Null);
                    self.launch(&spec, input).await?;
                }
                (NodeStatus::Waiting, None) => {}
                _ => {}
            }
        }
        Ok(())
    }

    /// Resolves readiness until nothing changes: skips propagate, ready
    /// nodes launch.
    async fn advance(&mut self) -> Result<(), EngineError> {
        loop {
            let mut progressed = false;
            let pending: Vec<usize> = std::mem::take(&mut self.candidates)
                .into_iter()
                .filter(|&i| self.nodes[&self.workflow.nodes[i].id].status == NodeStatus::Pending)
                .collect();
            for index in pending {
                if self.failure.is_some() {
                    return Ok(());
                }
                let readiness = self.readiness(&self.workflow.nodes[index]);
                if matches!(readiness, Readiness::Wait) {
                    continue;
                }
                let spec = self.workflow.nodes[index].clone();
                let spec = &spec;
                match readiness {
                    Readiness::Wait => {}
                    Readiness::Skip => {
                        // Decided in the engine, from written state.
                        self.self_contained.insert(spec.id.clone());
                        let node = self.node_mut(&spec.id);
                        node.status = NodeStatus::Skipped;
                        node.finished_at = Some(now_ms());
                        self.save(&spec.id).await?;
                        progressed = true;
                    }
                    Readiness::Ready(input) => {
                        self.launch(spec, input).await?;
                        progressed = true;
                    }
                }
            }
            if !progressed {
                return Ok(());
            }
        }
    }

    fn readiness(&self, spec: &NodeSpec) -> Readiness {
        let incoming = self.graph.incoming(&spec.id);
        if incoming.is_empty() {
            return Readiness::Ready(self.run.input.clone());
        }
        let mut taken: Vec<(&str, &Value)> = Vec::new();
        let mut dead = 0;
        for edge in incoming {
            let source = &self.nodes[&edge.from];
            if !source.status.is_finished() {
                return Readiness::Wait;
            }
            match source.emitted_on(&edge.port) {
                Some(data) => taken.push((edge.from.as_str(), data)),
                None => dead += 1,
            }
        }
        let runs = match spec.join {
            Join::All => dead == 0,
            Join::Any => !taken.is_empty(),
        };
        if !runs {
            return Readiness::Skip;
        }
        // One taken edge passes its data; several pass an object by source.
        Readiness::Ready(match taken.as_slice() {
            [(_, data)] => (*data).clone(),
            many => Value::Object(many.iter().map(|(from, data)| ((*from).to_owned(), (*data).clone())).collect()),
        })
    }

    /// What expressions see: `input` and `nodes.<id>.output|status`.
    fn context(&self) -> Value {
        let nodes: Map<String, Value> = self
            .nodes
            .values()
            .map(|n| (n.node_id.clone(), json!({"output": n.output(), "status": n.status.as_str()})))
            .collect();
        json!({"input": self.run.input, "nodes": nodes})
    }

    fn node_mut(&mut self, node_id: &str) -> &mut NodeRecord {
        self.nodes.entry(node_id.to_owned()).or_insert_with(|| NodeRecord::pending(&self.run.id, node_id))
    }

    /// Tells listeners (progress bars, live views) a node's written state.
    fn announce(&self, node_id: &str) {
        let node = &self.nodes[node_id];
        let _ = self.engine.inner.events.send(LiveEvent::Node(NodeEvent {
            run_id: self.run.id.clone(),
            node_id: node_id.to_owned(),
            status: node.status,
            attempt: node.attempt,
            wall_time_us: node.wall_time_us,
            error: node.error.as_ref().map(|f| f.to_string()),
        }));
    }

    /// Tells listeners the run's written status.
    fn announce_run(&self) {
        let _ = self.engine.inner.events.send(LiveEvent::Run(RunEvent {
            run_id: self.run.id.clone(),
            status: self.run.status,
            error: self.run.error.clone(),
        }));
    }

    /// Marks a node record for the next [`Driver::flush`]; a finished node
    /// makes its successors candidates for readiness.
    async fn save(&mut self, node_id: &str) -> Result<(), EngineError> {
        // A node changed twice before a write is announced at its first
        // place, with its last state.
        if !self.dirty.iter().any(|dirty| dirty == node_id) {
            self.dirty.push(node_id.to_owned());
        }
        if self.nodes[node_id].status.is_finished() {
            for edge in self.graph.outgoing(node_id) {
                if let Some(&position) = self.positions.get(&edge.to) {
                    self.candidates.insert(position);
                }
            }
        }
        Ok(())
    }

    async fn launch(&mut self, spec: &NodeSpec, input: Value) -> Result<(), EngineError> {
        match spec.builtin {
            None => self.launch_plugin(spec, input, 1).await,
            Some(builtin) => {
                let context = self.context();
                {
                    let node = self.node_mut(&spec.id);
                    node.input = Some(input.clone());
                    node.started_at.get_or_insert_with(now_ms);
                    node.attempt = node.attempt.max(1);
                }
                let payload_limit = self.engine.inner.plans.plan(&self.store).await?.payload_bytes;
                match builtins::start(builtin, spec, &input, &context, payload_limit) {
                    Err(failure) => self.fail(&spec.id, failure, false).await,
                    Ok(builtins::Started::Done { config, emits }) => {
                        // As for plugins: input and config within the limit.
                        if let Err(failure) = super::carried(&input, &config, payload_limit) {
                            self.node_mut(&spec.id).input = Some(Value::Null);
                            return self.fail(&spec.id, failure, false).await;
                        }
                        // A branch or a switch decided in the engine is as
                        // self-contained as a plugin that reaches nothing;
                        // a reply (`respond`) is awaited by its caller.
                        if matches!(builtin, Builtin::Branch | Builtin::Switch) {
                            self.self_contained.insert(spec.id.clone());
                        }
                        let node = self.node_mut(&spec.id);
                        node.config = Some(config);
                        // A node that passes its input on (branch, switch,
                        // respond) keeps it once, as its output.
                        if emits.iter().all(|emit| emit.data == input) {
                            node.input = None;
                        }
                        self.succeed(&spec.id, emits).await
                    }
                    Ok(builtins::Started::Sleep { config, wake_at }) => {
                        let node = self.node_mut(&spec.id);
                        node.config = Some(config);
                        node.status = NodeStatus::Waiting;
                        node.wake_at = Some(wake_at);
                        self.save(&spec.id).await?;
                        self.schedule_wake(&spec.id, wake_at);
                        Ok(())
                    }
                    Ok(builtins::Started::AwaitDecision { config }) => {
                        let node = self.node_mut(&spec.id);
                        node.config = Some(config);
                        node.status = NodeStatus::Waiting;
                        self.save(&spec.id).await?;
                        self.approvals.insert(spec.id.clone());
                        Ok(())
                    }
                    Ok(builtins::Started::Children { config }) => {
                        let node = self.node_mut(&spec.id);
                        node.config = Some(config.clone());
                        node.status = NodeStatus::Waiting;
                        self.save(&spec.id).await?;
                        self.spawn_children(spec, config);
                        Ok(())
                    }
                    Ok(builtins::Started::Agent { config }) => {
                        let node = self.node_mut(&spec.id);
                        node.config = Some(config);
                        node.status = NodeStatus::Running;
                        self.save(&spec.id).await?;
                        self.spawn_agent(&spec.id).await
                    }
                }
            }
        }
    }

    fn schedule_wake(&mut self, node_id: &str, wake_at: i64) {
        self.active.insert(node_id.to_owned());
        let events = self.events.clone();
        let node_id = node_id.to_owned();
        let wait = Duration::from_millis(u64::try_from(wake_at - now_ms()).unwrap_or(0));
        self.deferred.push((
            Work::Other,
            Box::pin(async move {
                tokio::time::sleep(wait).await;
                let _ = events.send(Event::Wake { node_id });
            }),
        ));
    }

    fn spawn_children(&mut self, spec: &NodeSpec, config: Value) {
        self.active.insert(spec.id.clone());
        let engine = self.engine.clone();
        let store = self.store.clone();
        let run_id = self.run.id.clone();
        let workflow_id = self.workflow.id.clone();
        // What the node's record already holds leaves the collected output
        // the rest of the payload limit.
        let input = self.nodes.get(&spec.id).and_then(|n| n.input.clone()).unwrap_or(Value::Null);
        let spec = spec.clone();
        let events = self.events.clone();
        let http_used = self.http_used;
        self.deferred.push((
            Work::Other,
            Box::pin(async move {
                // The run tree's HTTP budget stays alive while its children
                // run, whether or not they overlap: a child that finishes
                // before the next starts must not hand it a fresh budget.
                let _budget = match engine.inner.plans.plan(&store).await {
                    Ok(plan) => {
                        let left = plan.http_requests_per_run.saturating_sub(http_used);
                        Some(engine.http_budget(&run_id, plan.http_requests_per_run, left))
                    }
                    Err(_) => None,
                };
                let result =
                    builtins::run_children(&engine, &store, &run_id, &workflow_id, &spec, &config, &input).await;
                let _ = events.send(Event::Children { node_id: spec.id.clone(), result });
            }),
        ));
    }

    async fn handle(&mut self, event: Event) -> Result<(), EngineError> {
        match event {
            Event::Attempt { node_id, attempt, execution } => {
                if self.nodes[&node_id].attempt != attempt || self.nodes[&node_id].status != NodeStatus::Running {
                    return Ok(());
                }
                self.active.remove(&node_id);
                let report = &execution.report;
                let calls = report.http_calls.len() as u64;
                self.http_used += calls;
                let outcome = report.failure.as_ref().map_or("succeeded", |f| f.code.as_str());
                engine_metrics(&self.engine).node_executed(outcome, report.wall_time_us);
                self.usage.add(&Usage {
                    runs: 0,
                    node_executions: 1,
                    fuel: report.fuel_used,
                    http_calls: calls,
                    // Metered by the gateway as each call is answered.
                    llm_tokens: 0,
                });
                self.node_mut(&node_id).record_report(report);
                match execution.report.failure.clone() {
                    None => {
                        let emits = execution.emits;
                        if let Some(failure) = self.undeclared_port(&node_id, &emits) {
                            return self.fail(&node_id, failure, false).await;
                        }
                        self.succeed(&node_id, emits).await
                    }
                    Some(failure) => {
                        // A rate-limited LLM call asked when to come back.
                        let retry_after = report.llm_calls.last().and_then(|c| c.error.as_ref()?.retry_after);
                        self.fail_after(&node_id, failure, true, retry_after).await
                    }
                }
            }
            Event::Children { node_id, result } => {
                self.active.remove(&node_id);
                match result {
                    Ok(output) => self.succeed(&node_id, vec![Emit { port: "out".to_owned(), data: output }]).await,
                    Err(failure) => self.fail(&node_id, failure, false).await,
                }
            }
            Event::Agent { node_id, finished } => {
                self.active.remove(&node_id);
                self.agent_finished(&node_id, *finished).await
            }
            Event::Wake { node_id } => {
                self.active.remove(&node_id);
                let node = &self.nodes[&node_id];
                let input = node.input.clone().unwrap_or(Value::Null);
                let spec = self.spec(&node_id)?;
                match node.status {
                    NodeStatus::Retrying if spec.builtin == Some(Builtin::Agent) => {
                        let node = self.node_mut(&node_id);
                        node.attempt += 1;
                        node.status = NodeStatus::Running;
                        node.wake_at = None;
                        self.save(&node_id).await?;
                        self.spawn_agent(&node_id).await
                    }
                    NodeStatus::Retrying => {
                        let attempt = node.attempt + 1;
                        self.launch_plugin(&spec, input, attempt).await
                    }
                    NodeStatus::Waiting => {
                        self.succeed(&node_id, vec![Emit { port: "out".to_owned(), data: input }]).await
                    }
                    _ => Ok(()),
                }
            }
        }
    }

    /// A plugin may only emit on the ports its kind declares.
    fn undeclared_port(&self, node_id: &str, emits: &[Emit]) -> Option<Failure> {
        let spec = self.workflow.node(node_id)?;
        let plugin = self.catalog.resolve(&PluginRef::parse(spec.uses.as_deref()?).ok()?).ok()?;
        let kind = plugin.kind(spec.kind.as_deref()?)?;
        let ports = crate::catalog::ports_of(kind, &spec.config);
        let bad = emits.iter().find(|e| !ports.contains(&e.port))?;
        Some(Failure::new(
            FailureCode::InvalidOutput,
            format!("emitted on port `{}`, which kind `{}` does not declare", bad.port, kind.name),
        ))
    }

    async fn succeed(&mut self, node_id: &str, emits: Vec<Emit>) -> Result<(), EngineError> {
        let node = self.node_mut(node_id);
        node.status = NodeStatus::Succeeded;
        node.emits = emits;
        node.error = None;
        node.wake_at = None;
        node.finished_at = Some(now_ms());
        self.save(node_id).await
    }

    /// Retries when the policy allows, else fails the node: onto its
    /// `error` edge if it has one, otherwise failing the run.
    async fn fail(&mut self, node_id: &str, failure: Failure, may_retry: bool) -> Result<(), EngineError> {
        self.fail_after(node_id, failure, may_retry, None).await
    }

    /// [`Driver::fail`], where a retry waits at least `at_least` (what a
    /// provider's `retry-after` asked for).
    async fn fail_after(
        &mut self,
        node_id: &str,
        failure: Failure,
        may_retry: bool,
        at_least: Option<Duration>,
    ) -> Result<(), EngineError> {
        let policy = self.spec(node_id)?.retry.unwrap_or_default();
        let has_error_edge = self.graph.has_error_edge(node_id);
        let node = self.node_mut(node_id);
        let attempt = node.attempt.max(1);
        node.attempt = attempt;
        node.history.push(AttemptRecord {
            attempt,
            failure: failure.clone(),
            wall_time_us: node.wall_time_us,
            finished_at: now_ms(),
        });
        if may_retry && failure.code.is_retryable() && attempt < policy.max_attempts {
            let delay = super::retry::delay(&policy, attempt, &mut rand::rng()).max(at_least.unwrap_or_default());
            let wake_at = now_ms() + delay.as_millis() as i64;
            node.status = NodeStatus::Retrying;
            node.error = Some(failure);
            node.wake_at = Some(wake_at);
            self.save(node_id).await?;
            self.schedule_wake(node_id, wake_at);
            return Ok(());
        }
        node.status = NodeStatus::Failed;
        node.finished_at = Some(now_ms());
        node.wake_at = None;
        node.emits = if has_error_edge {
            vec![Emit {
                port: "error".to_owned(),
                data: json!({"node": node_id, "code": failure.code, "message": failure.message, "attempts": attempt}),
            }]
        } else {
            Vec::new()
        };
        node.error = Some(failure.clone());
        self.save(node_id).await?;
        if !has_error_edge {
            self.failure = Some(format!("node `{node_id}` failed: {failure}"));
        }
        Ok(())
    }
}
