//! Trellis plugin packages: a component plus its
//! `trellis-plugin.toml` manifest, signed by its publisher with Ed25519.
//!
//! Here: the manifest, signing, the ordered publish checks (the component
//! checks also run alone, for `trellis plugin build`), content-addressed
//! blobs (local or S3), the registry (publishers approved by the operator,
//! versions, search, signed yanks) with its API under `/v1/marketplace`,
//! and pulling from a central registry with verification. Installs into
//! tenants live in the engine (`trellis_engine::installs`); the publisher's
//! commands (`plugin new|build|register|publish|yank`) in its CLI.

pub mod blobs;
pub mod http;
pub mod key_pins;
pub mod manifest;
pub mod publish;
pub mod registry;
pub mod remote;
pub mod signing;
pub mod source;
mod times;
pub mod upload_auth;

pub use blobs::{BlobError, BlobStore};
pub use manifest::{Capabilities, Category, Manifest, ManifestError, RequestedLimits};
pub use registry::{Registry, RegistryError};
pub use signing::{ComponentDigest, PublisherKey, PublisherSecretKey, SignatureError};
