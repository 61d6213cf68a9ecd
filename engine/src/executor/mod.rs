//! Runs workflows with their documented semantics, durably: every run and node
//! state change is written to the store before the engine acts on it, so a
//! restarted engine resumes every unfinished run where it stopped.

mod admission;
pub mod agent;
mod builtins;
mod cluster;
mod driver;
mod error_workflow;
mod fair;
mod leases;
mod node_test;
mod offload;
mod prepare;
mod retry;
mod tenant_checks;
mod waiting;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use tokio::sync::broadcast;
use trellis_host_api::capabilities::HttpPolicy;
use trellis_host_api::capabilities::RequestBudget;
use trellis_host_api::{Limits, Runtime};

use crate::catalog::{Catalog, FixedPlugins, Plugins};
use crate::quota::rate::Rates;
use crate::quota::{Plan, Plans, QuotaExceeded};
use crate::secrets::{FixedSecrets, SecretSource};
use crate::store::TenantDocuments;
use crate::store::{NodeRecord, NodeStatus, RunRecord, RunStatus, Store, StoreError, TenantStore, now_ms};
use crate::workflow::{Problem, ValidationLimits, Workflow, validate};

pub use error_workflow::ON_ERROR;
pub use fair::FairSlots;
pub use node_test::NodeTestInput;
pub use retry::delay as retry_delay;

/// Engine-wide settings. Per-node limits are the tightest of these and the
/// node's own `timeout_ms`.
#[derive(Clone)]
pub struct EngineConfig {
    /// Plugin executions at once.
    pub max_concurrency: usize,
    /// Outbound HTTP rules for every plugin node.
    pub http: HttpPolicy,
    /// Each node's secrets and the names its plugin was granted.
    pub secrets: Arc<dyn SecretSource>,
    pub limits: Limits,
    pub validation: ValidationLimits,
    pub kv_quota_bytes: u64,
    /// When a top-level run that only waits is set aside (see
    /// `executor::waiting`): `None` keeps every run with its driver until it
    /// ends (the local commands, which drive a run to its end); `Some(d)`
    /// sets aside a run waiting on approvals alone at once, and one
    /// waiting on a timer when the timer is at least `d` away.
    pub set_aside: Option<Duration>,
    /// The plan of tenants that have none of their own.
    pub default_plan: Plan,
    /// How long a run stays leased to this process without a heartbeat;
    /// after it, another worker may take the run over.
    pub lease: Duration,
    /// Whether this process drives runs. A process that does not (the API
    /// of `serve --no-worker`) records runs unleased, for the workers.
    pub executes: bool,
    /// Runs this process takes from other processes' work at once (runs
    /// it records itself are driven here whatever their number).
    pub max_claimed_runs: usize,
    /// LLM providers and the rules their calls follow.
    pub llm: Arc<crate::llm::LlmGateway>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_concurrency: 16,
            http: HttpPolicy::allowing(["*"]),
            secrets: Arc::new(FixedSecrets::none()),
            limits: Limits::default(),
            validation: ValidationLimits::default(),
            kv_quota_bytes: 16 << 20,
            set_aside: None,
            // Embedded and local use serve one user, with nothing to share
            // by rate; `trellis serve` takes the operator's plan instead.
            default_plan: Plan { runs_per_second: u64::MAX, requests_per_second: u64::MAX, ..Plan::default() },
            lease: Duration::from_secs(30),
            executes: true,
            max_claimed_runs: 64,
            llm: Arc::new(crate::llm::LlmGateway::none()),
        }
    }
}

