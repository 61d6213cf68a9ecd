//! The plugins a workflow may use: resolved from `uses` at save time and
//! run time. Locally that is the first-party plugins plus a folder of
//! components ([`FixedPlugins`]); in the server it is each tenant's
//! installed plugins (`crate::installs::InstalledPlugins`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use thiserror::Error;
use trellis_host_api::{NodeKind, Plugin, Runtime};

use crate::store::{PluginGrants, TenantId, TenantStore};
use crate::workflow::PluginRef;

/// A plugin ready to run, with what its `describe` returned.
#[derive(Clone)]
pub struct InstalledPlugin {
    pub name: String,
    pub version: semver::Version,
    pub plugin: Plugin,
    pub kinds: Vec<NodeKind>,
    /// Each kind's config schema, compiled once (absent when the schema
    /// itself is invalid; validation reports that).
    validators: BTreeMap<String, Arc<jsonschema::Validator>>,
    /// What the tenant granted an installed plugin. `None` in the local
    /// catalog, where the operator's flags are the whole policy.
    pub grants: Option<PluginGrants>,
}

/// The output ports of a node of `kind` with this `config`. A declared port
/// `{config.FIELD}` stands for one port per string in the node's config
/// field FIELD (a classifier's labels, say): the graph branches on them.
pub fn ports_of(kind: &NodeKind, config: &serde_json::Value) -> Vec<String> {
    let mut ports = Vec::new();
    for port in &kind.ports {
        match port.strip_prefix("{config.").and_then(|rest| rest.strip_suffix('}')) {
            Some(field) => ports
                .extend(config[field].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned))),
            None => ports.push(port.clone()),
        }
    }
    ports
}

/// Where a tenant's catalog comes from.
#[async_trait]
pub trait Plugins: Send + Sync {
    /// The plugins the tenant's workflows may use.
    async fn for_tenant(&self, store: &TenantStore) -> Result<Arc<Catalog>, CatalogError>;
    /// The tenant's installs changed (`None`: any tenant's may have).
    fn forget(&self, _tenant: Option<&TenantId>) {}
}

/// One catalog for every tenant: the local commands and benchmarks.
pub struct FixedPlugins(pub Arc<Catalog>);

#[async_trait]
impl Plugins for FixedPlugins {
    async fn for_tenant(&self, _store: &TenantStore) -> Result<Arc<Catalog>, CatalogError> {
        Ok(self.0.clone())
    }
}

impl std::fmt::Debug for InstalledPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstalledPlugin").field("name", &self.name).field("version", &self.version).finish()
    }
}

impl InstalledPlugin {
    /// Loads a component into the sandbox and runs its `describe`.
    pub async fn load(
        runtime: &Runtime,
        name: &str,
        version: semver::Version,
        component: &[u8],
    ) -> Result<InstalledPlugin, CatalogError> {
        let load_error = |message: String| CatalogError::Load { name: name.to_owned(), message };
        let plugin = runtime.load(component).map_err(|e| load_error(e.to_string()))?;
        let kinds = runtime.describe(&plugin).await.map_err(|e| load_error(e.to_string()))?;
        Self::described(runtime, name, version, component, kinds)
    }

    /// Loads a component with the kinds its `describe` returned when it was
    /// published (the registry's record): nothing of the plugin runs.
    pub fn described(
        runtime: &Runtime,
        name: &str,
        version: semver::Version,
        component: &[u8],
        kinds: Vec<NodeKind>,
    ) -> Result<InstalledPlugin, CatalogError> {
        let load_error = |message: String| CatalogError::Load { name: name.to_owned(), message };
        let plugin = runtime.load(component).map_err(|e| load_error(e.to_string()))?;
        let validators = kinds
            .iter()
            .filter_map(|k| Some((k.name.clone(), Arc::new(jsonschema::validator_for(&k.config_schema).ok()?))))
            .collect();
        Ok(InstalledPlugin { name: name.to_owned(), version, plugin, kinds, validators, grants: None })
    }

    pub fn kind(&self, name: &str) -> Option<&NodeKind> {
        self.kinds.iter().find(|k| k.name == name)
    }

    /// The compiled config schema of a kind.
    pub fn config_validator(&self, kind: &str) -> Option<Arc<jsonschema::Validator>> {
        self.validators.get(kind).cloned()
    }
}

#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("loading plugin {name}: {message}")]
    Load { name: String, message: String },
    #[error("reading plugin folder {path}: {source}")]
    Folder { path: String, source: std::io::Error },
    /// The tenant's installs could not be read or fetched right now.
    #[error("the tenant's plugins are unavailable: {0}")]
    Unavailable(String),
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ResolveError {
    #[error("plugin `{0}` is not installed")]
    Unknown(String),
    #[error("no installed version of `{name}` matches `{requirement}` (installed: {installed})")]
    NoMatchingVersion { name: String, requirement: String, installed: String },
}

#[derive(Debug, Default, Clone)]
pub struct Catalog {
    plugins: Vec<Arc<InstalledPlugin>>,
}

impl Catalog {
    /// The first-party plugins, plus every `NAME.wasm` in `folder` as
    /// `local/NAME` version 0.0.0.
    pub async fn local(runtime: &Runtime, folder: Option<&Path>) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::default();
        for plugin in crate::first_party::all() {
            let version = semver::Version::parse(plugin.version)
                .map_err(|e| CatalogError::Load { name: plugin.name.to_owned(), message: e.to_string() })?;
            catalog.install(runtime, plugin.name, version, plugin.component).await?;
        }
        if let Some(folder) = folder {
            let folder_error = |source| CatalogError::Folder { path: folder.display().to_string(), source };
            let mut files: Vec<_> = std::fs::read_dir(folder)
                .map_err(folder_error)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
                .collect();
            files.sort();
            for path in files {
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                let name = format!("local/{stem}");
                let bytes = std::fs::read(&path).map_err(folder_error)?;
                catalog.install(runtime, &name, semver::Version::new(0, 0, 0), &bytes).await?;
            }
        }
        Ok(catalog)
    }

    /// Loads, describes and adds one component.
    pub async fn install(
        &mut self,
        runtime: &Runtime,
        name: &str,
        version: semver::Version,
        component: &[u8],
    ) -> Result<Arc<InstalledPlugin>, CatalogError> {
        let installed = Arc::new(InstalledPlugin::load(runtime, name, version, component).await?);
        self.plugins.push(installed.clone());
        Ok(installed)
    }

    /// A catalog of plugins loaded elsewhere.
    pub fn of(plugins: Vec<Arc<InstalledPlugin>>) -> Catalog {
        Catalog { plugins }
    }

    /// The highest installed version matching the reference.
    pub fn resolve(&self, reference: &PluginRef) -> Result<Arc<InstalledPlugin>, ResolveError> {
        let candidates: Vec<&Arc<InstalledPlugin>> = self.plugins.iter().filter(|p| p.name == reference.name).collect();
        if candidates.is_empty() {
            return Err(ResolveError::Unknown(reference.name.clone()));
        }
        candidates
            .iter()
            .filter(|p| reference.requirement.matches(&p.version))
            .max_by(|a, b| a.version.cmp(&b.version))
            .map(|p| (*p).clone())
            .ok_or_else(|| ResolveError::NoMatchingVersion {
                name: reference.name.clone(),
                requirement: reference.requirement.to_string(),
                installed: candidates.iter().map(|p| p.version.to_string()).collect::<Vec<_>>().join(", "),
            })
    }

    pub fn plugins(&self) -> &[Arc<InstalledPlugin>] {
        &self.plugins
    }
}
