use thiserror::Error;

/// The runtime could not be built from its configuration.
#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error("invalid sandbox configuration: {0}")]
    Config(String),
    #[error("component cache directory {path}: {source}")]
    CacheDir { path: String, source: std::io::Error },
}

/// A component was refused at load time. Messages name what is wrong so a
/// plugin author can fix it.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("component is {size} bytes, over the {limit}-byte limit")]
    TooLarge { size: usize, limit: usize },
    #[error("not a valid WebAssembly component: {0}")]
    Invalid(String),
    #[error(
        "component imports {} outside the trellis:plugin `node` world: {}",
        if .imports.len() == 1 { "an interface" } else { "interfaces" },
        .imports.join(", ")
    )]
    ForbiddenImports { imports: Vec<String> },
    #[error("component targets trellis:plugin@{found}, which this host does not support (supported: {supported})")]
    UnsupportedVersion { found: String, supported: String },
    #[error("component does not implement the trellis:plugin `node` world: {0}")]
    WrongWorld(String),
}

/// `describe` failed or returned something unusable.
#[derive(Debug, Error)]
pub enum DescribeError {
    #[error("describe failed: {0}")]
    Failed(String),
    #[error("describe returned an invalid node kind `{kind}`: {problem}")]
    InvalidKind { kind: String, problem: String },
}