#[derive(Debug, Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("run `{0}` not found")]
    RunNotFound(String),
    #[error("workflow `{0}` is not saved")]
    WorkflowNotFound(String),
    #[error("run `{0}` has not finished")]
    NotFinished(String),
    #[error("run `{run}` has no node `{node}`")]
    UnknownNode { run: String, node: String },
    #[error("node `{node}` of run `{run}` is not waiting for approval")]
    NotWaiting { run: String, node: String },
    #[error("the workflow is invalid: {}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    #[error("input does not match the workflow's input_schema: {}", .0.join("; "))]
    InvalidInput(Vec<String>),
    #[error(transparent)]
    Quota(#[from] crate::quota::QuotaExceeded),
    #[error("stored run `{run}` cannot be executed: {message}")]
    Corrupt { run: String, message: String },
    #[error(transparent)]
    Plugins(#[from] crate::catalog::CatalogError),
    #[error("node `{node}` cannot be tested alone: {reason}")]
    NotTestable { node: String, reason: String },
}

/// A node changed state; for progress displays and live views.
#[derive(Debug, Clone, Serialize)]
pub struct NodeEvent {
    pub run_id: String,
    pub node_id: String,
    pub status: NodeStatus,
    pub attempt: u32,
    pub wall_time_us: u64,
    pub error: Option<String>,
}

/// A run changed status (it started running, or finished).
#[derive(Debug, Clone, Serialize)]
pub struct RunEvent {
    pub run_id: String,
    pub status: RunStatus,
    pub error: Option<String>,
}

/// What a run's driver tells listeners, in the order it wrote it to the
/// store.
#[derive(Debug, Clone)]
pub enum LiveEvent {
    Node(NodeEvent),
    Run(RunEvent),
}

impl LiveEvent {
    pub fn run_id(&self) -> &str {
        match self {
            LiveEvent::Node(event) => &event.run_id,
            LiveEvent::Run(event) => &event.run_id,
        }
    }
}

/// A run as its driver left it: ended, with its node records as written
/// (document order), or set aside or handed over, without them.
#[derive(Debug, Clone)]
pub struct Driven {
    pub run: RunRecord,
    pub nodes: Option<Vec<NodeRecord>>,
}

#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    runtime: Runtime,
    plugins: Arc<dyn Plugins>,
    store: Store,
    config: EngineConfig,
    permits: Arc<FairSlots>,
    events: broadcast::Sender<LiveEvent>,
    /// Wakes the drivers of a run tree on its approval or cancel request.
    signals: waiting::Signals,
    /// Wakes set-aside runs when they are due.
    watcher: Arc<waiting::Watcher>,
    plans: Plans,
    metrics: crate::metrics::Metrics,
    /// Each top-level run's HTTP request budget, shared by its nodes and
    /// its child runs while any of them runs.
    http_budgets: std::sync::Mutex<std::collections::HashMap<String, std::sync::Weak<RequestBudget>>>,
    /// Each tenant's run starts a second (`runs_per_second`).
    run_rates: Rates<crate::store::TenantId>,
    /// The top-level runs this process drives, and its leases on them.
    leases: leases::Leases,
    /// Saved workflows by tenant, id and version asked for (`None`: the
    /// latest), read on every start through the API: forgotten when a
    /// workflow of the tenant changes here or in another process.
    saved: crate::ttl_cache::TtlCache<SavedKey, (i64, Arc<Workflow>)>,
}

/// A saved workflow as a start names it: tenant, id, version (`None`: the
/// latest).
type SavedKey = (crate::store::TenantId, String, Option<i64>);

/// How long a saved workflow read is trusted when no notice of a change
/// arrives (a process that does not listen).
const SAVED_WORKFLOW_TTL: Duration = Duration::from_secs(2);

/// How long a top-level start waits for its turn under `runs_per_second`
/// before it is refused; a child run waits as long as it takes, since its
/// parent already holds its place.
const START_PATIENCE: Duration = Duration::from_secs(1);

impl Engine {
    /// An engine with one catalog for every tenant (the local commands).
    pub fn new(runtime: Runtime, catalog: Catalog, store: Store, config: EngineConfig) -> Self {
        Self::with_plugins(runtime, Arc::new(FixedPlugins(Arc::new(catalog))), store, config)
    }

