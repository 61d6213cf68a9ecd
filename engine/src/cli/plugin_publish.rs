//! The publisher's side of the marketplace: `trellis plugin register`,
//! `publish` and `yank`, against a registry's HTTP API, signed with the
//! key `trellis keygen` made.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use base64::Engine as _;
use clap::Args;
use serde_json::{Value, json};
use trellis_marketplace::{ComponentDigest, Manifest, PublisherSecretKey};

use super::CacheArgs;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// The registry's root URL (`trellis serve`, or `trellis marketplace serve`).
    #[arg(long, env = "TRELLIS_MARKETPLACE")]
    server: String,
    /// The publisher's secret key file (`trellis keygen`).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
}

#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The publisher name to register (the `publisher` of `publisher/plugin`).
    name: String,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The component to publish [default: build the project, as `trellis plugin build` does].
    component: Option<PathBuf>,
    /// The plugin project: where the manifest is, and what is built without COMPONENT.
    #[arg(long, value_name = "DIR", default_value = ".")]
    project: PathBuf,
    /// Its manifest [default: PROJECT/trellis-plugin.toml].
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct YankArgs {
    /// `publisher/plugin@version`.
    version: String,
    #[command(flatten)]
    server: ServerArgs,
}

fn read_key(path: &std::path::Path) -> anyhow::Result<PublisherSecretKey> {
    let bytes = trellis_engine::private_file::read(path)
        .with_context(|| format!("reading {}", path.display()))?
        .with_context(|| format!("{} does not exist (make one with `trellis keygen`)", path.display()))?;
    PublisherSecretKey::from_text(&String::from_utf8_lossy(&bytes)).with_context(|| format!("{}", path.display()))
}

fn url(server: &str, path: &str) -> String {
    format!("{}/v1/marketplace/{path}", server.trim_end_matches('/'))
}

/// Sends, prints the answer, and turns an error answer into exit code 1.
async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<ExitCode> {
    let response = request.send().await.context("reaching the registry")?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        println!("{}", serde_json::to_string_pretty(&body)?);
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("the registry refused ({status}): {}", body["error"]["message"].as_str().unwrap_or("no message"));
        Ok(ExitCode::from(1))
    }
}

pub async fn register(args: RegisterArgs) -> anyhow::Result<ExitCode> {
    let key = read_key(&args.server.key)?;
    let body = json!({"name": args.name, "public_key": key.public_key().to_text()});
    let code = send(reqwest::Client::new().post(url(&args.server.server, "publishers")).json(&body)).await?;
    if code == ExitCode::SUCCESS {
        eprintln!("registered; publishing starts once the registry's operator approves `{}`", args.name);
    }
    Ok(code)
}

pub async fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let key = read_key(&args.server.key)?;
    let component = match &args.component {
        Some(path) => super::plugin_source::read_capped(path, super::plugin_source::MAX_FILE_BYTES)?,
        None => super::plugin_build::build(&args.project, &args.cache).await?.component,
    };
    let manifest_path = args.manifest.unwrap_or_else(|| args.project.join(super::plugin_build::MANIFEST_FILE));
    let manifest = std::fs::read(&manifest_path).with_context(|| format!("reading {}", manifest_path.display()))?;
    // Checked here too, so a typo is reported before anything is sent.
    let parsed = Manifest::parse(&manifest).with_context(|| format!("{}", manifest_path.display()))?;
    let signature = key.sign(&ComponentDigest::of(&component), &manifest);
    let body = json!({
        "manifest": String::from_utf8(manifest).context("the manifest is not UTF-8")?,
        "component": base64::engine::general_purpose::STANDARD.encode(&component),
        "signature": signature,
    });
    eprintln!("publishing {}@{} ({} bytes)", parsed.name, parsed.version, component.len());
    let body = serde_json::to_vec(&body)?;
    let publisher = parsed.name.split('/').next().unwrap_or_default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let mut request = reqwest::Client::new().post(url(&args.server.server, "plugins"));
    for (name, value) in trellis_marketplace::upload_auth::headers(&key, publisher, body.len() as u64, now) {
        request = request.header(name, value);
    }
    send(request.header("content-type", "application/json").body(body)).await
}

pub async fn yank(args: YankArgs) -> anyhow::Result<ExitCode> {
    let key = read_key(&args.server.key)?;
    let Some((name, version)) = args.version.split_once('@') else {
        bail!("`{}` is not `publisher/plugin@version`", args.version);
    };
    let version: semver::Version = version.parse().with_context(|| format!("version `{version}`"))?;
    let signature = key.sign_yank(name, &version);
    let path = format!("plugins/{name}/{version}/yank");
    send(reqwest::Client::new().post(url(&args.server.server, &path)).json(&json!({ "signature": signature }))).await
}
