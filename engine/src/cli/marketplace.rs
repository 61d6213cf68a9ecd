//! `trellis marketplace …`: the registry on its own, for a central
//! marketplace several servers pull from (`trellis serve --marketplace
//! URL`), and the operator's approval of publishers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use trellis_engine::installs::{Blobs, open_registry};
use trellis_host_api::{Runtime, RuntimeConfig};
use trellis_marketplace::Registry;

#[derive(Debug, Subcommand)]
pub enum MarketplaceCommand {
    /// Serve the registry alone under `/v1/marketplace` (first-party plugins published at its first start).
    Serve(ServeArgs),
    /// Approve a registered publisher: from now on it may publish.
    Approve(ApproveArgs),
    /// List publishers, those waiting for approval first.
    Publishers(DataDirArgs),
}

#[derive(Debug, Args)]
pub struct DataDirArgs {
    /// The registry's data directory (the server's, for its own registry).
    #[arg(long, env = "TRELLIS_DATA_DIR", default_value = "./trellis-data")]
    data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, env = "TRELLIS_MARKETPLACE_LISTEN", default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    #[command(flatten)]
    data: DataDirArgs,
    #[command(flatten)]
    blobs: super::blob_args::BlobArgs,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The publisher's name.
    name: String,
    #[command(flatten)]
    data: DataDirArgs,
}

fn runtime(data_dir: &Path) -> anyhow::Result<Runtime> {
    Ok(Runtime::new(RuntimeConfig { cache_dir: Some(data_dir.join("cache")), ..RuntimeConfig::default() })?)
}

/// The registry for the operator's commands: nothing is published.
async fn open(data_dir: &Path) -> anyhow::Result<Registry> {
    Registry::open(data_dir, Blobs::Local.open(data_dir)?, runtime(data_dir)?)
        .await
        .with_context(|| format!("opening the registry in {}", data_dir.display()))
}

pub async fn run(command: MarketplaceCommand) -> anyhow::Result<ExitCode> {
    match command {
        MarketplaceCommand::Serve(args) => {
            let data_dir = &args.data.data_dir;
            let registry = open_registry(data_dir, &runtime(data_dir)?, args.blobs.blobs()?)
                .await
                .with_context(|| format!("opening the registry in {}", data_dir.display()))?;
            let listener =
                tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
            eprintln!("trellis marketplace listening on http://{}", listener.local_addr()?);
            axum::serve(listener, trellis_marketplace::http::app(registry))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        MarketplaceCommand::Approve(args) => {
            let registry = open(&args.data.data_dir).await?;
            let publisher = registry.approve_publisher(&args.name).await?;
            println!("{}", serde_json::to_string_pretty(&publisher)?);
            Ok(ExitCode::SUCCESS)
        }
        MarketplaceCommand::Publishers(args) => {
            let registry = open(&args.data_dir).await?;
            println!("{}", serde_json::to_string_pretty(&registry.publishers().await?)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
