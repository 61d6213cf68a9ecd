//! Workflow documents: the model, parsing from JSON or YAML, and
//! save-time validation.

pub mod builtin_kinds;
pub mod calls;
mod document;
mod graph;
mod validate;

pub use document::{
    Backoff, Builtin, Edge, Join, MAX_DOCUMENT_BYTES, NodeSpec, ParseError, PluginRef, RetryPolicy, Trigger, Workflow,
    WorkflowFormat,
};
pub use graph::Graph;
pub(crate) use validate::sub_graph;
pub use validate::{Problem, ProblemCode, ValidationLimits, validate};
