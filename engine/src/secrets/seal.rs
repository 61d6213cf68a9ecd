//! XChaCha20-Poly1305 with a random 192-bit nonce per message: random
//! nonces that large never collide in practice, so no counter has to be
//! kept consistent across processes. Stored form: nonce ‖ ciphertext+tag.
//! The associated data binds a ciphertext to where it belongs (tenant and
//! secret name), so rows copied between tenants or names fail to open.

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub const KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 24;

pub type Key = [u8; KEY_BYTES];

pub fn random_key() -> Key {
    XChaCha20Poly1305::generate_key(&mut OsRng).into()
}

pub fn seal(key: &Key, associated: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    // Encryption with a valid key and nonce cannot fail for in-memory sizes.
    let sealed = cipher.encrypt(&nonce, Payload { msg: plaintext, aad: associated }).unwrap_or_default();
    let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    out
}

/// `None` when the key, the associated data or the bytes are not the ones
/// it was sealed with.
pub fn open(key: &Key, associated: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_BYTES {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: associated }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_same_key_and_associated_data() {
        let key = random_key();
        let sealed = seal(&key, b"tenant-a", b"hunter2");
        assert_eq!(open(&key, b"tenant-a", &sealed).as_deref(), Some(&b"hunter2"[..]));
        assert_eq!(open(&key, b"tenant-b", &sealed), None);
        assert_eq!(open(&random_key(), b"tenant-a", &sealed), None);
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(open(&key, b"tenant-a", &flipped), None);
        assert_ne!(seal(&key, b"tenant-a", b"hunter2"), sealed, "nonces are fresh");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
    }
}
