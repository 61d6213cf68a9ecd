//! Trust on first use for the publisher keys a central registry hands out.
//!
//! A signature read together with its key from the same registry proves
//! only that the bytes were not changed after the registry got them. Once
//! a server has pulled a publisher's component, it keeps that publisher's
//! key and refuses a later answer with another one, so a registry that is
//! taken over cannot sign a new component for an existing publisher. The
//! registry itself never changes a publisher's key (a name stays with its
//! first key), so a change is never legitimate there either.
//!
//! Plain file calls: a pin is read once per component pulled, not per run.

use std::path::PathBuf;

use crate::manifest::is_slug;
use crate::signing::PublisherKey;
use crate::source::SourceError;

pub struct KeyPins {
    dir: PathBuf,
}

impl KeyPins {
    /// One file per publisher in `dir`, made when first needed.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyPins { dir: dir.into() }
    }

    fn path(&self, publisher: &str) -> Result<PathBuf, SourceError> {
        // The name comes from the registry's answer: never a path.
        if !is_slug(publisher) {
            return Err(SourceError::Verification(format!("the registry named publisher `{publisher}`")));
        }
        Ok(self.dir.join(format!("{publisher}.pub")))
    }

    fn io(&self, error: std::io::Error) -> SourceError {
        SourceError::Unavailable(format!("pinned publisher keys in {}: {error}", self.dir.display()))
    }

    /// Refuses `key` when another key is pinned for `publisher`.
    pub fn check(&self, publisher: &str, key: &PublisherKey) -> Result<(), SourceError> {
        let path = self.path(publisher)?;
        let pinned = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(self.io(error)),
        };
        let pinned = PublisherKey::from_text(pinned.trim())
            .map_err(|e| SourceError::Unavailable(format!("{}: {e}", path.display())))?;
        if &pinned != key {
            return Err(SourceError::Verification(format!(
                "the registry's key for publisher `{publisher}` is not the one pinned at the first pull ({}); \
                 remove that file only if the publisher really has a new key",
                path.display()
            )));
        }
        Ok(())
    }

    /// Pins `key` for `publisher` unless a key is pinned already. Called
    /// only after a component signed with it was verified.
    pub fn pin(&self, publisher: &str, key: &PublisherKey) -> Result<(), SourceError> {
        let path = self.path(publisher)?;
        if path.try_exists().map_err(|e| self.io(e))? {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io(e))?;
        // Written aside and renamed, so a crash never leaves half a key.
        let staging = self.dir.join(format!(".{publisher}.pub.{}", std::process::id()));
        std::fs::write(&staging, key.to_text()).map_err(|e| self.io(e))?;
        std::fs::rename(&staging, &path).map_err(|e| self.io(e))
    }
}
