//! `trellis marketplace …`: the registry on its own, for a central
//! marketplace several servers pull from (`trellis serve --marketplace
//! URL`), and the operator's approval of publishers.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use trellis_host_api::{Runtime, RuntimeConfig};
use trellis_marketplace::{BlobStore, Registry};

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

async fn open(data_dir: &Path, blobs: BlobStore) -> anyhow::Result<Registry> {
    let runtime = Runtime::new(RuntimeConfig { cache_dir: Some(data_dir.join("cache")), ..RuntimeConfig::default() })?;
    Registry::open(data_dir, blobs, runtime)
        .await
        .with_context(|| format!("opening the registry in {}", data_dir.display()))
}

fn local_blobs(data_dir: &Path) -> anyhow::Result<BlobStore> {
    Ok(BlobStore::local(&data_dir.join("blobs"))?)
}

pub async fn run(command: MarketplaceCommand) -> anyhow::Result<ExitCode> {
    match command {
        MarketplaceCommand::Serve(args) => {
            let blobs = match args.blobs.blobs()? {
                trellis_engine::installs::Blobs::Local => local_blobs(&args.data.data_dir)?,
                trellis_engine::installs::Blobs::Url(url, options) => BlobStore::from_url(url, options)?,
            };
            let registry = Arc::new(open(&args.data.data_dir, blobs).await?);
            let key = trellis_engine::first_party::key(&args.data.data_dir)?;
            let published = trellis_engine::first_party::publish_all(&registry, &key).await?;
            let listener =
                tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
            eprintln!("trellis marketplace listening on http://{}", listener.local_addr()?);
            if published > 0 {
                eprintln!("published {published} first-party plugin version(s)");
            }
            axum::serve(listener, trellis_marketplace::http::app(registry))
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await?;
            Ok(ExitCode::SUCCESS)
        }
        MarketplaceCommand::Approve(args) => {
            let registry = open(&args.data.data_dir, local_blobs(&args.data.data_dir)?).await?;
            let publisher = registry.approve_publisher(&args.name).await?;
            println!("{}", serde_json::to_string_pretty(&publisher)?);
            Ok(ExitCode::SUCCESS)
        }
        MarketplaceCommand::Publishers(args) => {
            let registry = open(&args.data_dir, local_blobs(&args.data_dir)?).await?;
            println!("{}", serde_json::to_string_pretty(&registry.publishers().await?)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
