//! Recording a new run: the saved version it runs (cached briefly), its
//! input checked against the document's schema, and its admission under
//! the tenant's plan (payload, run rate, concurrency, runs a day).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::{Engine, EngineError, START_PATIENCE};
use crate::quota::{QuotaExceeded, day_of};
use crate::store::{Admission, RunQuotas, RunRecord, RunStatus, StoreError, TenantDocuments, TenantStore};
use crate::workflow::Workflow;

impl Engine {
    /// A saved version (the latest when `None`).
    pub(super) async fn saved(
        &self,
        store: &TenantStore,
        workflow_id: &str,
        version: Option<i64>,
    ) -> Result<(i64, Workflow), EngineError> {
        let key = (store.tenant().clone(), workflow_id.to_owned(), version);
        if let Some((version, workflow)) = self.inner.saved.get(&key) {
            return Ok((version, Workflow::clone(&workflow)));
        }
        let (version, workflow) = store
            .get_workflow(workflow_id, version)
            .await?
            .ok_or_else(|| EngineError::WorkflowNotFound(workflow_id.to_owned()))?;
        self.inner.saved.insert(key, (version, Arc::new(workflow.clone())));
        Ok((version, workflow))
    }

    /// Saved workflows of `tenant` (of every tenant with `None`) changed.
    pub(super) fn forget_saved(&self, tenant: Option<&crate::store::TenantId>) {
        match tenant {
            Some(tenant) => self.inner.saved.forget_where(|(of, _, _)| of == tenant),
            None => self.inner.saved.clear(),
        }
    }

    /// Records a new run (top-level or child) within the tenant's quotas;
    /// `None` when a run with its id exists.
    pub(super) async fn admit(&self, store: &TenantStore, run: RunRecord) -> Result<Option<RunRecord>, EngineError> {
        let plan = self.plan(store).await?;
        let payload = serde_json::to_vec(&run.input).map_err(StoreError::from)?.len() as u64;
        if payload > plan.payload_bytes {
            return Err(QuotaExceeded { quota: "payload_bytes", limit: plan.payload_bytes, used: payload }.into());
        }
        let patience = if run.parent.is_some() { Duration::MAX } else { START_PATIENCE };
        self.inner
            .run_rates
            .take(store.tenant(), plan.runs_per_second, patience)
            .await
            .map_err(|too_fast| too_fast.exceeded())?;
        let quotas = RunQuotas { concurrent_runs: plan.concurrent_runs, runs_per_day: plan.runs_per_day };
        // A top-level run is recorded leased to this process, which drives
        // it (unleased when this process does not execute, for a worker to
        // claim); a child run follows its parent's driver.
        let lease = (run.parent.is_none() && self.executes()).then(|| self.inner.leases.new_lease());
        match store.admit_run(&run, &day_of(run.created_at), quotas, lease).await? {
            Admission::Admitted => Ok(Some(run)),
            Admission::Exists => Ok(None),
            Admission::Refused(exceeded) => Err(exceeded.into()),
        }
    }

    /// Records a new top-level run within the tenant's quotas.
    pub(super) async fn record_run(
        &self,
        store: &TenantStore,
        workflow: &Workflow,
        version: Option<i64>,
        input: Value,
        status: RunStatus,
        started_by: Option<&str>,
    ) -> Result<RunRecord, EngineError> {
        let mut run = self.new_run(workflow, version, input, status, uuid::Uuid::now_v7().to_string())?;
        run.started_by = started_by.map(str::to_owned);
        let id = run.id.clone();
        self.admit(store, run).await?.ok_or_else(|| EngineError::Corrupt { run: id, message: "run id taken".into() })
    }

    /// A run record, after checking the input against the input schema.
    pub(super) fn new_run(
        &self,
        workflow: &Workflow,
        version: Option<i64>,
        input: Value,
        status: RunStatus,
        id: String,
    ) -> Result<RunRecord, EngineError> {
        if let Some(schema) = &workflow.input_schema {
            let validator = jsonschema::validator_for(schema)
                .map_err(|e| EngineError::InvalidInput(vec![format!("input_schema: {e}")]))?;
            let errors: Vec<String> =
                validator.iter_errors(&input).map(|e| format!("input{}: {e}", e.instance_path)).collect();
            if !errors.is_empty() {
                return Err(EngineError::InvalidInput(errors));
            }
        }
        let document = crate::store::Document::of(workflow).map_err(StoreError::from)?;
        let run = RunRecord::new(id, workflow.id.clone(), version, document, status, input);
        Ok(run)
    }
}
