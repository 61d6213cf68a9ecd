//! `trellis keygen`: an Ed25519 key pair for publishing plugins. The secret
//! key goes to `NAME.key`, readable by its owner only; the public key to
//! `NAME.pub`, for the marketplace operator to register. Existing files are
//! never overwritten: a lost key cannot be recovered, a replaced one would
//! orphan the published versions signed with it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use trellis_engine::private_file;
use trellis_marketplace::PublisherSecretKey;

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory for the two files.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// File name before `.key` and `.pub`.
    #[arg(long, default_value = "trellis-publisher")]
    name: String,
}

pub async fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let plausible = !args.name.is_empty()
        && args.name.len() <= 100
        && !args.name.starts_with('.')
        && args.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !plausible {
        bail!("--name `{}` must be a plain file name: letters, digits, `-`, `_`, `.`", args.name.escape_debug());
    }
    let secret_path = args.out.join(format!("{}.key", args.name));
    let public_path = args.out.join(format!("{}.pub", args.name));
    for path in [&secret_path, &public_path] {
        if path.exists() {
            bail!("{} exists; keygen never overwrites a key (choose another --name or --out)", path.display());
        }
    }
    let key = PublisherSecretKey::generate();
    let public = key.public_key().to_text();
    private_file::create(&secret_path, format!("{}\n", key.to_text()).as_bytes())
        .with_context(|| format!("writing {}", secret_path.display()))?;
    std::fs::write(&public_path, format!("{public}\n"))
        .with_context(|| format!("writing {}", public_path.display()))?;
    println!("{public}");
    eprintln!(
        "wrote {} (readable by you only; keep it secret) and {}\nregister the public key with the marketplace operator",
        secret_path.display(),
        public_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
