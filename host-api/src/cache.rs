//! On-disk cache of compiled components, keyed by the component's SHA-256
//! and a hash of the engine's compile settings, so a restart does not
//! recompile and a settings change never loads incompatible code.
//!
//! The cache directory is trusted: its files are native code loaded with
//! `Component::deserialize_file`. It must be writable only by the server.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
}

impl ComponentCache {
    pub(crate) fn open(dir: &Path, engine: &Engine) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        env!("CARGO_PKG_VERSION").hash(&mut hasher);
        Ok(ComponentCache { dir: dir.to_owned(), engine_key: format!("{:016x}", hasher.finish()) })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The cached compilation, if present and loadable. A corrupt or stale
    /// file is removed so the next load recompiles.
    pub(crate) fn load(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: files in the cache directory are written only by `store`
        // below from `Component::serialize` output of an engine with the
        // same compatibility hash (it is part of the file name); the
        // directory is operator-owned (see module docs).
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "discarding unreadable cached component");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Writes atomically (temp file + rename) so a crash or a concurrent
    /// writer never leaves a truncated file under the final name.
    pub(crate) fn store(&self, digest: &str, component: &Component) -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| format!("serialize: {e}"))?;
        let path = self.path(digest);
        let temp = self.dir.join(format!(".{digest}.{}.tmp", std::process::id()));
        std::fs::write(&temp, &bytes).map_err(|e| format!("write {}: {e}", temp.display()))?;
        std::fs::rename(&temp, &path).map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            format!("rename to {}: {e}", path.display())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RuntimeConfig;
    use crate::runtime::engine_config;

    #[test]
    fn engines_that_compile_differently_use_different_entries() {
        let dir = tempfile::tempdir().unwrap();
        let config = RuntimeConfig { pooling: false, ..RuntimeConfig::default() };
        let metered = Engine::new(&engine_config(&config, true).unwrap()).unwrap();
        let bare = Engine::new(&engine_config(&config, false).unwrap()).unwrap();
        let a = ComponentCache::open(dir.path(), &metered).unwrap();
        let b = ComponentCache::open(dir.path(), &bare).unwrap();
        let again = ComponentCache::open(dir.path(), &metered).unwrap();
        assert_ne!(a.path("d"), b.path("d"));
        assert_eq!(a.path("d"), again.path("d"));
    }
}
