//! The Trellis engine: workflow documents and their validation, the
//! durable executor, the store, and the first-party plugin registry.

pub mod api;
pub mod auth;
mod background;
pub mod catalog;
pub mod executor;
pub mod expr;
pub mod first_party;
pub mod installs;
pub mod llm;
pub mod metrics;
pub mod private_file;
pub mod quota;
pub mod secrets;
pub mod server_config;
pub mod store;
pub mod triggers;
mod ttl_cache;
pub mod workflow;
