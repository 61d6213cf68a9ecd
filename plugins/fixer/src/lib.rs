//! `trellis/fixer`: what a security platform's fixer workers do with a
//! scan's findings.
//!
//! - `security-headers`: the headers that fix the findings, for nginx,
//!   Apache, Caddy and Cloudflare (`headers.rs`);
//! - `cloudflare-apply`: sets them in a Cloudflare zone (`cloudflare.rs`);
//! - `github-pr`: proposes a configuration change as a pull request
//!   (`github.rs`).

mod cloudflare;
mod github;
mod headers;

use trellis_plugin_sdk::plugin;

/// The name tenants grant secrets to.
pub(crate) const PLUGIN: &str = "trellis/fixer";

plugin!(headers::SecurityHeaders, cloudflare::CloudflareApply, github::GithubPr);
