//! The Trellis sandbox: loads `trellis:plugin` components and runs one node
//! execution at a time in a fresh, limited wasmtime instance.
//!
//! - [`Runtime`] owns the wasmtime engine, the linker with exactly the
//!   interfaces of the `node` world, the on-disk compile cache and the epoch
//!   ticker that enforces wall time.
//! - [`Plugin`] is a loaded, checked, pre-linked component.
//! - [`Runtime::execute`] runs one invocation under [`Limits`] with the
//!   [`Capabilities`] the caller grants and returns an [`Execution`]: the
//!   emits, or a typed [`Failure`], plus the metering report.
//!
//! Host capabilities (outbound HTTP, secrets, kv, llm, log) live in
//! [`capabilities`], one module each; the engine plugs in its own stores
//! through the traits there.

mod cache;
pub mod capabilities;
mod config;
mod error;
pub mod floor;
mod glue;
mod report;
mod runtime;
mod state;
mod stdio;
mod ticker;
mod v0_1_0;
mod v0_2_0;
mod world;

pub use capabilities::Capabilities;
pub use config::{Limits, RuntimeConfig};
pub use error::{DescribeError, LoadError, RuntimeError};
pub use report::{Emit, Execution, Failure, FailureCode, LogLevel, LogLine, OutboundCall, Report, Status};
pub use runtime::{Invocation, LoadedFrom, NodeKind, Plugin, Runtime};
pub use world::{SUPPORTED_WIT_VERSIONS, allowed_import};
