//! Triggers from the workflow document: cron schedules fired by
//! [`CronScheduler`], and webhooks at `/hooks/{token}` checked by
//! [`webhook`] (or a provider's own scheme, [`provider_signatures`]). Which triggers exist follows the latest saved version:
//! [`plan`] turns a document into the rows the store keeps beside it.

mod cron;
mod plan;
pub mod provider_signatures;
pub mod webhook;

pub use cron::{CronScheduler, next_fire, parse_schedule, shortest_interval};
pub use plan::plan;

/// Prefix of webhook tokens (the path segment of `/hooks/{token}`).
pub const WEBHOOK_TOKEN_PREFIX: &str = "whk_";
