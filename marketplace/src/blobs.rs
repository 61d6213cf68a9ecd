//! Published components, stored content-addressed through `object_store`
//!: a local directory by default, any S3-compatible store by
//! configuration, so several servers can share one.
//!
//! A blob's key is its digest (`sha256/<hex>`), so writing the same
//! component twice is harmless and a blob never changes once written.
//! Reads check the digest again: a store that hands back other bytes is
//! an error, never a plugin.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use thiserror::Error;

use crate::signing::ComponentDigest;

#[derive(Debug, Error)]
pub enum BlobError {
    #[error("blob storage: {0}")]
    Store(#[from] object_store::Error),
    #[error("blob storage location `{location}` is not usable: {message}")]
    Location { location: String, message: String },
    #[error("blob {expected} came back with other content ({found})")]
    Corrupt { expected: String, found: String },
}

#[derive(Clone)]
pub struct BlobStore {
    store: Arc<dyn ObjectStore>,
}

fn key(digest: &ComponentDigest) -> ObjectPath {
    ObjectPath::from(format!("sha256/{}", hex::encode(digest.as_bytes())))
}

impl BlobStore {
    /// A directory on this machine (created if missing).
    pub fn local(dir: &Path) -> Result<Self, BlobError> {
        let location = || dir.display().to_string();
        std::fs::create_dir_all(dir)
            .map_err(|e| BlobError::Location { location: location(), message: e.to_string() })?;
        let store = LocalFileSystem::new_with_prefix(dir)
            .map_err(|e| BlobError::Location { location: location(), message: e.to_string() })?;
        Ok(BlobStore { store: Arc::new(store) })
    }

    /// A store named by URL: `file:///srv/blobs`, or `s3://bucket/prefix`
    /// with `options` such as `aws_endpoint`, `aws_region`,
    /// `aws_access_key_id`, `aws_secret_access_key` (any S3-compatible
    /// service).
    pub fn from_url(url: &str, options: impl IntoIterator<Item = (String, String)>) -> Result<Self, BlobError> {
        let parsed = url::Url::parse(url)
            .map_err(|e| BlobError::Location { location: url.to_owned(), message: e.to_string() })?;
        let (store, prefix) = object_store::parse_url_opts(&parsed, options)?;
        let store: Arc<dyn ObjectStore> = Arc::from(store);
        Ok(BlobStore { store: Arc::new(object_store::prefix::PrefixStore::new(store, prefix)) })
    }

    /// Stores a component under its digest; returns the digest.
    pub async fn put(&self, component: Bytes) -> Result<ComponentDigest, BlobError> {
        let digest = ComponentDigest::of(&component);
        self.store.put(&key(&digest), component.into()).await?;
        Ok(digest)
    }

    /// The component with this digest, checked; `None` if there is none.
    pub async fn get(&self, digest: &ComponentDigest) -> Result<Option<Bytes>, BlobError> {
        let bytes = match self.store.get(&key(digest)).await {
            Ok(found) => found.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let found = ComponentDigest::of(&bytes);
        if &found != digest {
            return Err(BlobError::Corrupt { expected: digest.to_string(), found: found.to_string() });
        }
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn components_are_stored_by_digest_and_checked_on_the_way_back() {
        let dir = tempfile::tempdir().expect("temp dir");
        let blobs = BlobStore::local(dir.path()).expect("local store");
        let component = Bytes::from_static(b"\0asm a component");
        let digest = blobs.put(component.clone()).await.expect("put");
        assert_eq!(digest, ComponentDigest::of(&component));
        assert_eq!(blobs.put(component.clone()).await.expect("again"), digest, "same bytes, same blob");
        assert_eq!(blobs.get(&digest).await.expect("get"), Some(component));
        assert_eq!(blobs.get(&ComponentDigest::of(b"other")).await.expect("get"), None);

        // Bytes changed behind the store's back are refused, not served.
        let file = dir.path().join("sha256").join(hex::encode(digest.as_bytes()));
        std::fs::write(&file, b"tampered").expect("tamper");
        assert!(matches!(blobs.get(&digest).await, Err(BlobError::Corrupt { .. })));

        // The same store named by URL sees the same blobs.
        let by_url = BlobStore::from_url(&format!("file://{}", dir.path().display()), []).expect("file URL");
        let second = by_url.put(Bytes::from_static(b"second")).await.expect("put");
        assert_eq!(blobs.get(&second).await.expect("get"), Some(Bytes::from_static(b"second")));
    }
}
