//! Command-line definitions and dispatch. Each subcommand has its own file.

mod admin;
mod approve;
mod bench;
mod bench_agent;
mod bench_api;
mod bench_cluster;
mod bench_engine;
mod bench_hostile;
mod bench_server;
mod bench_waiting;
mod blob_args;
mod database;
mod keygen;
mod local;
mod marketplace;
mod migrate;
mod node_run;
mod node_test;
mod plugin_build;
mod plugin_inspect;
mod plugin_new;
mod plugin_publish;
mod plugin_source;
mod resume;
mod run;
mod sandbox_args;
mod serve;
mod validate;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "trellis",
    version,
    about = "Multi-tenant workflow engine whose nodes are sandboxed WebAssembly plugins"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the multi-tenant HTTP API (and execute runs, unless
    /// `--no-worker`).
    Serve(serve::ServeArgs),
    /// Execute runs recorded in a shared PostgreSQL database; no API.
    Worker(worker::WorkerArgs),
    /// Server operator tasks.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Bring a PostgreSQL database to the newest schema.
    Migrate(migrate::MigrateArgs),
    /// Run a workflow file locally, showing each node's progress.
    Run(run::RunArgs),
    /// Continue runs that a crash or Ctrl-C interrupted.
    Resume(resume::ResumeArgs),
    /// Approve (or reject) a waiting approval step.
    Approve(approve::ApproveArgs),
    /// Check a workflow file and print every problem.
    Validate(validate::ValidateArgs),
    /// Print JSON Schemas for editors.
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Work with a single node (for plugin authors).
    #[command(subcommand)]
    Node(NodeCommand),
    /// Write, build, inspect and publish plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Create an Ed25519 key pair for publishing plugins.
    Keygen(keygen::KeygenArgs),
    /// The plugin registry: serve it alone, approve publishers.
    #[command(subcommand)]
    Marketplace(marketplace::MarketplaceCommand),
    /// Benchmarks (build with --release for meaningful figures).
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum SchemaCommand {
    /// The workflow document.
    Workflow,
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Run one node kind of a plugin on one input and print the execution as JSON.
    Run(node_run::NodeRunArgs),
    /// Runs one node of a workflow file alone, on a given input; prints its record.
    Test(node_test::NodeTestArgs),
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Create a plugin project that tests and builds as it is.
    New(plugin_new::NewArgs),
    /// Build the project's component (cargo, wasm32-wasip2), check it and print what it describes.
    Build(plugin_build::BuildArgs),
    /// Print what the plugin's `describe` returns, as JSON.
    Inspect(plugin_inspect::InspectArgs),
    /// Register as a publisher with a registry (the operator then approves).
    Register(plugin_publish::RegisterArgs),
    /// Sign and publish a component with its manifest.
    Publish(plugin_publish::PublishArgs),
    /// Yank a published version: no new installs; existing ones keep it.
    Yank(plugin_publish::YankArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Per-execution cost of a trivial node through the full host path vs the raw wasmtime floor.
    Node(bench::BenchNodeArgs),
    /// Durable 40-node chain and 1→20→1 fan-out on SQLite vs the bare floor.
    Engine(bench_engine::BenchEngineArgs),
    /// Runs/second of a 10-node workflow started over HTTP: webhooks and `?wait`, 1 and 4 connections.
    Api(bench_api::BenchApiArgs),
    /// Runs/second of I/O-bound workflows on one PostgreSQL: one worker vs three, slots fixed.
    Cluster(bench_cluster::BenchClusterArgs),
    /// Each hostile-tenant attack against a live server: its memory and
    /// the other tenant's latency.
    Hostile(bench_hostile::BenchHostileArgs),
    /// An agent node with one tool call, model exchanges taken out, vs a plain node of the same tool.
    Agent(bench_agent::BenchAgentArgs),
    /// Runs waiting on approvals and delays: the idle process's CPU, memory per waiting run, a restart, and the time to finish them.
    Waiting(bench_waiting::BenchWaitingArgs),
}

/// Where compiled components are cached.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Directory for compiled components [default: $XDG_CACHE_HOME/trellis or ~/.cache/trellis].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile on every start instead of using the cache.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

impl CacheArgs {
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        if let Some(dir) = &self.cache_dir {
            return Some(dir.clone());
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("trellis").join("components"))
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Worker(args) => worker::run(args).await,
        Command::Admin(command) => admin::run(command).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::Run(args) => run::run(args).await,
        Command::Resume(args) => resume::run(args).await,
        Command::Approve(args) => approve::run(args).await,
        Command::Validate(args) => validate::run(args).await,
        Command::Schema(SchemaCommand::Workflow) => {
            let schema = schemars::schema_for!(trellis_engine::workflow::Workflow);
            println!("{}", serde_json::to_string_pretty(&schema)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Node(NodeCommand::Run(args)) => node_run::run(args).await,
        Command::Node(NodeCommand::Test(args)) => node_test::run(args).await,
        Command::Plugin(PluginCommand::New(args)) => plugin_new::run(args).await,
        Command::Plugin(PluginCommand::Build(args)) => plugin_build::run(args).await,
        Command::Plugin(PluginCommand::Inspect(args)) => plugin_inspect::run(args).await,
        Command::Keygen(args) => keygen::run(args).await,
        Command::Marketplace(command) => marketplace::run(command).await,
        Command::Plugin(PluginCommand::Register(args)) => plugin_publish::register(args).await,
        Command::Plugin(PluginCommand::Publish(args)) => plugin_publish::publish(args).await,
        Command::Plugin(PluginCommand::Yank(args)) => plugin_publish::yank(args).await,
        Command::Bench(BenchCommand::Node(args)) => bench::node(args).await,
        Command::Bench(BenchCommand::Engine(args)) => bench_engine::engine(args).await,
        Command::Bench(BenchCommand::Api(args)) => bench_api::api(args).await,
        Command::Bench(BenchCommand::Cluster(args)) => bench_cluster::cluster(args).await,
        Command::Bench(BenchCommand::Hostile(args)) => bench_hostile::hostile(args).await,
        Command::Bench(BenchCommand::Agent(args)) => bench_agent::agent(args).await,
        Command::Bench(BenchCommand::Waiting(args)) => bench_waiting::waiting(args).await,
    }
}
