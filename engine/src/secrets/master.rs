//! The server's master key: from `TRELLIS_MASTER_KEY` (base64 of 32
//! bytes), or generated once into `DATA_DIR/master-key` with mode 0600.
//! It only wraps tenant data keys, so rotating it re-wraps one small row
//! per tenant rather than re-encrypting every secret.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::SecretError;
use super::seal::{KEY_BYTES, Key, random_key};

pub const MASTER_KEY_ENV: &str = "TRELLIS_MASTER_KEY";
const FILE_NAME: &str = "master-key";

#[derive(Clone)]
pub struct MasterKey(Key);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    pub fn from_bytes(key: Key) -> Self {
        MasterKey(key)
    }

    pub fn random() -> Self {
        MasterKey(random_key())
    }

    pub(super) fn key(&self) -> &Key {
        &self.0
    }

    fn decode(text: &str, origin: &str) -> Result<Self, SecretError> {
        let bytes =
            STANDARD.decode(text.trim()).map_err(|e| SecretError::MasterKey(format!("{origin} is not base64: {e}")))?;
        let key: Key = bytes.try_into().map_err(|b: Vec<u8>| {
            SecretError::MasterKey(format!("{origin} holds {} bytes; it must hold {KEY_BYTES}", b.len()))
        })?;
        Ok(MasterKey(key))
    }

    /// The key from the environment, else from the data directory, else a
    /// new one written there.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, SecretError> {
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            return Self::decode(&text, MASTER_KEY_ENV);
        }
        let path = data_dir.join(FILE_NAME);
        let origin = path.display().to_string();
        let io = |e: std::io::Error| SecretError::MasterKey(format!("{origin}: {e}"));
        if let Some(bytes) = crate::private_file::read(&path).map_err(io)? {
            let text = String::from_utf8(bytes).map_err(|_| SecretError::MasterKey(format!("{origin} is not text")))?;
            return Self::decode(&text, &origin);
        }
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let key = MasterKey::random();
        crate::private_file::create(&path, STANDARD.encode(key.0).as_bytes()).map_err(io)?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_once_with_owner_only_mode_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        // The environment wins when set; this test covers the file path.
        if std::env::var(MASTER_KEY_ENV).is_ok() {
            return;
        }
        let first = MasterKey::load_or_create(dir.path()).unwrap();
        let again = MasterKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.key(), again.key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(FILE_NAME);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let error = MasterKey::load_or_create(dir.path()).unwrap_err().to_string();
            assert!(error.contains("chmod 600"), "{error}");
        }
    }

    #[test]
    fn a_malformed_key_names_its_origin() {
        let error = MasterKey::decode("c2hvcnQ=", "TRELLIS_MASTER_KEY").unwrap_err().to_string();
        assert!(error.contains("TRELLIS_MASTER_KEY holds 5 bytes"), "{error}");
    }
}
