//! `trellis plugin new`: a plugin project that tests and builds as it is.
//!
//! The SDK is not on crates.io, so the project carries a copy of it and of
//! the WIT it binds, both taken from this build of trellis so they match the
//! host that will run the plugin. The lock file is the one the first-party
//! plugins build with, so a new project resolves the same crate versions.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use trellis_marketplace::manifest::is_slug;

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The plugin's marketplace name, `publisher/plugin`.
    name: String,
    /// Where to create the project [default: ./PLUGIN].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// The generated files that differ per project: `{{name}}`, `{{crate}}`
/// and `{{lib}}` are filled in.
const TEMPLATES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("plugin_template/Cargo.toml.tmpl")),
    ("trellis-plugin.toml", include_str!("plugin_template/trellis-plugin.toml.tmpl")),
    ("src/lib.rs", include_str!("plugin_template/lib.rs.tmpl")),
    ("README.md", include_str!("plugin_template/README.md.tmpl")),
    (".gitignore", include_str!("plugin_template/gitignore.tmpl")),
    ("sdk/Cargo.toml", include_str!("plugin_template/sdk-Cargo.toml.tmpl")),
];

/// Copied as they are, except the SDK's path to its WIT (see [`SDK_WIT_PATH`]).
const COPIES: &[(&str, &str)] = &[
    ("Cargo.lock", include_str!("../../../plugins/Cargo.lock")),
    ("sdk/src/lib.rs", include_str!("../../../plugins/sdk/src/lib.rs")),
    ("sdk/src/http.rs", include_str!("../../../plugins/sdk/src/http.rs")),
    ("sdk/src/kv.rs", include_str!("../../../plugins/sdk/src/kv.rs")),
    ("sdk/src/llm.rs", include_str!("../../../plugins/sdk/src/llm.rs")),
    ("sdk/src/log.rs", include_str!("../../../plugins/sdk/src/log.rs")),
    ("sdk/src/node.rs", include_str!("../../../plugins/sdk/src/node.rs")),
    ("sdk/src/provider.rs", include_str!("../../../plugins/sdk/src/provider.rs")),
    ("sdk/src/secrets.rs", include_str!("../../../plugins/sdk/src/secrets.rs")),
    ("sdk/wit/plugin.wit", include_str!("../../../wit/0.2.0/plugin.wit")),
    ("sdk/wit/deps/cli.wit", include_str!("../../../wit/0.2.0/deps/cli.wit")),
    ("sdk/wit/deps/clocks.wit", include_str!("../../../wit/0.2.0/deps/clocks.wit")),
    ("sdk/wit/deps/filesystem.wit", include_str!("../../../wit/0.2.0/deps/filesystem.wit")),
    ("sdk/wit/deps/http.wit", include_str!("../../../wit/0.2.0/deps/http.wit")),
    ("sdk/wit/deps/io.wit", include_str!("../../../wit/0.2.0/deps/io.wit")),
    ("sdk/wit/deps/random.wit", include_str!("../../../wit/0.2.0/deps/random.wit")),
    ("sdk/wit/deps/sockets.wit", include_str!("../../../wit/0.2.0/deps/sockets.wit")),
];

