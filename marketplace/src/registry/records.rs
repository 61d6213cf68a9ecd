//! What the registry answers with: the same types serve the HTTP API and
//! the client that pulls from a remote registry.

use serde::{Deserialize, Serialize};
use trellis_host_api::NodeKind;

use crate::manifest::{Capabilities, Category, Manifest, RequestedLimits};

/// A registered publisher. Only approved publishers may publish.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Publisher {
    pub name: String,
    /// `ed25519:<base64>`.
    pub public_key: String,
    #[serde(with = "crate::times::required")]
    #[schema(value_type = String, format = DateTime)]
    pub registered_at: i64,
    #[serde(with = "crate::times::optional", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub approved_at: Option<i64>,
}

impl Publisher {
    pub fn is_approved(&self) -> bool {
        self.approved_at.is_some()
    }
}

/// One plugin in a listing: its newest version that is not yanked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PluginSummary {
    pub name: String,
    pub publisher: String,
    pub description: String,
    #[schema(value_type = String)]
    pub category: Category,
    pub license: String,
    #[schema(value_type = String)]
    pub latest_version: semver::Version,
    #[serde(with = "crate::times::required")]
    #[schema(value_type = String, format = DateTime)]
    pub published_at: i64,
}

/// One version in a plugin's version list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionSummary {
    #[schema(value_type = String)]
    pub version: semver::Version,
    pub digest: String,
    #[serde(with = "crate::times::required")]
    #[schema(value_type = String, format = DateTime)]
    pub published_at: i64,
    /// Set once yanked: no new installs, existing ones keep working.
    #[serde(with = "crate::times::optional", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub yanked_at: Option<i64>,
}

/// Everything about one published version, including what a puller needs
/// to check it: the manifest as signed, the signature and the digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionDetail {
    pub name: String,
    #[schema(value_type = String)]
    pub version: semver::Version,
    pub publisher: String,
    pub description: String,
    #[schema(value_type = String)]
    pub category: Category,
    pub license: String,
    #[schema(value_type = Object)]
    pub capabilities: Capabilities,
    #[schema(value_type = Object)]
    pub limits: RequestedLimits,
    /// `sha256:<hex>` of the component: where its blob is.
    pub digest: String,
    pub size: u64,
    /// The `trellis-plugin.toml` exactly as published and signed.
    pub manifest: String,
    /// `ed25519:<base64>` over the digest and the manifest.
    pub signature: String,
    /// The node kinds `describe` returned in the sandbox at publish.
    #[schema(value_type = Vec<Object>)]
    pub kinds: Vec<NodeKind>,
    #[serde(with = "crate::times::required")]
    #[schema(value_type = String, format = DateTime)]
    pub published_at: i64,
    #[serde(with = "crate::times::optional", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub yanked_at: Option<i64>,
}

impl VersionDetail {
    pub(crate) fn new(
        manifest: &Manifest,
        manifest_text: String,
        digest: String,
        size: u64,
        signature: String,
        kinds: Vec<NodeKind>,
        published_at: i64,
    ) -> Self {
        VersionDetail {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            publisher: manifest.publisher().to_owned(),
            description: manifest.description.clone(),
            category: manifest.category,
            license: manifest.license.clone(),
            capabilities: manifest.capabilities.clone(),
            limits: manifest.limits.clone(),
            digest,
            size,
            manifest: manifest_text,
            signature,
            kinds,
            published_at,
            yanked_at: None,
        }
    }

    pub fn is_yanked(&self) -> bool {
        self.yanked_at.is_some()
    }
}

/// A listing's filters; all optional, all must hold.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Search {
    /// Words matched, case-insensitively, against names and descriptions.
    pub q: Option<String>,
    #[param(value_type = Option<String>)]
    pub category: Option<Category>,
    pub publisher: Option<String>,
    /// At most this many plugins (default and maximum 100).
    pub limit: Option<u32>,
}
