//! Trellis plugin packages (DESIGN §7): a component plus its
//! `trellis-plugin.toml` manifest, signed by its publisher with Ed25519.
//!
//! Status of issue 5 (marketplace): the manifest format with its checks and
//! the signing scheme are here, with tests. Still to build, in this order:
//! the publish checks that use them (size, manifest, signature, version,
//! world and imports, `describe` in the sandbox), content-addressed blobs
//! through `object_store`, the registry API and `trellis marketplace
//! serve`, the CLI (`keygen`, `plugin new|build|publish`), and installs
//! with grants in tenants.

pub mod manifest;
pub mod signing;

pub use manifest::{Capabilities, Category, Manifest, ManifestError, RequestedLimits};
pub use signing::{ComponentDigest, PublisherKey, PublisherSecretKey, SignatureError};
