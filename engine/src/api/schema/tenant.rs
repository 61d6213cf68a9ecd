//! Secrets, installed plugins, the catalog, LLM providers, plan and usage.

use serde_json::Value;
use utoipa::ToSchema;

use crate::store::PluginGrants;

#[derive(ToSchema)]
pub struct SecretEntry {
    pub name: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
}

/// Names and write times; never a value.
#[derive(ToSchema)]
pub struct SecretList {
    pub secrets: Vec<SecretEntry>,
}

/// What a tenant granted one plugin.
#[derive(ToSchema)]
pub struct PluginGrantsAnswer {
    /// `publisher/plugin`.
    pub plugin: String,
    pub grants: PluginGrants,
}

#[derive(ToSchema)]
pub struct Install {
    /// `publisher/plugin`.
    pub plugin: String,
    /// The semver range installed (`^1.2`); upgrades stay in it.
    pub requirement: String,
    /// The version in use.
    pub version: String,
    /// `sha256:<hex>` of its component.
    pub digest: String,
    #[schema(value_type = String, format = DateTime)]
    pub installed_at: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
}

#[derive(ToSchema)]
pub struct Installed {
    pub install: Install,
    pub grants: PluginGrants,
}

#[derive(ToSchema)]
pub struct InstalledList {
    pub plugins: Vec<Installed>,
}

#[derive(ToSchema)]
pub struct Upgraded {
    /// The version before.
    pub from: String,
    pub install: Install,
}

/// A node kind: what the palette shows and the config form is made from.
#[derive(ToSchema)]
pub struct NodeKind {
    pub name: String,
    pub title: String,
    pub description: String,
    pub category: String,
    /// JSON Schema of the config; fields with `format: secret-name` hold a
    /// tenant secret's name.
    pub config_schema: Value,
    pub input_schema: Value,
    pub output_schema: Value,
    /// Output ports, `error` aside (every node has it).
    pub ports: Vec<String>,
}

#[derive(ToSchema)]
pub struct DynamicPorts {
    /// Where the extra ports come from, e.g. `config.cases`.
    pub from: String,
    pub description: String,
}

/// A built-in node kind (`builtin:` in a document).
#[derive(ToSchema)]
pub struct BuiltinKind {
    pub name: String,
    pub title: String,
    pub description: String,
    /// Always `control`.
    pub category: String,
    pub config_schema: Value,
    pub input_schema: Value,
    pub output_schema: Value,
    pub ports: Vec<String>,
    /// Ports named by the config (`switch`).
    #[schema(required = false)]
    pub dynamic_ports: Option<DynamicPorts>,
}

#[derive(ToSchema)]
pub struct CatalogPlugin {
    /// `publisher/plugin`.
    pub plugin: String,
    pub version: String,
    pub kinds: Vec<NodeKind>,
}

#[derive(ToSchema)]
pub struct Catalog {
    pub plugins: Vec<CatalogPlugin>,
    pub builtins: Vec<BuiltinKind>,
}

#[derive(ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// A provider as the tenant sees it; never its key.
#[derive(ToSchema)]
pub struct LlmProvider {
    pub name: String,
    /// `tenant` (set here) or `operator` (the server's file; read-only).
    pub source: String,
    /// `openai` or `anthropic`.
    pub kind: String,
    #[schema(required = false)]
    pub base_url: Option<String>,
    pub default_model: String,
    pub allowed_models: Vec<String>,
    pub max_tokens: u32,
    pub default: bool,
    pub has_api_key: bool,
    #[schema(value_type = Option<String>, format = DateTime, required = false)]
    pub updated_at: Option<String>,
}

#[derive(ToSchema)]
pub struct LlmProviderList {
    pub providers: Vec<LlmProvider>,
}

#[derive(ToSchema)]
pub struct LlmProviderSaved {
    pub provider: LlmProvider,
}

#[derive(ToSchema)]
pub struct ModelUse {
    pub provider: String,
    pub model: String,
    pub calls: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(ToSchema)]
pub struct UsageDay {
    /// `YYYY-MM-DD`.
    pub day: String,
    pub usage: crate::quota::Usage,
    pub llm_models: Vec<ModelUse>,
}

#[derive(ToSchema)]
pub struct UsageReport {
    pub from: String,
    pub to: String,
    pub days: Vec<UsageDay>,
}

#[derive(ToSchema)]
pub struct Today {
    pub day: String,
    pub usage: crate::quota::Usage,
}

#[derive(ToSchema)]
pub struct PlanAnswer {
    /// The tenant's quotas (see the README's Quotas).
    pub plan: crate::quota::Plan,
    pub today: Today,
}

/// A node run alone (`POST /v1/workflows/{id}/nodes/{node}/test`).
#[derive(ToSchema)]
pub struct NodeTested {
    pub workflow: String,
    pub version: i64,
    pub node: super::runs::Node,
}
