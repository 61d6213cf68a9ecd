//! The server the HTTP benchmarks measure: this process's own
//! `app(state)` on SQLite in a temporary directory, with the first-party
//! plugins published into its local registry, as `trellis serve` runs it,
//! listening on loopback.

use std::path::PathBuf;
use std::sync::Arc;

use trellis_engine::api::{AppState, app};
use trellis_engine::auth::{TokenService, new_token};
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::installs::{Blobs, Marketplace};
use trellis_engine::secrets::{MasterKey, Vault};
use trellis_engine::store::Store;
use trellis_host_api::{Runtime, RuntimeConfig};

pub(super) struct BenchServer {
    pub base: String,
    pub store: Store,
    pub state: AppState,
    data_dir: PathBuf,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl BenchServer {
    /// `name` keeps the temporary directories of different benchmarks apart.
    pub async fn start(name: &str, config: EngineConfig) -> anyhow::Result<BenchServer> {
        let data_dir = std::env::temp_dir().join(format!("trellis-bench-{name}-{}", std::process::id()));
        let store = trellis_engine::store::open_sqlite(&data_dir).await?;
        let runtime =
            Runtime::new(RuntimeConfig { cache_dir: Some(data_dir.join("cache")), ..RuntimeConfig::default() })?;
        let marketplace = Marketplace::open(&data_dir, &runtime, Blobs::Local, None).await?;
        let vault = Vault::new(MasterKey::random());
        let config = EngineConfig { secrets: Arc::new(vault.clone()), ..config };
        let engine = Engine::with_plugins(runtime, marketplace.installed.clone(), store.clone(), config);
        let tokens = TokenService::new(new_token("").as_bytes());
        let state = AppState::new(engine, store.clone(), tokens, vault, marketplace)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let service = app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let server = tokio::spawn(async move { axum::serve(listener, service).await });
        Ok(BenchServer { base, store, state, data_dir, server })
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}
