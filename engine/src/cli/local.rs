//! Shared setup of the local commands (`run`, `resume`, `approve`,
//! `validate`): data directory, sandbox flags, and an engine over the
//! embedded SQLite store with the first-party plugins (plus `--plugins`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use trellis_engine::catalog::Catalog;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::store::{Store, TenantId, TenantStore};
use trellis_host_api::capabilities::{HttpPolicy, MemorySecrets};
use trellis_host_api::{Runtime, RuntimeConfig};

#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// Data directory holding the SQLite database and the compile cache
    /// [default: $XDG_DATA_HOME/trellis or ~/.local/share/trellis].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Folder of extra plugin components; `NAME.wasm` is `local/NAME`.
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// Host pattern plugins may call; repeatable [default: any public host].
    #[arg(long = "allow-host", value_name = "PATTERN")]
    allow_hosts: Vec<String>,
    /// Let plugins reach loopback and private addresses (metadata stays blocked).
    #[arg(long)]
    allow_private_network: bool,
    /// A secret granted to every plugin, as NAME=VALUE; repeatable.
    #[arg(long = "secret", value_name = "NAME=VALUE")]
    secrets: Vec<String>,
}

impl LocalArgs {
    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.data_dir {
            return Ok(dir.clone());
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .context("no --data-dir given and neither XDG_DATA_HOME nor HOME is set")?;
        Ok(base.join("trellis"))
    }

    /// The engine and the local tenant's store.
    pub async fn open(&self) -> anyhow::Result<(Engine, TenantStore)> {
        let data_dir = self.data_dir()?;
        let store = Store::open_sqlite(&data_dir)
            .await
            .with_context(|| format!("opening the store in {}", data_dir.display()))?;
        let runtime =
            Runtime::new(RuntimeConfig { cache_dir: Some(data_dir.join("cache")), ..RuntimeConfig::default() })?;
        let catalog = Catalog::local(&runtime, self.plugins.as_deref()).await?;
        let mut secrets = Vec::new();
        for pair in &self.secrets {
            let (name, value) =
                pair.split_once('=').with_context(|| format!("--secret `{pair}` must be NAME=VALUE"))?;
            secrets.push((name.to_owned(), value.to_owned()));
        }
        let hosts = if self.allow_hosts.is_empty() { vec!["*".to_owned()] } else { self.allow_hosts.clone() };
        let config = EngineConfig {
            http: HttpPolicy { allow_private_network: self.allow_private_network, ..HttpPolicy::allowing(hosts) },
            granted_secrets: secrets.iter().map(|(n, _)| n.clone()).collect::<BTreeSet<_>>(),
            secrets: Arc::new(MemorySecrets::new(secrets)),
            ..EngineConfig::default()
        };
        let engine = Engine::new(runtime, catalog, store.clone(), config);
        Ok((engine, store.tenant(TenantId::local())))
    }
}