/// In the repository the SDK reaches the WIT two folders up; in a project
/// it sits next to it.
const SDK_WIT_PATH: (&str, &str) = (r#"path: "../../wit/0.2.0""#, r#"path: "wit""#);

/// The files of a new project for `publisher/plugin`, by relative path.
fn project_files(name: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let Some((publisher, plugin)) = name.split_once('/') else {
        bail!("`{name}` is not `publisher/plugin`");
    };
    if !is_slug(publisher) || !is_slug(plugin) {
        bail!("`{name}`: publisher and plugin are each 1-63 of a-z, 0-9 and `-`, not starting with `-`");
    }
    // Prefixed so the crate name never starts with a digit, is never a
    // keyword and never clashes with the SDK's.
    let crate_name = format!("plugin-{plugin}");
    let lib_name = crate_name.replace('-', "_");
    let mut files: Vec<(&'static str, String)> = TEMPLATES
        .iter()
        .map(|(path, text)| {
            (*path, text.replace("{{name}}", name).replace("{{crate}}", &crate_name).replace("{{lib}}", &lib_name))
        })
        .collect();
    for (path, text) in COPIES {
        let text = if *path == "sdk/src/lib.rs" {
            let (from, to) = SDK_WIT_PATH;
            if !text.contains(from) {
                bail!("this build's SDK does not bind its WIT at {from}; `plugin new` needs updating");
            }
            text.replace(from, to)
        } else {
            (*text).to_owned()
        };
        files.push((path, text));
    }
    Ok(files)
}

/// Writes every file into a fresh folder next to `dir`, then renames it
/// into place, so a failure leaves nothing half-made.
fn write_project(dir: &Path, files: &[(&str, String)]) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_none();
        if !empty {
            bail!("{} already exists and is not an empty folder", dir.display());
        }
    }
    let parent = match dir.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let staging = tempfile::Builder::new()
        .prefix(".trellis-plugin-new-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a folder in {}", parent.display()))?;
    for (path, text) in files {
        let target = staging.path().join(path);
        if let Some(folder) = target.parent() {
            std::fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    // rename(2) replaces an empty folder, so an empty `dir` is fine too.
    std::fs::rename(staging.path(), dir).with_context(|| format!("moving the project to {}", dir.display()))?;
    // The staging folder is now `dir`; dropping the guard must not remove it.
    let _ = staging.keep();
    Ok(())
}

pub async fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    let files = project_files(&args.name)?;
    let dir = match args.dir {
        Some(dir) => dir,
        None => PathBuf::from(args.name.split_once('/').map_or(args.name.as_str(), |(_, plugin)| plugin)),
    };
    write_project(&dir, &files)?;
    println!("{}", dir.display());
    eprintln!(
        "created {} in {}: `cargo test` runs its tests, `trellis plugin build` makes and checks the component",
        args.name,
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(prefix: &str) -> Vec<String> {
        let mut paths: Vec<String> =
            COPIES.iter().filter_map(|(path, _)| path.strip_prefix(prefix)).map(str::to_owned).collect();
        paths.sort();
        paths
    }

    fn on_disk(root: &Path) -> Vec<String> {
        let mut paths = Vec::new();
        let mut folders = vec![root.to_path_buf()];
        while let Some(folder) = folders.pop() {
            for entry in std::fs::read_dir(&folder).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    folders.push(path);
                } else {
                    paths.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
                }
            }
        }
        paths.sort();
        paths
    }

    /// A file added to the SDK or the WIT must be added to the copy too, or
    /// new projects would not build.
    #[test]
    fn every_sdk_and_wit_file_is_copied() {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        assert_eq!(listed("sdk/src/"), on_disk(&repo.join("plugins/sdk/src")));
        assert_eq!(listed("sdk/wit/"), on_disk(&repo.join("wit/0.1.0")));
    }

    #[test]
    fn the_project_names_the_plugin_and_binds_the_copied_wit() {
        let files = project_files("acme/2fa-check").unwrap();
        let file = |name: &str| &files.iter().find(|(path, _)| *path == name).unwrap().1;
        assert!(file("trellis-plugin.toml").contains(r#"name = "acme/2fa-check""#));
        assert!(file("Cargo.toml").contains(r#"name = "plugin-2fa-check""#));
        assert!(file("README.md").contains("plugin_2fa_check.wasm"));
        assert!(file("sdk/src/lib.rs").contains(r#"path: "wit""#));
        assert!(files.iter().all(|(_, text)| !text.contains("{{")), "a placeholder was left unfilled");
        trellis_marketplace::Manifest::parse(file("trellis-plugin.toml").as_bytes()).unwrap();
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["greeter", "Acme/greeter", "acme/-x", "acme/", "acme/a/b", "acme/x_y"] {
            assert!(project_files(name).is_err(), "{name} was accepted");
        }
    }

    #[test]
    fn a_non_empty_folder_is_left_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("taken");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("keep.txt"), "mine").unwrap();
        let error = write_project(&dir, &project_files("acme/greeter").unwrap()).unwrap_err();
        assert!(error.to_string().contains("not an empty folder"), "{error}");
        assert_eq!(on_disk(&dir), ["keep.txt"]);
        // Nothing staged was left behind either.
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);

        let empty = root.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        write_project(&empty, &project_files("acme/greeter").unwrap()).unwrap();
        assert!(empty.join("sdk/wit/plugin.wit").is_file());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 2);
    }
}
