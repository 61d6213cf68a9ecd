//! The records every `trellis:plugin` version's `types` interface shares,
//! in one version-free form, and the macro that gives each binding module
//! its conversions. The runtime works on these; only the call into a guest
//! knows its version.

/// A `node-kind` as a guest described it, schemas still text.
pub(crate) struct WitKind {
    pub name: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub config_schema: String,
    pub input_schema: String,
    pub output_schema: String,
    pub ports: Vec<String>,
}

pub(crate) struct WitEmit {
    pub port: String,
    pub data: String,
}

pub(crate) enum WitError {
    InvalidConfig(String),
    InvalidInput(String),
    Retryable(String),
    Fatal(String),
}

/// Conversions between a binding module's `types` and the forms above;
/// invoked once in each version's module.
macro_rules! conversions {
    () => {
        pub(crate) fn invocation(inv: &crate::runtime::Invocation) -> trellis::plugin::types::Invocation {
            trellis::plugin::types::Invocation {
                kind: inv.kind.clone(),
                config: inv.config.to_string(),
                input: inv.input.to_string(),
                run_id: inv.run_id.clone(),
                node_id: inv.node_id.clone(),
                attempt: inv.attempt,
                idempotency_key: inv.idempotency_key.clone(),
            }
        }

        pub(crate) fn kind(kind: trellis::plugin::types::NodeKind) -> crate::glue::WitKind {
            crate::glue::WitKind {
                name: kind.name,
                title: kind.title,
                description: kind.description,
                category: kind.category,
                config_schema: kind.config_schema,
                input_schema: kind.input_schema,
                output_schema: kind.output_schema,
                ports: kind.ports,
            }
        }

        pub(crate) fn emit(emit: trellis::plugin::types::Emit) -> crate::glue::WitEmit {
            crate::glue::WitEmit { port: emit.port, data: emit.data }
        }

        pub(crate) fn error(error: trellis::plugin::types::NodeError) -> crate::glue::WitError {
            use trellis::plugin::types::NodeError;
            match error {
                NodeError::InvalidConfig(m) => crate::glue::WitError::InvalidConfig(m),
                NodeError::InvalidInput(m) => crate::glue::WitError::InvalidInput(m),
                NodeError::Retryable(m) => crate::glue::WitError::Retryable(m),
                NodeError::Fatal(m) => crate::glue::WitError::Fatal(m),
            }
        }
    };
}

pub(crate) use conversions;