    /// An engine whose tenants each use their own plugins (the server).
    pub fn with_plugins(runtime: Runtime, plugins: Arc<dyn Plugins>, store: Store, config: EngineConfig) -> Self {
        let (events, _) = broadcast::channel(1024);
        let permits = FairSlots::new(config.max_concurrency);
        let plans = Plans::new(config.default_plan.clone());
        let leases = leases::Leases::new(config.lease);
        Engine {
            inner: Arc::new(Inner {
                runtime,
                plugins,
                store,
                config,
                permits,
                events,
                signals: waiting::Signals::default(),
                watcher: Arc::default(),
                plans,
                metrics: crate::metrics::Metrics::default(),
                http_budgets: std::sync::Mutex::default(),
                run_rates: Rates::new("runs_per_second"),
                leases,
                saved: crate::ttl_cache::TtlCache::new(SAVED_WORKFLOW_TTL),
            }),
        }
    }

    /// The HTTP budget of the run tree `run_id` belongs to (child run ids
    /// start with their top-level run's id and a dot): the live one, or a
    /// new one with `left` of `limit` requests.
    pub(crate) fn http_budget(&self, run_id: &str, limit: u64, left: u64) -> Arc<RequestBudget> {
        let root = run_id.split('.').next().unwrap_or(run_id);
        let mut budgets = self.inner.http_budgets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(budget) = budgets.get(root).and_then(std::sync::Weak::upgrade) {
            return budget;
        }
        if budgets.len() >= 1024 {
            budgets.retain(|_, budget| budget.strong_count() > 0);
        }
        let budget = RequestBudget::new(limit, left);
        budgets.insert(root.to_owned(), Arc::downgrade(&budget));
        budget
    }

    /// The plugins a tenant's workflows may use.
    pub async fn catalog(&self, store: &TenantStore) -> Result<Arc<Catalog>, EngineError> {
        Ok(self.inner.plugins.for_tenant(store).await?)
    }

    /// The tenant's installs changed in this process: its next run sees them.
    pub fn forget_plugins(&self, tenant: &crate::store::TenantId) {
        self.inner.plugins.forget(Some(tenant));
    }

    /// The LLM gateway plugins and agent nodes call through.
    pub fn llm(&self) -> &Arc<crate::llm::LlmGateway> {
        &self.inner.config.llm
    }

    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Prometheus exposition text of this engine's metrics.
    pub fn metrics_text(&self) -> String {
        let depths: Vec<(String, usize)> =
            self.queue_depths().into_iter().map(|(tenant, n)| (tenant.as_str().to_owned(), n)).collect();
        self.inner.metrics.render(&depths)
    }

    /// Plugin nodes waiting for an execution slot, per tenant.
    pub fn queue_depths(&self) -> Vec<(crate::store::TenantId, usize)> {
        self.inner.permits.queue_depths()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.inner.events.subscribe()
    }

    /// Validation against the tenant's plugins, under its plan (its
    /// node-count quota).
    pub async fn validate(&self, store: &TenantStore, workflow: &Workflow) -> Result<Vec<Problem>, EngineError> {
        let plan = self.plan(store).await?;
        let catalog = self.catalog(store).await?;
        let max_nodes = usize::try_from(plan.nodes_per_workflow).unwrap_or(usize::MAX);
        let limits = ValidationLimits { max_nodes: self.inner.config.validation.max_nodes.min(max_nodes) };
        let mut problems = validate(workflow, &catalog, &limits);
        problems.extend(cron_problems(workflow, &plan));
        problems.extend(self.call_cycle(store, workflow).await?);
        problems.extend(tenant_checks::missing_webhook_secrets(store, workflow).await?);
        problems.extend(tenant_checks::missing_error_workflow(store, workflow).await?);
        Ok(problems)
    }

