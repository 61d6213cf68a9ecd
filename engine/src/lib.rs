//! The Trellis engine. For now: the registry of first-party plugins that
//! ship inside the `trellis` binary. The workflow model, executor, store
//! and API arrive with their issues.

pub mod first_party;
