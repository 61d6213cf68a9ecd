//! Plugins installed in tenants: a semver range
//! pinned to a version until an explicit upgrade, with a grant that is a
//! subset of what the version requests. Workflows resolve `uses` only
//! against their tenant's installs.

mod catalogs;
mod grants;
pub mod service;
mod setup;
mod ungranted_kv;

pub use catalogs::{CATALOG_TTL, InstalledPlugins};
pub use grants::{GrantError, check_grants, everything_requested};
pub use service::InstallError;
pub use setup::{Blobs, Marketplace, SetupError, open_registry};
pub use ungranted_kv::UngrantedKv;
