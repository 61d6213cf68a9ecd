//! The HTTP API through `app(state)` and `oneshot`: auth, roles, tenant
//! isolation, workflows and runs, secrets, bad input.

mod access_control;
mod answers;
mod auth;
mod billing;
mod common;
mod hostile;
mod llm;
mod members;
mod observability;
mod page;
mod plugins;
mod quotas;
mod runs;
mod secrets;
mod shared_caches;
mod triggers;
mod workflows;
