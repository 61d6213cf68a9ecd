//! Shared setup of the local commands (`run`, `resume`, `approve`,
//! `validate`): data directory, sandbox flags, and an engine over the
//! embedded SQLite store with the first-party plugins (plus `--plugins`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use trellis_engine::catalog::Catalog;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::llm::LlmGateway;
use trellis_engine::secrets::FixedSecrets;
use trellis_engine::server_config::ServerConfig;
use trellis_engine::store::{TenantId, TenantStore};
use trellis_host_api::{Runtime, RuntimeConfig};

use super::sandbox_args::SandboxArgs;

#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// Data directory holding the SQLite database and the compile cache
    /// [default: $XDG_DATA_HOME/trellis or ~/.local/share/trellis].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Folder of extra plugin components; `NAME.wasm` is `local/NAME`.
    #[arg(long, value_name = "DIR")]
    plugins: Option<PathBuf>,
    /// A server config file whose `[llm]` providers (keys from the
    /// environment) the nodes' model calls go to, and whose
    /// `[http.upstreams]` routes apply to the nodes' requests.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Plugins may call any public host unless `--allow-host` narrows it.
    #[command(flatten)]
    sandbox: SandboxArgs,
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
        let store = trellis_engine::store::open_sqlite(&data_dir)
            .await
            .with_context(|| format!("opening the store in {}", data_dir.display()))?;
        let runtime =
            Runtime::new(RuntimeConfig { cache_dir: Some(data_dir.join("cache")), ..RuntimeConfig::default() })?;
        let catalog = Catalog::local(&runtime, self.plugins.as_deref()).await?;
        let (secrets, granted_secrets) = self.sandbox.secrets()?;
        let mut http = self.sandbox.http_policy(&["*"]);
        let llm = match &self.config {
            Some(path) => {
                let file = ServerConfig::load(path)?;
                http.upstreams = file.http.upstreams.clone();
                let shared = file
                    .llm
                    .shared()
                    .map_err(|(at, message)| anyhow::anyhow!("{}: at `{at}`: {message}", path.display()))?;
                LlmGateway::new(
                    shared,
                    http.clone(),
                    std::time::Duration::from_millis(file.llm.request_timeout_ms),
                    None,
                )
            }
            None => LlmGateway::none(),
        };
        let config = EngineConfig {
            llm: std::sync::Arc::new(llm),
            http,
            secrets: std::sync::Arc::new(FixedSecrets::new(secrets, granted_secrets)),
            ..EngineConfig::default()
        };
        let engine = Engine::new(runtime, catalog, store.clone(), config);
        Ok((engine, store.tenant(TenantId::local())))
    }
}
