//! The workflow document's schema: the JSON Schema the engine derives from
//! its own document types (`schemars`), placed in the OpenAPI components so
//! requests and answers carrying a document reference it.

use serde_json::Value;
use utoipa::ToSchema;

/// A workflow document: `id`, `name`, `input_schema`, `triggers`, `nodes`,
/// `edges`, `ui` (see the README's Workflows section). Its schema is the
/// one the engine validates documents with.
#[derive(ToSchema)]
pub struct WorkflowDocument {}

const PLACEHOLDER: &str = "WorkflowDocument";

/// The components name of a schemars definition.
fn component(name: &str) -> String {
    if name.starts_with("Workflow") { name.to_owned() } else { format!("Workflow{name}") }
}

fn rewrite_refs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(name) = reference.strip_prefix("#/$defs/")
            {
                *reference = format!("#/components/schemas/{}", component(name));
            }
            map.values_mut().for_each(rewrite_refs);
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_refs),
        _ => {}
    }
}

/// Names every operation by its method and path (`get_v1_workflows_id`):
/// handlers in different modules share function names (`list`), and
/// generated clients key operations by id.
pub fn name_operations(document: &mut Value) {
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else { return };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            let words: Vec<String> = path
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            operation["operationId"] = Value::String(format!("{method}_{}", words.join("_")));
        }
    }
}

/// Replaces the placeholder component with the document's JSON Schema and
/// adds the definitions it refers to.
pub fn complete(document: &mut Value) {
    let Ok(mut schema) = serde_json::to_value(schemars::schema_for!(crate::workflow::Workflow)) else { return };
    let definitions = schema.as_object_mut().and_then(|m| m.remove("$defs"));
    if let Some(map) = schema.as_object_mut() {
        map.remove("$schema");
    }
    rewrite_refs(&mut schema);
    let Some(components) = document.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else { return };
    if let Some(Value::Object(definitions)) = definitions {
        for (name, mut definition) in definitions {
            rewrite_refs(&mut definition);
            components.insert(component(&name), definition);
        }
    }
    components.insert(PLACEHOLDER.to_owned(), schema);
}

#[derive(ToSchema)]
pub struct WorkflowSummary {
    pub id: String,
    /// The latest saved version.
    pub version: i64,
}

#[derive(ToSchema)]
pub struct WorkflowList {
    pub workflows: Vec<WorkflowSummary>,
}

/// A version saved.
#[derive(ToSchema)]
pub struct WorkflowSaved {
    pub id: String,
    pub version: i64,
}

/// A saved version and its document.
#[derive(ToSchema)]
pub struct WorkflowVersion {
    pub id: String,
    pub version: i64,
    pub document: WorkflowDocument,
}

#[derive(ToSchema)]
pub struct Validation {
    pub valid: bool,
    /// Every problem, each at its JSON path.
    pub problems: Vec<crate::workflow::Problem>,
}

#[derive(ToSchema)]
pub struct WorkflowVersionEntry {
    pub version: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: String,
}

#[derive(ToSchema)]
pub struct WorkflowVersionList {
    pub id: String,
    /// Newest first.
    pub versions: Vec<WorkflowVersionEntry>,
}

#[derive(ToSchema)]
pub struct WebhookPath {
    /// `/hooks/whk_…`: POST here to start a run.
    pub path: String,
}

#[derive(ToSchema)]
pub struct CronSchedule {
    pub workflow_id: String,
    /// The trigger's place in `triggers`.
    pub index: i64,
    /// Seconds first, UTC.
    pub expression: String,
    /// The run input of each fire.
    pub input: Value,
    #[schema(value_type = String, format = DateTime)]
    pub next_fire_at: String,
}

#[derive(ToSchema)]
pub struct Triggers {
    pub id: String,
    /// Absent when the latest version has no webhook trigger.
    pub webhook: Option<WebhookPath>,
    pub schedules: Vec<CronSchedule>,
}
