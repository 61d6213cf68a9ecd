//! `trellis plugin build`: cargo builds the project for wasm32-wasip2, then
//! the component goes through the registry's own component checks (world,
//! imports, `describe` in the sandbox, schemas that compile), so an author
//! meets a refusal here rather than at publish.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context, bail};
use cargo_metadata::Message;
use clap::Args;
use serde_json::json;
use trellis_host_api::{NodeKind, Runtime, RuntimeConfig};
use trellis_marketplace::manifest::MAX_MANIFEST_BYTES;
use trellis_marketplace::{ComponentDigest, Manifest};

use super::CacheArgs;
use super::plugin_source::read_capped;

const TARGET: &str = "wasm32-wasip2";
pub const MANIFEST_FILE: &str = "trellis-plugin.toml";

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The plugin project: a cargo package with a `trellis-plugin.toml`.
    #[arg(default_value = ".")]
    project: PathBuf,
    #[command(flatten)]
    cache: CacheArgs,
}

/// A built component that passed the component checks.
pub struct Built {
    pub component_path: PathBuf,
    pub component: Vec<u8>,
    pub parsed: Manifest,
    pub kinds: Vec<NodeKind>,
}

/// Runs cargo and returns the path of the project's own `.wasm` artifact.
fn cargo_build(cargo_toml: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args(["build", "--release", "--target", TARGET, "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(cargo_toml)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting cargo (is it on PATH?)")?;
    let stdout = child.stdout.take().context("cargo's output")?;
    let mut component = None;
    for message in Message::parse_stream(BufReader::new(stdout)) {
        if let Message::CompilerArtifact(artifact) = message.context("reading cargo's output")?
            && artifact.manifest_path.as_std_path() == cargo_toml
            && artifact.target.kind.iter().any(|kind| kind.to_string() == "cdylib")
        {
            component = artifact.filenames.into_iter().find(|file| file.extension() == Some("wasm"));
        }
    }
    let status = child.wait().context("waiting for cargo")?;
    if !status.success() {
        bail!("cargo build failed ({status}); if the target is missing, `rustup target add {TARGET}`");
    }
    match component {
        Some(path) => Ok(path.into_std_path_buf()),
        None => {
            bail!("cargo built no `.wasm` for {}: is the crate's `[lib] crate-type` `cdylib`?", cargo_toml.display())
        }
    }
}

pub async fn build(project: &Path, cache: &CacheArgs) -> anyhow::Result<Built> {
    let project = project.canonicalize().with_context(|| format!("{} is not a folder", project.display()))?;
    let cargo_toml = project.join("Cargo.toml");
    if !cargo_toml.is_file() {
        bail!("{} has no Cargo.toml (make a project with `trellis plugin new`)", project.display());
    }
    // Checked before the (slow) build, so a typo is reported at once.
    let manifest_path = project.join(MANIFEST_FILE);
    let manifest = read_capped(&manifest_path, MAX_MANIFEST_BYTES as u64)?;
    let parsed = Manifest::parse(&manifest).with_context(|| format!("{}", manifest_path.display()))?;

    let component_path = tokio::task::spawn_blocking(move || cargo_build(&cargo_toml)).await??;

    let runtime = Runtime::new(RuntimeConfig { cache_dir: cache.dir(), pooling: false, ..RuntimeConfig::default() })?;
    let component = read_capped(&component_path, runtime.config().max_component_bytes as u64)?;
    let kinds = trellis_marketplace::publish::check_component(&runtime, &component)
        .await
        .with_context(|| format!("{}", component_path.display()))?;
    Ok(Built { component_path, component, parsed, kinds })
}

pub async fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let built = build(&args.project, &args.cache).await?;
    let kinds: Vec<&str> = built.kinds.iter().map(|kind| kind.name.as_str()).collect();
    eprintln!(
        "built {}@{}: {} ({} bytes), node kinds: {}",
        built.parsed.name,
        built.parsed.version,
        built.component_path.display(),
        built.component.len(),
        kinds.join(", ")
    );
    let report = json!({
        "name": built.parsed.name,
        "version": built.parsed.version.to_string(),
        "component": built.component_path,
        "digest": ComponentDigest::of(&built.component).to_string(),
        "bytes": built.component.len(),
        "kinds": built.kinds,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
