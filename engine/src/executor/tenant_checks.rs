//! Checks of a document against what the tenant has, run with validation:
//! they need the store, so they live beside the engine rather than in the
//! document's own validation.

use super::EngineError;
use crate::store::TenantDocuments;
use crate::store::TenantStore;
use crate::workflow::{Problem, Workflow};

/// A webhook trigger that names a secret the tenant does not have would
/// refuse every delivery: a problem at save rather than at the first call.
/// Local runs (no tenant) have no triggers to serve.
pub(super) async fn missing_webhook_secrets(
    store: &TenantStore,
    workflow: &Workflow,
) -> Result<Vec<Problem>, EngineError> {
    use crate::workflow::{ProblemCode, Trigger};
    if *store.tenant() == crate::store::TenantId::local() {
        return Ok(Vec::new());
    }
    let mut problems = Vec::new();
    let mut names: Option<std::collections::BTreeSet<String>> = None;
    for (index, trigger) in workflow.triggers.iter().enumerate() {
        let Trigger::Webhook { webhook } = trigger else { continue };
        let Some(secret) = &webhook.secret else { continue };
        if names.is_none() {
            names = Some(store.secret_names().await?.into_iter().map(|s| s.name).collect());
        }
        if !names.as_ref().is_some_and(|names| names.contains(secret)) {
            problems.push(Problem {
                path: format!("$.triggers[{index}].webhook.secret"),
                code: ProblemCode::InvalidTrigger,
                message: format!(
                    "secret `{secret}` does not exist in this tenant: create it first (PUT /v1/secrets/{secret})"
                ),
            });
        }
    }
    Ok(problems)
}

/// `on_error` must name a workflow the tenant saved (or the document
/// itself). Local runs have no saved workflows to start.
pub(super) async fn missing_error_workflow(
    store: &TenantStore,
    workflow: &Workflow,
) -> Result<Option<Problem>, EngineError> {
    let Some(handler) = &workflow.on_error else { return Ok(None) };
    if *store.tenant() == crate::store::TenantId::local()
        || *handler == workflow.id
        || store.get_workflow(handler, None).await?.is_some()
    {
        return Ok(None);
    }
    Ok(Some(Problem {
        path: "$.on_error".to_owned(),
        code: crate::workflow::ProblemCode::UnknownWorkflow,
        message: format!("workflow `{handler}` does not exist in this tenant: save it first"),
    }))
}
