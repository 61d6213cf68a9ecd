//! Key files in the data directory (JWT signing secret, secrets master
//! key): created once with mode 0600, refused later if others can read them.

use std::path::Path;

/// Creates `path` with `bytes`, readable by this user only; fails if it exists.
#[cfg(unix)]
pub fn create(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
pub fn create(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Reads a key file; `Ok(None)` when it does not exist. A file that group or
/// others may read is refused, as ssh does: the key may have leaked.
pub fn read(path: &Path) -> std::io::Result<Option<Vec<u8>>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(std::io::Error::other(format!(
                "{} has mode {:o}; it must be readable by its owner only (chmod 600)",
                path.display(),
                mode & 0o777
            )));
        }
    }
    Ok(Some(bytes))
}
