//! Sandbox grants given on the command line (`node run`, and the local
//! workflow commands).

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::bail;
use clap::Args;
use trellis_host_api::capabilities::{HttpPolicy, MemorySecrets};

#[derive(Debug, Clone, Args)]
pub struct SandboxArgs {
    /// Host pattern plugins may call (`api.example.com`, `*.example.com`, `host:port`, `*`); repeatable.
    #[arg(long = "allow-host", value_name = "PATTERN")]
    allow_hosts: Vec<String>,
    /// Let plugins reach loopback and private addresses (metadata endpoints stay blocked).
    #[arg(long)]
    allow_private_network: bool,
    /// A secret granted to plugins, as NAME=VALUE; repeatable.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
}

impl SandboxArgs {
    /// The outbound HTTP policy; `default_hosts` applies when no
    /// `--allow-host` is given.
    pub fn http_policy(&self, default_hosts: &[&str]) -> HttpPolicy {
        let hosts: Vec<String> = if self.allow_hosts.is_empty() {
            default_hosts.iter().map(|h| (*h).to_owned()).collect()
        } else {
            self.allow_hosts.clone()
        };
        HttpPolicy { allow_private_network: self.allow_private_network, ..HttpPolicy::allowing(hosts) }
    }

    /// The secrets store and the names granted (all of those given).
    pub fn secrets(&self) -> anyhow::Result<(Arc<MemorySecrets>, BTreeSet<String>)> {
        let mut pairs = Vec::new();
        for pair in &self.secrets {
            let Some((name, value)) = pair.split_once('=') else {
                bail!("--secret `{pair}` must be NAME=VALUE");
            };
            pairs.push((name.to_owned(), value.to_owned()));
        }
        let granted = pairs.iter().map(|(name, _)| name.clone()).collect();
        Ok((Arc::new(MemorySecrets::new(pairs)), granted))
    }
}
