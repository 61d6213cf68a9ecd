//! `trellis serve`: the multi-tenant HTTP API on the embedded SQLite store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use trellis_engine::api::{AppState, Marketplace, app};
use trellis_engine::auth::TokenService;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::secrets::{MasterKey, Vault};
use trellis_engine::store::Store;
use trellis_engine::triggers::CronScheduler;
use trellis_host_api::{Runtime, RuntimeConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TRELLIS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data directory (SQLite database, compile cache, keys, the local
    /// marketplace's database and blobs).
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./trellis-data")]
    data_dir: PathBuf,
    /// Install plugins from this central registry (`trellis marketplace
    /// serve`) instead of this server's own; components are pulled by
    /// digest and their signatures verified.
    #[arg(long, env = "TRELLIS_MARKETPLACE")]
    marketplace: Option<String>,
    #[command(flatten)]
    blobs: super::blob_args::BlobArgs,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // Structured logs (JSON lines on stderr); `TRELLIS_LOG` filters them
    // (`info` by default, `trellis_engine=debug,tower_http=debug` for more).
    let filter = tracing_subscriber::EnvFilter::try_from_env("TRELLIS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let store = Store::open_sqlite(&args.data_dir)
        .await
        .with_context(|| format!("opening the store in {}", args.data_dir.display()))?;
    let runtime =
        Runtime::new(RuntimeConfig { cache_dir: Some(args.data_dir.join("cache")), ..RuntimeConfig::default() })?;
    let marketplace = Marketplace::open(&args.data_dir, &runtime, args.blobs.blobs()?, args.marketplace.as_deref())
        .await
        .context("opening the marketplace")?;
    let vault = Vault::new(MasterKey::load_or_create(&args.data_dir)?);
    let config = EngineConfig { secrets: Arc::new(vault.clone()), ..EngineConfig::default() };
    let engine = Engine::with_plugins(runtime, marketplace.installed.clone(), store.clone(), config);
    let tokens = TokenService::load_or_create(&args.data_dir)?;
    let state = AppState::new(engine.clone(), store, tokens, vault, marketplace)?;

    // Runs a previous process left unfinished continue in the background.
    tokio::spawn(async move {
        if let Err(error) = engine.resume_all().await {
            eprintln!("resuming unfinished runs failed: {error}");
        }
    });

    // Cron triggers: due schedules are looked for four times a second.
    CronScheduler::new(state.engine.clone()).spawn(std::time::Duration::from_millis(250));

    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    eprintln!("trellis listening on http://{}", listener.local_addr()?);
    eprintln!(
        "create the first tenant with: trellis admin create-tenant NAME --owner EMAIL --data-dir {}",
        args.data_dir.display()
    );
    // The peer address feeds the sign-in throttle.
    axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}
