//! First-party plugins embedded in the binary, so a fresh install has them
//! ready without a marketplace: published into the local marketplace at
//! the server's start (signed with a first-party key made at the first
//! start) and installed in every new tenant.

use std::path::Path;
use std::sync::OnceLock;

use trellis_marketplace::publish::Upload;
use trellis_marketplace::{ComponentDigest, Manifest, PublisherSecretKey, Registry, RegistryError};
pub use trellis_plugin_artifacts::FirstParty;

use crate::installs::everything_requested;
use crate::store::{PluginGrants, PluginInstall, now_ms};

/// The publisher name of the plugins that ship with Trellis.
pub const PUBLISHER: &str = "trellis";

/// Every first-party plugin, by `publisher/name`.
pub fn all() -> &'static [FirstParty] {
    trellis_plugin_artifacts::FIRST_PARTY
}

/// A first-party plugin by name (`trellis/http-request`).
pub fn find(name: &str) -> Option<&'static FirstParty> {
    all().iter().find(|plugin| plugin.name == name)
}

fn digests() -> &'static [(String, &'static FirstParty)] {
    static DIGESTS: OnceLock<Vec<(String, &'static FirstParty)>> = OnceLock::new();
    DIGESTS.get_or_init(|| all().iter().map(|p| (ComponentDigest::of(p.component).to_string(), p)).collect())
}

/// The first-party plugin with this component digest, if it is one.
pub fn by_digest(digest: &str) -> Option<&'static FirstParty> {
    digests().iter().find(|(d, _)| d == digest).map(|(_, p)| *p)
}

/// A first-party plugin's manifest (embedded and checked by the tests).
pub fn manifest(plugin: &FirstParty) -> Result<Manifest, trellis_marketplace::ManifestError> {
    Manifest::parse(plugin.manifest.as_bytes())
}

/// What every new tenant starts with: each first-party plugin, within
/// its minor series, granted everything it requests (within the operator's
/// allowlist).
pub fn default_installs() -> Vec<(PluginInstall, PluginGrants)> {
    let now = now_ms();
    all()
        .iter()
        .filter_map(|plugin| {
            let manifest = manifest(plugin).ok()?;
            let install = PluginInstall {
                plugin: plugin.name.to_owned(),
                requirement: format!("^{}", plugin.version),
                version: plugin.version.to_owned(),
                digest: ComponentDigest::of(plugin.component).to_string(),
                installed_at: now,
                updated_at: now,
            };
            Some((install, everything_requested(&manifest.capabilities)))
        })
        .collect()
}

/// The first-party key in `dir` (`first-party.key`), made on first use.
pub fn key(dir: &Path) -> std::io::Result<PublisherSecretKey> {
    let path = dir.join("first-party.key");
    let invalid = |e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
    };
    match crate::private_file::read(&path)? {
        Some(bytes) => {
            let text = String::from_utf8(bytes).map_err(|e| invalid(&e))?;
            PublisherSecretKey::from_text(&text).map_err(|e| invalid(&e))
        }
        None => {
            let key = PublisherSecretKey::generate();
            crate::private_file::create(&path, key.to_text().as_bytes())?;
            Ok(key)
        }
    }
}

/// Registers and approves the first-party publisher and publishes every
/// first-party version the registry does not have yet. Returns how many
/// were published.
pub async fn publish_all(registry: &Registry, key: &PublisherSecretKey) -> Result<usize, RegistryError> {
    let public = key.public_key().to_text();
    registry.register_publisher(PUBLISHER, &public).await?;
    registry.approve_publisher(PUBLISHER).await?;
    let mut published = 0;
    for plugin in all() {
        let version: semver::Version = plugin.version.parse().map_err(|e| RegistryError::Corrupt(format!("{e}")))?;
        match registry.version(plugin.name, &version).await {
            Ok(_) => continue,
            Err(RegistryError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        let signature = key.sign(&ComponentDigest::of(plugin.component), plugin.manifest.as_bytes());
        let upload =
            Upload { component: plugin.component, manifest: plugin.manifest.as_bytes(), signature: &signature };
        registry.publish(&upload).await?;
        published += 1;
    }
    Ok(published)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_first_party_plugins_are_embedded() {
        for (name, version) in [("trellis/http-request", "0.1.2"), ("trellis/transform", "0.1.0")] {
            let plugin = find(name).unwrap_or_else(|| panic!("{name} missing"));
            assert!(plugin.component.starts_with(b"\0asm"));
            assert_eq!(plugin.version, version);
        }
        assert!(find("trellis/echo").is_none(), "test guests must not ship");
    }

    #[test]
    fn every_first_party_manifest_parses_and_names_its_plugin() {
        for plugin in all() {
            let manifest = manifest(plugin).unwrap_or_else(|e| panic!("{}: {e}", plugin.name));
            assert_eq!(manifest.name, plugin.name);
            assert_eq!(manifest.version.to_string(), plugin.version);
            assert_eq!(manifest.publisher(), PUBLISHER);
            assert_eq!(
                by_digest(&ComponentDigest::of(plugin.component).to_string()).map(|p| p.name),
                Some(plugin.name)
            );
        }
        assert_eq!(default_installs().len(), all().len());
    }
}
