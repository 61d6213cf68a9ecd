//! `trellis serve`: the multi-tenant HTTP API, on the embedded SQLite
//! store or on a PostgreSQL database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use trellis_engine::api::{AppState, Marketplace, app};
use trellis_engine::auth::TokenService;
use trellis_engine::executor::{Engine, EngineConfig};
use trellis_engine::llm::LlmGateway;
use trellis_engine::secrets::{MasterKey, Vault};
use trellis_engine::server_config::ServerConfig;
use trellis_engine::triggers::CronScheduler;
use trellis_host_api::{Runtime, RuntimeConfig};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The operator's configuration file (README "Operator configuration");
    /// flags and their environment variables override its keys.
    #[arg(long, env = "TRELLIS_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (default `127.0.0.1:8080`).
    #[arg(long, env = "TRELLIS_LISTEN")]
    listen: Option<SocketAddr>,
    /// Data directory (SQLite database, compile cache, keys, the local
    /// marketplace's database and blobs; default `./trellis-data`).
    #[arg(long, env = "TRELLIS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keep tenants, workflows and runs in this PostgreSQL database
    /// (`postgres://USER@HOST:PORT/NAME`, brought up with `trellis migrate`)
    /// instead of the data directory's SQLite. One server per database.
    #[arg(long, value_name = "URL", env = "TRELLIS_DATABASE_URL")]
    database: Option<String>,
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
    let file = match &args.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::default(),
    };
    let listen = args.listen.or(file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let data_dir = args.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from("./trellis-data"));
    let marketplace_url = args.marketplace.clone().or(file.marketplace.clone());
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let (store, _server_lock) = match &args.database {
        Some(url) => {
            let (store, lock) = super::database::open_for_server(url).await?;
            (store, Some(lock))
        }
        None => {
            let store = trellis_engine::store::open_sqlite(&data_dir)
                .await
                .with_context(|| format!("opening the store in {}", data_dir.display()))?;
            (store, None)
        }
    };
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(data_dir.join("cache")),
        max_concurrent_instances: file.execution.sandbox_instances,
        ..RuntimeConfig::default()
    })?;
    let marketplace = Marketplace::open(&data_dir, &runtime, args.blobs.blobs()?, marketplace_url.as_deref())
        .await
        .context("opening the marketplace")?;
    let vault = Vault::new(MasterKey::load_or_create(&data_dir)?);
    let shared = file.llm.shared().map_err(|(at, message)| anyhow::anyhow!("configuration: at `{at}`: {message}"))?;
    let llm = LlmGateway::new(
        shared,
        file.http.policy(),
        std::time::Duration::from_millis(file.llm.request_timeout_ms),
        Some(vault.clone()),
    );
    let config = EngineConfig {
        llm: Arc::new(llm),
        secrets: Arc::new(vault.clone()),
        max_concurrency: file.execution.slots,
        http: file.http.policy(),
        limits: file.limits.limits(),
        default_plan: file.plan.clone(),
        ..EngineConfig::default()
    };
    let engine = Engine::with_plugins(runtime, marketplace.installed.clone(), store.clone(), config);
    let tokens = TokenService::load_or_create(&data_dir)?;
    let state = AppState::new(engine.clone(), store, tokens, vault, marketplace)?;

    // Runs a previous process left unfinished continue in the background,
    // and the leases on the runs driven here are renewed by heartbeat.
    engine.keep_leases();
    tokio::spawn(async move {
        if let Err(error) = engine.resume_all().await {
            eprintln!("resuming unfinished runs failed: {error}");
        }
    });

    // Cron triggers: due schedules are looked for four times a second.
    CronScheduler::new(state.engine.clone()).spawn(std::time::Duration::from_millis(250));

    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {}", listen))?;
    let first_start = !state.store.has_tenants().await?;
    // The exact program this is, so the printed command runs as shown
    // (under `cargo run` too).
    let program = std::env::current_exe().map_or_else(|_| "trellis".to_owned(), |path| path.display().to_string());
    let target = match &args.database {
        Some(url) => format!("--database {url}"),
        None => format!("--data-dir {}", data_dir.display()),
    };
    eprintln!("{}", welcome(listener.local_addr()?, &program, &target, first_start));
    // The peer address feeds the sign-in throttle.
    axum::serve(listener, app(state).into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// What `serve` prints once it listens: where it is and its docs, and
/// while there is no tenant, the two commands that make one and try it.
fn welcome(addr: SocketAddr, program: &str, store: &str, first_start: bool) -> String {
    let url = format!("http://{addr}");
    let mut text = format!("trellis listening on {url}\nAPI docs: {url}/docs (OpenAPI: {url}/openapi.json)");
    if first_start {
        text.push_str(&format!(
            "\nNo tenant yet. Create the first one (it prints the owner's one-time password and an API key, once):\n  \
             {program} admin create-tenant acme --owner you@example.com {store}\nthen try the key it prints \
             (`api_key`):\n  curl -H 'Authorization: Bearer <api_key>' {url}/v1/me"
        ));
    }
    text
}
