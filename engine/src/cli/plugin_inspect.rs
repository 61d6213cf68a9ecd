use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use trellis_host_api::{Runtime, RuntimeConfig};

use super::CacheArgs;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Component file, or a first-party plugin name such as `trellis/http-request`.
    plugin: String,
    #[command(flatten)]
    cache: CacheArgs,
}

pub async fn run(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let bytes = super::plugin_source::read(&args.plugin)?;
    let runtime =
        Runtime::new(RuntimeConfig { cache_dir: args.cache.dir(), pooling: false, ..RuntimeConfig::default() })?;
    let plugin = runtime.load(&bytes).with_context(|| format!("loading {}", args.plugin))?;
    let kinds = runtime.describe(&plugin).await?;
    println!("{}", serde_json::to_string_pretty(&kinds)?);
    Ok(ExitCode::SUCCESS)
}