    /// Whether saving `workflow` would close a cycle of `subworkflow` calls
    /// between the tenant's saved workflows (their latest versions), found
    /// by following literal ids through the store, at most
    /// `calls::MAX_FOLLOWED` workflows.
    async fn call_cycle(&self, store: &TenantStore, workflow: &Workflow) -> Result<Option<Problem>, EngineError> {
        use crate::workflow::calls::{MAX_FOLLOWED, cycle_through, subworkflow_calls};
        let own = subworkflow_calls(workflow);
        if own.is_empty() {
            return Ok(None);
        }
        let mut graph = std::collections::BTreeMap::new();
        let mut queue: std::collections::VecDeque<String> = own.iter().map(|(_, id)| id.clone()).collect();
        graph.insert(workflow.id.clone(), queue.iter().cloned().collect::<Vec<_>>());
        let mut followed = 0;
        while let Some(id) = queue.pop_front() {
            if graph.contains_key(&id) || followed >= MAX_FOLLOWED {
                continue;
            }
            followed += 1;
            let calls: Vec<String> = match store.get_workflow(&id, None).await? {
                Some((_, saved)) => subworkflow_calls(&saved).into_iter().map(|(_, id)| id).collect(),
                None => Vec::new(),
            };
            queue.extend(calls.iter().cloned());
            graph.insert(id, calls);
        }
        let Some(cycle) = cycle_through(&workflow.id, &graph) else { return Ok(None) };
        let first = cycle.get(1).copied().unwrap_or_default();
        let path = own.iter().find(|(_, id)| id == first).map(|(path, _)| path.clone()).unwrap_or_default();
        Ok(Some(Problem {
            path,
            code: crate::workflow::ProblemCode::Cycle,
            message: format!("subworkflow calls form a cycle: {}", cycle.join(" → ")),
        }))
    }

    /// The tenant's plan (cached briefly).
    pub async fn plan(&self, store: &TenantStore) -> Result<Arc<Plan>, EngineError> {
        Ok(self.inner.plans.plan(store).await?)
    }

    /// Forget a cached plan after the operator changed it in this process.
    pub fn forget_plan(&self, tenant: &crate::store::TenantId) {
        self.inner.plans.forget(Some(tenant));
    }

    /// Validation as a gate: an invalid document goes no further.
    async fn check(&self, store: &TenantStore, workflow: &Workflow) -> Result<(), EngineError> {
        let problems = self.validate(store, workflow).await?;
        if problems.is_empty() { Ok(()) } else { Err(EngineError::Invalid(problems)) }
    }

    /// Validates a document and saves it as the workflow's next version.
    /// An invalid document is never stored.
    /// Its triggers become the workflow's (in the same transaction).
    pub async fn save(&self, store: &TenantStore, workflow: &Workflow) -> Result<i64, EngineError> {
        self.check(store, workflow).await?;
        if store.get_workflow(&workflow.id, None).await?.is_none() {
            let plan = self.plan(store).await?;
            QuotaExceeded::check("workflows", plan.workflows, store.workflow_count().await?)?;
        }
        let version = store.save_workflow(workflow, &crate::triggers::plan(workflow, now_ms())).await?;
        self.forget_saved(Some(store.tenant()));
        Ok(version)
    }

    /// Validates the document and the input, and records a new pending run.
    pub async fn start(
        &self,
        store: &TenantStore,
        workflow: &Workflow,
        version: Option<i64>,
        input: Value,
    ) -> Result<RunRecord, EngineError> {
        self.check(store, workflow).await?;
        self.record_run(store, workflow, version, input, RunStatus::Pending, None).await
    }

    /// Starts a run of a saved version (the latest when `None`), recorded
    /// as running: the caller drives it now, with [`Engine::launch`]. The
    /// document was validated when it was saved; a plugin uninstalled since
    /// then fails its node at run time.
    pub async fn start_saved(
        &self,
        store: &TenantStore,
        workflow_id: &str,
        version: Option<i64>,
        input: Value,
        started_by: &str,
    ) -> Result<(RunRecord, Workflow), EngineError> {
        let (version, workflow) = self.saved(store, workflow_id, version).await?;
        let run = self.start_loaded(store, &workflow, version, input, started_by).await?;
        Ok((run, workflow))
    }

    /// [`Engine::start_saved`] for a version the caller already read.
    pub async fn start_loaded(
        &self,
        store: &TenantStore,
        workflow: &Workflow,
        version: i64,
        input: Value,
        started_by: &str,
    ) -> Result<RunRecord, EngineError> {
        self.record_run(store, workflow, Some(version), input, RunStatus::Running, Some(started_by)).await
    }

