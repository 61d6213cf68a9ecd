//! A central registry over HTTP (`trellis serve --marketplace URL`):
//! versions and details are read from it, components pulled by digest into
//! a local content-addressed cache, each checked against its digest and
//! its publisher's signature before use, with the publisher's key pinned
//! at the first pull ([`KeyPins`]).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use semver::Version;
use serde::de::DeserializeOwned;

use crate::blobs::BlobStore;
use crate::key_pins::KeyPins;
use crate::registry::{Publisher, VersionDetail, VersionSummary};
use crate::signing::{ComponentDigest, PublisherKey};
use crate::source::{PluginSource, SourceError, verify_pulled};

/// The largest JSON answer read from a registry (a version detail with
/// its kinds' schemas).
const MAX_ANSWER_BYTES: usize = 4 << 20;

pub struct RemoteRegistry {
    base: url::Url,
    client: reqwest::Client,
    cache: BlobStore,
    pins: KeyPins,
    max_component_bytes: usize,
}

impl RemoteRegistry {
    /// `base` is the registry's root URL (`https://plugins.example.com`);
    /// verified components are kept in `cache`, publishers' keys in `pins`.
    pub fn new(base: &str, cache: BlobStore, pins: KeyPins, max_component_bytes: usize) -> Result<Self, SourceError> {
        let base =
            url::Url::parse(base).map_err(|e| SourceError::Unavailable(format!("marketplace URL `{base}`: {e}")))?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| SourceError::Unavailable(e.to_string()))?;
        Ok(RemoteRegistry { base, client, cache, pins, max_component_bytes })
    }

    fn url(&self, segments: &[&str]) -> Result<url::Url, SourceError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| SourceError::Unavailable(format!("marketplace URL `{}` cannot have a path", self.base)))?
            .pop_if_empty()
            .extend(["v1", "marketplace"])
            .extend(segments);
        Ok(url)
    }

    /// A body up to `limit` bytes; 404 is `NotFound(what)`.
    async fn fetch(&self, url: url::Url, what: &str, limit: usize) -> Result<Bytes, SourceError> {
        let unavailable = |e: reqwest::Error| SourceError::Unavailable(format!("{what}: {e}"));
        let mut response = self.client.get(url).send().await.map_err(unavailable)?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(SourceError::NotFound(what.to_owned()));
        }
        if !response.status().is_success() {
            return Err(SourceError::Unavailable(format!("{what}: the registry answered {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > limit {
                return Err(SourceError::Unavailable(format!("{what}: the answer is over {limit} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(body))
    }

    async fn fetch_json<T: DeserializeOwned>(&self, segments: &[&str], what: &str) -> Result<T, SourceError> {
        let body = self.fetch(self.url(segments)?, what, MAX_ANSWER_BYTES).await?;
        serde_json::from_slice(&body).map_err(|e| SourceError::Unavailable(format!("{what}: unreadable answer: {e}")))
    }
}

fn split_name(name: &str) -> Result<(&str, &str), SourceError> {
    name.split_once('/').ok_or_else(|| SourceError::NotFound(format!("plugin `{name}`")))
}

#[async_trait]
impl PluginSource for RemoteRegistry {
    async fn versions(&self, name: &str) -> Result<Vec<VersionSummary>, SourceError> {
        #[derive(serde::Deserialize)]
        struct Versions {
            versions: Vec<VersionSummary>,
        }
        let (publisher, plugin) = split_name(name)?;
        let answer: Versions = self.fetch_json(&["plugins", publisher, plugin], &format!("plugin `{name}`")).await?;
        Ok(answer.versions)
    }

    async fn version(&self, name: &str, version: &Version) -> Result<VersionDetail, SourceError> {
        let (publisher, plugin) = split_name(name)?;
        let detail: VersionDetail = self
            .fetch_json(&["plugins", publisher, plugin, &version.to_string()], &format!("{name}@{version}"))
            .await?;
        if detail.name != name || &detail.version != version {
            return Err(SourceError::Verification(format!(
                "asked for {name}@{version}, the registry answered {}@{}",
                detail.name, detail.version
            )));
        }
        Ok(detail)
    }

    async fn component(&self, detail: &VersionDetail) -> Result<Bytes, SourceError> {
        let digest = ComponentDigest::parse(&detail.digest).map_err(|e| SourceError::Verification(e.to_string()))?;
        // The key of the publisher the name says, whatever the detail says.
        let (owner, _) = split_name(&detail.name)?;
        if detail.publisher != owner {
            return Err(SourceError::Verification(format!(
                "{}@{}: the registry names `{}` as its publisher, the name says `{owner}`",
                detail.name, detail.version, detail.publisher
            )));
        }
        let publisher: Publisher = self.fetch_json(&["publishers", owner], &format!("publisher `{owner}`")).await?;
        if publisher.name != owner {
            return Err(SourceError::Verification(format!(
                "asked for publisher `{owner}`, the registry answered `{}`",
                publisher.name
            )));
        }
        let key =
            PublisherKey::from_text(&publisher.public_key).map_err(|e| SourceError::Verification(e.to_string()))?;
        self.pins.check(&detail.publisher, &key)?;
        let cached = self.cache.get(&digest).await.map_err(|e| SourceError::Unavailable(e.to_string()))?;
        let pulled = cached.is_none();
        let bytes = match cached {
            Some(bytes) => bytes,
            None => {
                let url = self.url(&["blobs", &detail.digest])?;
                self.fetch(url, &format!("blob {}", detail.digest), self.max_component_bytes).await?
            }
        };
        // Checked on every use, cached or not: the cache is only as
        // trustworthy as the disk it is on. Only verified bytes are cached.
        verify_pulled(detail, &bytes, &key)?;
        self.pins.pin(&detail.publisher, &key)?;
        if pulled {
            self.cache.put(bytes.clone()).await.map_err(|e| SourceError::Unavailable(e.to_string()))?;
        }
        Ok(bytes)
    }
}
