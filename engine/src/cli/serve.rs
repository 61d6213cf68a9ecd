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
    #[command(flatten)]
    process: ProcessArgs,
    /// Address to listen on (default `127.0.0.1:8080`).
    #[arg(long, env = "TRELLIS_LISTEN")]
    listen: Option<SocketAddr>,
    /// Serve the API only: runs are recorded for `trellis worker`
    /// processes sharing `--database` to execute.
    #[arg(long, requires = "database")]
    no_worker: bool,
}

/// What a server and a worker are both started with.
#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// The operator's configuration file (README "Operator configuration");
    /// flags and their environment variables override its keys.
    #[arg(long, env = "TRELLIS_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (SQLite database, compile cache, keys, the local
    /// marketplace's database and blobs; default `./trellis-data`).
    #[arg(long, env = "TRELLIS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keep tenants, workflows and runs in this PostgreSQL database
    /// (`postgres://USER@HOST:PORT/NAME`, brought up with `trellis migrate`)
    /// instead of the data directory's SQLite. Several servers and workers
    /// may share one database.
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

/// A started process: its engine and what the API is built from.
pub struct Process {
    pub engine: Engine,
    pub store: trellis_engine::store::Store,
    pub vault: Vault,
    pub marketplace: Marketplace,
    pub data_dir: PathBuf,
    pub file: ServerConfig,
}

impl ProcessArgs {
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// Opens the store, the marketplace and the keys, and builds the
    /// engine; `executes: false` makes one that records runs only.
    pub async fn start(&self, executes: bool) -> anyhow::Result<Process> {
        // Structured logs (JSON lines on stderr); `TRELLIS_LOG` filters them
        // (`info` by default, `trellis_engine=debug,tower_http=debug` for more).
        let filter = tracing_subscriber::EnvFilter::try_from_env("TRELLIS_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init();
        let file = match &self.config {
            Some(path) => ServerConfig::load(path)?,
            None => ServerConfig::default(),
        };
        let data_dir =
            self.data_dir.clone().or(file.data_dir.clone()).unwrap_or_else(|| PathBuf::from("./trellis-data"));
        let marketplace_url = self.marketplace.clone().or(file.marketplace.clone());
        std::fs::create_dir_all(&data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
        let store = match &self.database {
            Some(url) => super::database::open(url).await?,
            None => trellis_engine::store::open_sqlite(&data_dir)
                .await
                .with_context(|| format!("opening the store in {}", data_dir.display()))?,
        };
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(data_dir.join("cache")),
            max_concurrent_instances: file.execution.sandbox_instances,
            ..RuntimeConfig::default()
        })?;
        let marketplace = Marketplace::open(&data_dir, &runtime, self.blobs.blobs()?, marketplace_url.as_deref())
            .await
            .context("opening the marketplace")?;
        let vault = Vault::new(MasterKey::load_or_create(&data_dir)?);
        let shared =
            file.llm.shared().map_err(|(at, message)| anyhow::anyhow!("configuration: at `{at}`: {message}"))?;
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
            max_claimed_runs: file.execution.claimed_runs,
            lease: std::time::Duration::from_millis(file.execution.lease_ms),
            http: file.http.policy(),
            limits: file.limits.limits(),
            default_plan: file.plan.clone(),
            executes,
            set_aside: Some(SET_ASIDE_AFTER),
            ..EngineConfig::default()
        };
        let engine = Engine::with_plugins(runtime, marketplace.installed.clone(), store.clone(), config);
        Ok(Process { engine, store, vault, marketplace, data_dir, file })
    }
}

/// A run waiting on a timer at least this far off is set aside; one
/// waiting on approvals alone, at once.
const SET_ASIDE_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

impl Process {
    /// Starts the background work every process does: following the other
    /// processes' notices and firing due crons (once across the cluster);
    /// a process that executes also renews its leases and resumes
    /// unfinished runs.
    pub fn run_background(&self, also: impl Fn(&trellis_engine::store::Notice) + Send + Sync + 'static) {
        self.engine.follow_notices(also);
        if self.engine.executes() {
            self.engine.keep_leases();
            let engine = self.engine.clone();
            tokio::spawn(async move {
                if let Err(error) = engine.resume_all().await {
                    tracing::error!(%error, "resuming unfinished runs failed");
                }
            });
        }
        // Due schedules are looked for four times a second.
        CronScheduler::new(self.engine.clone()).spawn(std::time::Duration::from_millis(250));
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let process = args.process.start(!args.no_worker).await?;
    let listen = args.listen.or(process.file.listen).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let tokens = TokenService::load_or_create(&process.data_dir)?;
    let state = AppState::new(
        process.engine.clone(),
        process.store.clone(),
        tokens,
        process.vault.clone(),
        process.marketplace.clone(),
    )?;
    let api = state.clone();
    process.run_background(move |notice| api.on_notice(notice));

    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {}", listen))?;
    let first_start = !state.store.has_tenants().await?;
    // The exact program this is, so the printed command runs as shown
    // (under `cargo run` too).
    let program = std::env::current_exe().map_or_else(|_| "trellis".to_owned(), |path| path.display().to_string());
    let target = match args.process.database() {
        Some(url) => format!("--database {url}"),
        None => format!("--data-dir {}", process.data_dir.display()),
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