    /// Drives a run that was just recorded as running (by `start_saved` or
    /// `start_loaded`, leased to this process) on a task of its own:
    /// nothing is read back.
    pub fn launch(
        &self,
        store: TenantStore,
        run: RunRecord,
        workflow: Workflow,
    ) -> tokio::task::JoinHandle<Result<Driven, EngineError>> {
        if !self.executes() {
            return self.await_worker(store, run.id);
        }
        let (tenant, run_id) = (store.tenant().clone(), run.id.clone());
        // Made here, not on the task: a cancel sent as soon as the caller
        // learns the run's id reaches its driver.
        let driver = driver::Driver::fresh(self.clone(), store, run, workflow).may_set_aside();
        self.drive_leased(tenant, run_id.clone(), async move {
            let result = driver.drive().await;
            if let Err(error) = &result {
                tracing::error!(%error, run = %run_id, "driving a run failed");
            }
            result
        })
    }

    /// Starts a run of the latest saved version under a given id, recorded
    /// as running, for triggers that must fire once: `None` when a run with
    /// that id exists.
    pub async fn start_saved_as(
        &self,
        store: &TenantStore,
        workflow_id: &str,
        input: Value,
        run_id: &str,
        started_by: &str,
    ) -> Result<Option<(RunRecord, Workflow)>, EngineError> {
        if store.get_run(run_id).await?.is_some() {
            return Ok(None);
        }
        let (version, workflow) = self.saved(store, workflow_id, None).await?;
        let mut run = self.new_run(&workflow, Some(version), input, RunStatus::Running, run_id.to_owned())?;
        run.started_by = Some(started_by.to_owned());
        Ok(self.admit(store, run).await?.map(|run| (run, workflow)))
    }

    /// [`Engine::start_loaded`] under a given id: `None` when a run with
    /// that id exists (the store admits an id once).
    pub async fn start_loaded_as(
        &self,
        store: &TenantStore,
        workflow: &Workflow,
        version: i64,
        input: Value,
        run_id: &str,
        started_by: &str,
    ) -> Result<Option<RunRecord>, EngineError> {
        let mut run = self.new_run(workflow, Some(version), input, RunStatus::Running, run_id.to_owned())?;
        run.started_by = Some(started_by.to_owned());
        self.admit(store, run).await
    }

    /// Drives a recorded top-level run (any state) on a task of its own,
    /// reading it back from the store, once this process holds its lease;
    /// failures are logged (the run record carries the outcome).
    pub fn spawn_drive(
        &self,
        store: TenantStore,
        run_id: String,
    ) -> tokio::task::JoinHandle<Result<Driven, EngineError>> {
        if !self.executes() {
            return self.await_worker(store, run_id);
        }
        self.claim_and_drive(store, run_id)
    }

    /// Starts a run of a saved version and drives it to the end.
    pub async fn run_saved(
        &self,
        store: &TenantStore,
        workflow_id: &str,
        version: Option<i64>,
        input: Value,
    ) -> Result<RunRecord, EngineError> {
        let (version, workflow) = self.saved(store, workflow_id, version).await?;
        // Recorded as running straight away: this process drives it now.
        let run = self.record_run(store, &workflow, Some(version), input, RunStatus::Running, None).await?;
        driver::Driver::fresh(self.clone(), store.clone(), run, workflow).run().await
    }

