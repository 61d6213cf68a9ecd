//! The engine through its library API: validation, execution semantics,
//! built-ins and the examples, on a real SQLite store with real plugins.
//! One test binary so wasmtime is linked once.

mod agent;
mod common;
mod examples;
mod fairness;
mod leases;
mod notices;
mod platforms;
mod semantics;
mod validation;
mod waiting;
mod writes;
