//! Builds the `plugins/` workspace for wasm32-wasip2 and generates
//! `artifacts.rs` with a constant per component. Modelled on wasmtime's
//! `crates/test-programs/artifacts/build.rs`: a nested cargo with its own
//! target directory under OUT_DIR, host RUSTFLAGS removed (they are for the
//! host, not the guest), and `rerun-if-changed` taken from the `.d` files so
//! editing a plugin or the SDK rebuilds exactly when needed.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const TARGET: &str = "wasm32-wasip2";

struct Guest {
    /// Folder name, e.g. `http-request`.
    name: String,
    path: PathBuf,
    first_party: bool,
    version: String,
    /// `trellis-plugin.toml`, required of first-party plugins.
    manifest: Option<PathBuf>,
}

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").context("CARGO_MANIFEST_DIR")?);
    let repo = manifest_dir.join("../..").canonicalize()?;
    let plugins = repo.join("plugins");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").context("OUT_DIR")?);
    let target_dir = out_dir.join("wasm-target");

    // Cargo gives clones of this repository at different paths the same
    // unit hash when they share a CARGO_TARGET_DIR (CI does), so the paths
    // below could belong to another clone. The working directory tells the
    // clones apart and makes cargo run this script again for a new one.
    println!("cargo:rerun-if-env-changed=PWD");
    println!("cargo:rerun-if-changed={}", plugins.join("Cargo.toml").display());
    println!("cargo:rerun-if-changed={}", plugins.join("Cargo.lock").display());
    println!("cargo:rerun-if-changed={}", plugins.join(".cargo/config.toml").display());
    println!("cargo:rerun-if-changed={}", repo.join("wit").display());
    for file in walk(&repo.join("wit"))? {
        println!("cargo:rerun-if-changed={}", file.display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&plugins)
        .args(["build", "--release", "--workspace", "--target", TARGET])
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    let status = cmd.status().context("running cargo for plugins/")?;
    if !status.success() {
        bail!(
            "building plugins/ for {TARGET} failed ({status}); is the target installed? `rustup target add {TARGET}`"
        );
    }

    let release = target_dir.join(TARGET).join("release");
    for dep_file in fs::read_dir(&release)?.filter_map(|e| e.ok()).map(|e| e.path()) {
        if dep_file.extension().is_some_and(|e| e == "d") {
            for dep in dependencies(&dep_file)? {
                println!("cargo:rerun-if-changed={dep}");
            }
        }
    }

    let mut guests = Vec::new();
    for (folder, first_party) in [(plugins.clone(), true), (plugins.join("testing"), false)] {
        for entry in fs::read_dir(&folder)? {
            let dir = entry?.path();
            if !dir.join("Cargo.toml").exists() || dir.file_name().is_some_and(|n| n == "sdk") {
                continue;
            }
            let name = dir.file_name().context("folder name")?.to_string_lossy().into_owned();
            let lib = release.join(format!("trellis_plugin_{}.wasm", name.replace('-', "_")));
            let bin = release.join(format!("trellis-plugin-{name}.wasm"));
            let path = if lib.exists() { lib } else { bin };
            if !path.exists() {
                bail!("plugins/{name} built no component (looked for {})", path.display());
            }
            let version = package_version(&dir.join("Cargo.toml"), &plugins.join("Cargo.toml"))?;
            let manifest = dir.join("trellis-plugin.toml");
            // A missing file would make cargo run this script on every
            // build; the folder is watched instead, to see one appear.
            let watched = if manifest.exists() { &manifest } else { &dir };
            println!("cargo:rerun-if-changed={}", watched.display());
            let manifest = if manifest.exists() {
                check_manifest(&manifest, &name, &version)?;
                Some(manifest)
            } else if first_party {
                bail!("plugins/{name} has no trellis-plugin.toml; first-party plugins are published with one");
            } else {
                None
            };
            guests.push(Guest { name, path, first_party, version, manifest });
        }
    }
    guests.sort_by(|a, b| a.name.cmp(&b.name));

    let mut code = String::new();
    for guest in &guests {
        writeln!(
            code,
            "/// `plugins/{}{}` as a component.",
            if guest.first_party { "" } else { "testing/" },
            guest.name
        )?;
        writeln!(code, "pub const {}: &str = {:?};", constant(&guest.name), guest.path.display().to_string())?;
    }
    writeln!(code, "pub const FIRST_PARTY: &[FirstParty] = &[")?;
    for guest in guests.iter().filter(|g| g.first_party) {
        writeln!(
            code,
            "    FirstParty {{ name: \"trellis/{}\", version: {:?}, component: include_bytes!({:?}), manifest: include_str!({:?}) }},",
            guest.name,
            guest.version,
            guest.path.display().to_string(),
            guest.manifest.as_ref().map(|m| m.display().to_string()).unwrap_or_default()
        )?;
    }
    writeln!(code, "];")?;
    writeln!(code, "#[macro_export]\nmacro_rules! foreach_testing_guest {{\n    ($mac:ident) => {{")?;
    for guest in guests.iter().filter(|g| !g.first_party) {
        writeln!(code, "        $mac!({});", guest.name.replace('-', "_"))?;
    }
    writeln!(code, "    }};\n}}")?;
    fs::write(out_dir.join("artifacts.rs"), code)?;
    Ok(())
}

/// The manifest names the plugin and version cargo builds: a cheap line
/// check here; the marketplace parses it fully when it is published.
fn check_manifest(path: &Path, folder: &str, version: &str) -> Result<()> {
    let text = fs::read_to_string(path)?;
    let value = |key: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(key)?.trim_start().strip_prefix('=')?.trim().strip_prefix('"')?.strip_suffix('"')
            })
            .map(str::to_owned)
    };
    if value("version").as_deref() != Some(version) {
        bail!("{}: `version` must be {version}, the package's version", path.display());
    }
    match value("name") {
        Some(name) if name.ends_with(&format!("/{folder}")) => Ok(()),
        other => bail!("{}: `name` must be `publisher/{folder}`, found {other:?}", path.display()),
    }
}

fn constant(name: &str) -> String {
    name.replace('-', "_").to_ascii_uppercase()
}

/// Paths listed in a rustc `.d` file (`target: dep dep ...`).
fn dependencies(dep_file: &Path) -> Result<Vec<String>> {
    let text = fs::read_to_string(dep_file)?;
    let mut deps = Vec::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once(": ") else { continue };
        // Paths with spaces are escaped as `\ `.
        let mut current = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        deps.push(std::mem::take(&mut current));
                    }
                }
                other => current.push(other),
            }
        }
        if !current.is_empty() {
            deps.push(current);
        }
    }
    deps.retain(|d| !d.contains("/.cargo/registry/") && !d.contains("/rustlib/"));
    Ok(deps)
}

/// The package version, following `version.workspace = true`.
fn package_version(manifest: &Path, workspace: &Path) -> Result<String> {
    let find = |text: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with("version") && l.contains('"'))
            .and_then(|l| l.split('"').nth(1).map(str::to_owned))
    };
    let own = fs::read_to_string(manifest)?;
    if let Some(v) = find(&own) {
        return Ok(v);
    }
    find(&fs::read_to_string(workspace)?).context("no version in plugins/Cargo.toml")
}

fn walk(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}