    /// Executes a run until it finishes, resuming from whatever the store
    /// holds. Returns the finished run record.
    pub fn drive<'a>(
        &'a self,
        store: &'a TenantStore,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<RunRecord, EngineError>> {
        Box::pin(async move { driver::Driver::load(self.clone(), store.clone(), run_id).await?.run().await })
    }

    /// [`Engine::drive`] for a run leased here, which is set aside when it
    /// only waits: the record answered is then the unfinished run.
    pub(super) async fn drive_leased_run(&self, store: &TenantStore, run_id: &str) -> Result<Driven, EngineError> {
        driver::Driver::load(self.clone(), store.clone(), run_id).await?.may_set_aside().drive().await
    }

    /// Starts a run and drives it to the end.
    pub async fn run(&self, store: &TenantStore, workflow: &Workflow, input: Value) -> Result<RunRecord, EngineError> {
        self.check(store, workflow).await?;
        // Recorded as running straight away: this process drives it now, and
        // nothing of it is stored but that record, so nothing is read back.
        let run = self.record_run(store, workflow, None, input, RunStatus::Running, None).await?;
        driver::Driver::fresh(self.clone(), store.clone(), run, workflow.clone()).run().await
    }

    /// Starts a new run of a finished run's document and input that reuses
    /// the recorded results of every node not downstream of `node_id`, and
    /// runs `node_id` and everything after it again.
    pub async fn rerun_from(&self, store: &TenantStore, run_id: &str, node_id: &str) -> Result<RunRecord, EngineError> {
        let (old, records) = self.details(store, run_id).await?;
        if !old.status.is_finished() {
            return Err(EngineError::NotFinished(run_id.to_owned()));
        }
        let workflow: Workflow = old
            .document
            .parse()
            .map_err(|e| EngineError::Corrupt { run: run_id.to_owned(), message: e.to_string() })?;
        if workflow.node(node_id).is_none() {
            return Err(EngineError::UnknownNode { run: run_id.to_owned(), node: node_id.to_owned() });
        }
        // Everything reachable from the chosen node runs again.
        let graph = crate::workflow::Graph::new(&workflow);
        let mut again = BTreeSet::from([node_id.to_owned()]);
        let mut frontier = vec![node_id.to_owned()];
        while let Some(id) = frontier.pop() {
            for edge in graph.outgoing(&id) {
                if again.insert(edge.to.clone()) {
                    frontier.push(edge.to.clone());
                }
            }
        }
        let mut run = self
            .record_run(store, &workflow, old.workflow_version, old.input.clone(), RunStatus::Pending, None)
            .await?;
        run.rerun_of = Some(crate::store::RerunOf { run_id: run_id.to_owned(), node_id: node_id.to_owned() });
        store.update_run(&run).await?;
        // Reuse finished upstream results; anything else starts fresh.
        let reused: Vec<NodeRecord> = records
            .into_iter()
            .filter(|n| !again.contains(&n.node_id))
            .filter(|n| matches!(n.status, NodeStatus::Succeeded | NodeStatus::Skipped))
            .map(|mut n| {
                n.idempotency_key = format!("{}:{}", run.id, n.node_id);
                n
            })
            .collect();
        store.put_nodes(&run.id, &reused.iter().collect::<Vec<_>>()).await?;
        Ok(run)
    }

    /// Records an approval decision (`{"approved": bool, ...}`) for a node
    /// that is waiting for one.
    pub async fn decide(
        &self,
        store: &TenantStore,
        run_id: &str,
        node_id: &str,
        decision: Value,
    ) -> Result<(), EngineError> {
        let run = store.get_run(run_id).await?.ok_or_else(|| EngineError::RunNotFound(run_id.to_owned()))?;
        let document: Workflow = run
            .document
            .parse()
            .map_err(|e| EngineError::Corrupt { run: run_id.to_owned(), message: e.to_string() })?;
        // An approval node, or an agent whose tool call waits for a person.
        let is_approval = document.node(node_id).is_some_and(|n| {
            matches!(n.builtin, Some(crate::workflow::Builtin::Approval | crate::workflow::Builtin::Agent))
        });
        let mut node = store
            .nodes(run_id)
            .await?
            .into_iter()
            .find(|n| n.node_id == node_id && n.status == NodeStatus::Waiting && n.signal.is_none())
            .filter(|_| is_approval)
            .ok_or_else(|| EngineError::NotWaiting { run: run_id.to_owned(), node: node_id.to_owned() })?;
        node.signal = Some(decision);
        store.put_node(run_id, &node).await?;
        self.signalled(store, run_id).await
    }

    /// Asks a run to stop; the driver cancels what is running.
    pub async fn cancel(&self, store: &TenantStore, run_id: &str) -> Result<(), EngineError> {
        let mut run = store.get_run(run_id).await?.ok_or_else(|| EngineError::RunNotFound(run_id.to_owned()))?;
        if !run.status.is_finished() {
            run.cancel_requested = true;
            store.update_run(&run).await?;
            self.signalled(store, run_id).await?;
        }
        Ok(())
    }

    /// A run's approval or cancel request was written: its driver reads it
    /// now, here or in the process that drives it; a set-aside run is due.
    async fn signalled(&self, store: &TenantStore, run_id: &str) -> Result<(), EngineError> {
        // A child run's driver is its top-level run's.
        let top = run_id.split('.').next().unwrap_or(run_id).to_owned();
        store.wake_run(&top).await?;
        self.inner.signals.signal(store.tenant(), &top);
        if self.executes() {
            self.work_arrived();
        }
        self.announce(crate::store::Notice::Signal { tenant: store.tenant().clone(), run: top }).await;
        Ok(())
    }

    /// The run record with every node record, in document order.
    pub async fn details(
        &self,
        store: &TenantStore,
        run_id: &str,
    ) -> Result<(RunRecord, Vec<NodeRecord>), EngineError> {
        let run = store.get_run(run_id).await?.ok_or_else(|| EngineError::RunNotFound(run_id.to_owned()))?;
        let mut nodes = store.nodes(run_id).await?;
        if let Ok(document) = run.document.parse::<Workflow>() {
            let order = document.index();
            nodes.sort_by_key(|n| order.get(n.node_id.as_str()).copied().unwrap_or(usize::MAX));
        }
        Ok((run, nodes))
    }
}

