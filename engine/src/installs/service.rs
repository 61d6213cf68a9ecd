//! Installing, upgrading and uninstalling plugins in a tenant. The
//! version a range resolves to is pinned (with its digest)
//! until an explicit upgrade; yanked versions are never newly chosen, but
//! an install that has one keeps it.

use semver::{Version, VersionReq};
use thiserror::Error;
use trellis_marketplace::Capabilities;
use trellis_marketplace::registry::VersionSummary;
use trellis_marketplace::source::SourceError;

use super::catalogs::InstalledPlugins;
use super::grants::{GrantError, check_grants};
use crate::catalog::CatalogError;
use crate::store::TenantDocuments;
use crate::store::{PluginGrants, PluginInstall, StoreError, TenantStore, now_ms};
use crate::workflow::PluginRef;

#[derive(Debug, Error)]
pub enum InstallError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error("plugin `{0}` is not in the marketplace")]
    UnknownPlugin(String),
    #[error("no version of `{name}` that is not yanked matches `{requirement}` (published: {published})")]
    NoMatchingVersion { name: String, requirement: String, published: String },
    #[error("`{plugin}` is already installed at {version}; upgrade it instead")]
    AlreadyInstalled { plugin: String, version: String },
    #[error("plugin `{0}` is not installed")]
    NotInstalled(String),
    #[error(transparent)]
    Grant(#[from] GrantError),
    #[error("`{plugin}` is used by workflow(s) {}; change them first", .workflows.join(", "))]
    InUse { plugin: String, workflows: Vec<String> },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Plugin(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn requirement(text: &str) -> Result<VersionReq, InstallError> {
    VersionReq::parse(text).map_err(|e| InstallError::Invalid {
        field: "version",
        message: format!("`{text}` is not a semver range: {e}"),
    })
}

fn plugin_name(name: &str) -> Result<(), InstallError> {
    match name.split_once('/') {
        Some((publisher, plugin))
            if trellis_marketplace::manifest::is_slug(publisher) && trellis_marketplace::manifest::is_slug(plugin) =>
        {
            Ok(())
        }
        _ => Err(InstallError::Invalid { field: "name", message: format!("`{name}` is not `publisher/plugin`") }),
    }
}

/// The newest version matching the range that is not yanked.
fn choose(name: &str, wanted: &VersionReq, versions: &[VersionSummary]) -> Result<VersionSummary, InstallError> {
    versions
        .iter()
        .filter(|v| v.yanked_at.is_none() && wanted.matches(&v.version))
        .max_by(|a, b| a.version.cmp(&b.version))
        .cloned()
        .ok_or_else(|| InstallError::NoMatchingVersion {
            name: name.to_owned(),
            requirement: wanted.to_string(),
            published: versions
                .iter()
                .map(|v| if v.yanked_at.is_some() { format!("{} (yanked)", v.version) } else { v.version.to_string() })
                .collect::<Vec<_>>()
                .join(", "),
        })
}

async fn versions(plugins: &InstalledPlugins, name: &str) -> Result<Vec<VersionSummary>, InstallError> {
    match plugins.source().versions(name).await {
        Err(SourceError::NotFound(_)) => Err(InstallError::UnknownPlugin(name.to_owned())),
        other => Ok(other?),
    }
}

/// What a version requests: the embedded manifest of a first-party
/// plugin, or the marketplace's record.
pub async fn requested(
    plugins: &InstalledPlugins,
    name: &str,
    version: &Version,
) -> Result<Capabilities, InstallError> {
    if let Some(first_party) = crate::first_party::find(name).filter(|p| p.version == version.to_string())
        && let Ok(manifest) = crate::first_party::manifest(first_party)
    {
        return Ok(manifest.capabilities);
    }
    Ok(plugins.source().version(name, version).await?.capabilities)
}

/// Resolves the range, checks the grant against what that version
/// requests, fetches and loads the component, then records the install.
pub async fn install(
    store: &TenantStore,
    plugins: &InstalledPlugins,
    name: &str,
    range: &str,
    grants: &PluginGrants,
) -> Result<PluginInstall, InstallError> {
    plugin_name(name)?;
    let wanted = requirement(range)?;
    if let Some(existing) = store.install(name).await? {
        return Err(InstallError::AlreadyInstalled { plugin: name.to_owned(), version: existing.version });
    }
    let chosen = choose(name, &wanted, &versions(plugins, name).await?)?;
    check_grants(name, &requested(plugins, name, &chosen.version).await?, grants)?;
    let now = now_ms();
    let install = PluginInstall {
        plugin: name.to_owned(),
        requirement: wanted.to_string(),
        version: chosen.version.to_string(),
        digest: chosen.digest,
        installed_at: now,
        updated_at: now,
    };
    // Fetched, verified and loaded before it is recorded: an install that
    // cannot run is refused now rather than failing its first node.
    plugins.component(&install).await?;
    store.put_install(&install, grants).await?;
    Ok(install)
}

/// Moves an install to the newest version in its range (or in a new
/// range), keeping its grants, which must still be within what that
/// version requests. Returns the version it was at.
pub async fn upgrade(
    store: &TenantStore,
    plugins: &InstalledPlugins,
    name: &str,
    range: Option<&str>,
) -> Result<(String, PluginInstall), InstallError> {
    let current = store.install(name).await?.ok_or_else(|| InstallError::NotInstalled(name.to_owned()))?;
    let wanted = requirement(range.unwrap_or(&current.requirement))?;
    let chosen = choose(name, &wanted, &versions(plugins, name).await?)?;
    let grants = store.plugin_grants(name).await?;
    check_grants(name, &requested(plugins, name, &chosen.version).await?, &grants)?;
    let upgraded = PluginInstall {
        requirement: wanted.to_string(),
        version: chosen.version.to_string(),
        digest: chosen.digest,
        updated_at: now_ms(),
        ..current.clone()
    };
    plugins.component(&upgraded).await?;
    store.put_install(&upgraded, &grants).await?;
    Ok((current.version, upgraded))
}

/// Checks new grants for an installed plugin against what its installed
/// version requests.
pub async fn check_new_grants(
    store: &TenantStore,
    plugins: &InstalledPlugins,
    name: &str,
    grants: &PluginGrants,
) -> Result<(), InstallError> {
    let current = store.install(name).await?.ok_or_else(|| InstallError::NotInstalled(name.to_owned()))?;
    let version: Version = current
        .version
        .parse()
        .map_err(|e| InstallError::Invalid { field: "version", message: format!("stored version: {e}") })?;
    check_grants(name, &requested(plugins, name, &version).await?, grants)?;
    Ok(())
}

/// Workflows whose latest version uses the plugin.
pub async fn users(store: &TenantStore, name: &str) -> Result<Vec<String>, InstallError> {
    let mut users = Vec::new();
    for (id, _) in store.list_workflows().await? {
        let Some((_, workflow)) = store.get_workflow(&id, None).await? else { continue };
        let uses_it = workflow
            .nodes
            .iter()
            .filter_map(|node| node.uses.as_deref())
            .any(|uses| PluginRef::parse(uses).is_ok_and(|r| r.name == name));
        if uses_it {
            users.push(id);
        }
    }
    Ok(users)
}

/// Removes an install unless a workflow uses it.
pub async fn uninstall(store: &TenantStore, name: &str) -> Result<(), InstallError> {
    let workflows = users(store, name).await?;
    if !workflows.is_empty() {
        return Err(InstallError::InUse { plugin: name.to_owned(), workflows });
    }
    if store.delete_install(name).await? { Ok(()) } else { Err(InstallError::NotInstalled(name.to_owned())) }
}
