//! `--plugin` accepts a first-party name (`trellis/transform`) or a path to
//! a component file.

use std::path::Path;

use anyhow::{Context, bail};

/// Largest file read from disk; the runtime applies its own (smaller) cap.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

pub fn read(source: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(plugin) = trellis_engine::first_party::find(source) {
        return Ok(plugin.component.to_vec());
    }
    let path = Path::new(source);
    if !path.exists() {
        let names: Vec<&str> = trellis_engine::first_party::all().iter().map(|p| p.name).collect();
        bail!("`{source}` is neither a component file nor a first-party plugin ({})", names.join(", "));
    }
    read_capped(path, MAX_FILE_BYTES)
}

/// A file's bytes, refused without reading when it is over `max`.
pub fn read_capped(path: &Path, max: u64) -> anyhow::Result<Vec<u8>> {
    let size = path.metadata().with_context(|| format!("reading {}", path.display()))?.len();
    if size > max {
        bail!("{} is {size} bytes, over the {max}-byte limit", path.display());
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}