/// Cron triggers past the plan's count or firing more often than it allows.
fn cron_problems(workflow: &Workflow, plan: &Plan) -> Vec<Problem> {
    use crate::workflow::{ProblemCode, Trigger};
    let mut problems = Vec::new();
    let crons: Vec<(usize, &str)> = workflow
        .triggers
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Trigger::Cron { cron, .. } => Some((i, cron.as_str())),
            Trigger::Webhook { .. } => None,
        })
        .collect();
    if crons.len() as u64 > plan.cron_triggers_per_workflow {
        problems.push(Problem {
            path: "$.triggers".to_owned(),
            code: ProblemCode::InvalidTrigger,
            message: format!(
                "{} cron triggers, over the plan's limit of {} per workflow",
                crons.len(),
                plan.cron_triggers_per_workflow
            ),
        });
    }
    for (i, cron) in crons {
        let Ok(schedule) = crate::triggers::parse_schedule(cron) else { continue };
        if let Some(gap) = crate::triggers::shortest_interval(&schedule, 256)
            && (gap as u64) < plan.min_cron_interval_secs
        {
            problems.push(Problem {
                path: format!("$.triggers[{i}].cron"),
                code: ProblemCode::InvalidTrigger,
                message: format!(
                    "`{cron}` fires {gap} s apart, more often than the plan's shortest interval of {} s",
                    plan.min_cron_interval_secs
                ),
            });
        }
    }
    problems
}

/// Bytes a node's record carries before its output (its input and its
/// config after expressions); a failure when they alone pass `limit`.
pub(crate) fn carried(input: &Value, config: &Value, limit: u64) -> Result<u64, trellis_host_api::Failure> {
    let carried = json_len(input).saturating_add(json_len(config));
    if carried > limit {
        return Err(trellis_host_api::Failure::new(
            trellis_host_api::FailureCode::InvalidInput,
            format!("the node's input and config are {carried} bytes, over the payload limit of {limit} bytes"),
        ));
    }
    Ok(carried)
}

/// Bytes of `value`'s JSON text, counted without building it.
pub(crate) fn json_len(value: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self.0.saturating_add(buf.len() as u64);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing into a counter cannot fail, and a `Value` always serialises.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
