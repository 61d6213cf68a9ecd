//! Trellis plugin packages (DESIGN §7): a component plus its
//! `trellis-plugin.toml` manifest, signed by its publisher with Ed25519.
//!
//! Status of issue 5 (marketplace): the manifest format, the signing
//! scheme, the ordered publish checks (size, manifest, signature, version,
//! world and imports, `describe` in the sandbox with schemas that compile)
//! and content-addressed blobs through `object_store` (local directory or
//! S3) are here, with tests. Still to build, in this order: the registry
//! (publishers approved by the operator, versions, yank, search) with its
//! API under `/v1/marketplace` and `trellis marketplace serve`, the rest
//! of the CLI (`plugin new|build|publish`; `trellis keygen` exists), and
//! installs with grants in tenants.

pub mod blobs;
pub mod http;
pub mod manifest;
pub mod publish;
pub mod registry;
pub mod remote;
pub mod signing;
pub mod source;

pub use blobs::{BlobError, BlobStore};
pub use manifest::{Capabilities, Category, Manifest, ManifestError, RequestedLimits};
pub use registry::{Registry, RegistryError};
pub use signing::{ComponentDigest, PublisherKey, PublisherSecretKey, SignatureError};
