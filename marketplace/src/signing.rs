//! Publisher keys and package signatures: Ed25519 over the
//! component's SHA-256 and the manifest.
//!
//! What is signed is domain-separated, so a signature made for a package
//! can never be replayed as one for anything else:
//! `"trellis-plugin-signature-v1\0" ‖ sha256(component) ‖ sha256(manifest)`.
//!
//! Text forms (one line each): a public key is `ed25519:<base64>`, a
//! signature `ed25519:<base64>`, a secret key `ed25519-secret:<base64>` of
//! its 32-byte seed (the CLI writes it to a file only its owner can read).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

const DOMAIN: &[u8] = b"trellis-plugin-signature-v1\0";
/// A yank is the publisher's decision, so it is signed too.
const YANK_DOMAIN: &[u8] = b"trellis-yank-v1\0";
const UPLOAD_DOMAIN: &[u8] = b"trellis-upload-v1\0";
const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "ed25519-secret:";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("{what} is not `{prefix}` followed by base64 of {len} bytes")]
    Malformed { what: &'static str, prefix: &'static str, len: usize },
    #[error("the signature does not verify with the publisher's key")]
    Mismatch,
    #[error("`{0}` is not a digest: expected `sha256:` and 64 lowercase hex digits")]
    Digest(String),
}

/// A component's content address: `sha256:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ComponentDigest([u8; 32]);

impl ComponentDigest {
    pub fn of(component: &[u8]) -> Self {
        ComponentDigest(Sha256::digest(component).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The text form back (`sha256:<64 lowercase hex>`).
    pub fn parse(text: &str) -> Result<Self, SignatureError> {
        let bad = || SignatureError::Digest(text.chars().take(80).collect());
        let hex_part = text.strip_prefix("sha256:").ok_or_else(bad)?;
        if hex_part.len() != 64 || !hex_part.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(bad());
        }
        let bytes = hex::decode(hex_part).map_err(|_| bad())?;
        Ok(ComponentDigest(bytes.try_into().map_err(|_| bad())?))
    }
}

impl std::fmt::Display for ComponentDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", hex::encode(self.0))
    }
}

fn signed_message(component: &ComponentDigest, manifest: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + 64);
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(component.as_bytes());
    message.extend_from_slice(&Sha256::digest(manifest));
    message
}

fn yank_message(name: &str, version: &semver::Version) -> Vec<u8> {
    let mut message = YANK_DOMAIN.to_vec();
    message.extend_from_slice(name.as_bytes());
    message.push(0);
    message.extend_from_slice(version.to_string().as_bytes());
    message
}

fn upload_message(publisher: &str, length: u64, timestamp: i64) -> Vec<u8> {
    let mut message = UPLOAD_DOMAIN.to_vec();
    message.extend_from_slice(publisher.as_bytes());
    message.push(0);
    message.extend_from_slice(&length.to_be_bytes());
    message.extend_from_slice(&timestamp.to_be_bytes());
    message
}

fn signature_text(signature: ed25519_dalek::Signature) -> String {
    format!("{PUBLIC_PREFIX}{}", STANDARD.encode(signature.to_bytes()))
}

fn decode<const N: usize>(text: &str, prefix: &'static str, what: &'static str) -> Result<[u8; N], SignatureError> {
    let malformed = || SignatureError::Malformed { what, prefix, len: N };
    let body = text.trim().strip_prefix(prefix).ok_or_else(malformed)?;
    let bytes = STANDARD.decode(body).map_err(|_| malformed())?;
    bytes.try_into().map_err(|_| malformed())
}

/// A publisher's secret key.
pub struct PublisherSecretKey(SigningKey);

impl PublisherSecretKey {
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        PublisherSecretKey(SigningKey::from_bytes(&seed))
    }

    pub fn from_text(text: &str) -> Result<Self, SignatureError> {
        Ok(PublisherSecretKey(SigningKey::from_bytes(&decode::<32>(text, SECRET_PREFIX, "a secret key")?)))
    }

    pub fn to_text(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(self.0.to_bytes()))
    }

    pub fn public_key(&self) -> PublisherKey {
        PublisherKey(self.0.verifying_key())
    }

    /// The signature of a package, in its text form.
    pub fn sign(&self, component: &ComponentDigest, manifest: &[u8]) -> String {
        signature_text(self.0.sign(&signed_message(component, manifest)))
    }

    /// The signature that lets an upload of `length` bytes by `publisher`
    /// in, checked from the headers before the body is read.
    pub fn sign_upload(&self, publisher: &str, length: u64, timestamp: i64) -> String {
        signature_text(self.0.sign(&upload_message(publisher, length, timestamp)))
    }

    /// The signature that asks the registry to yank `name@version`.
    pub fn sign_yank(&self, name: &str, version: &semver::Version) -> String {
        signature_text(self.0.sign(&yank_message(name, version)))
    }
}

/// A publisher's registered public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherKey(VerifyingKey);

impl PublisherKey {
    pub fn from_text(text: &str) -> Result<Self, SignatureError> {
        let bytes = decode::<32>(text, PUBLIC_PREFIX, "a public key")?;
        // A point that is not on the curve is as malformed as bad base64.
        VerifyingKey::from_bytes(&bytes).map(PublisherKey).map_err(|_| SignatureError::Malformed {
            what: "a public key",
            prefix: PUBLIC_PREFIX,
            len: 32,
        })
    }

    pub fn to_text(&self) -> String {
        format!("{PUBLIC_PREFIX}{}", STANDARD.encode(self.0.to_bytes()))
    }

    /// Checks a package's signature (strict verification: no malleable
    /// or small-order forms).
    pub fn verify(&self, component: &ComponentDigest, manifest: &[u8], signature: &str) -> Result<(), SignatureError> {
        self.verify_message(&signed_message(component, manifest), signature)
    }

    pub fn verify_yank(&self, name: &str, version: &semver::Version, signature: &str) -> Result<(), SignatureError> {
        self.verify_message(&yank_message(name, version), signature)
    }

    pub fn verify_upload(
        &self,
        publisher: &str,
        length: u64,
        timestamp: i64,
        signature: &str,
    ) -> Result<(), SignatureError> {
        self.verify_message(&upload_message(publisher, length, timestamp), signature)
    }

    fn verify_message(&self, message: &[u8], signature: &str) -> Result<(), SignatureError> {
        let bytes = decode::<64>(signature, PUBLIC_PREFIX, "the signature")?;
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        self.0.verify_strict(message, &signature).map_err(|_| SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &[u8] = b"\0asm component bytes";
    const MANIFEST: &[u8] = b"name = \"acme/slack\"\nversion = \"1.0.0\"\n";

    /// The documented layout, pinned by vectors computed outside this code
    /// with Python's `cryptography` (Ed25519 of the seed 0, 1, …, 31):
    /// `key.sign(b"trellis-plugin-signature-v1\0" + sha256(component) + sha256(manifest))`
    /// and `key.sign(b"trellis-upload-v1\0" + b"acme\0" + (1234).to_bytes(8,
    /// "big") + (1767225600).to_bytes(8, "big"))`. Ed25519 is deterministic,
    /// so a change of layout changes the bytes.
    #[test]
    fn signatures_match_fixed_vectors() {
        let key = PublisherSecretKey::from_text("ed25519-secret:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
        assert_eq!(key.public_key().to_text(), "ed25519:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=");
        let digest = ComponentDigest::of(COMPONENT);
        assert_eq!(digest.to_string(), "sha256:8a9acae27a4f71dd5ac9ba531d47d5c1975fc28774bea8a355d6dcd88bba74f0");
        let package =
            "ed25519:Nfizt7HePCPdwPWN8pkdD/IxzTNLylKgx1/ZrybZse+mY/YH0wg2V4+NvJCX6qrDVMfX8OfGJ/K12WHWfdXOBw==";
        assert_eq!(key.sign(&digest, MANIFEST), package);
        key.public_key().verify(&digest, MANIFEST, package).unwrap();
        let upload = "ed25519:bgO3uJg7o+fDN4ZQFZQ2ZEvN4aPNN2/JkEW/EuqN7chAHjYvygDHPuF45iHfvn6p4+hWQjPHFpLFjlSXwKPODQ==";
        assert_eq!(key.sign_upload("acme", 1234, 1_767_225_600), upload);
        key.public_key().verify_upload("acme", 1234, 1_767_225_600, upload).unwrap();
    }

    #[test]
    fn a_signature_verifies_only_for_its_bytes_its_manifest_and_its_key() {
        let key = PublisherSecretKey::generate();
        let public = key.public_key();
        let digest = ComponentDigest::of(COMPONENT);
        let signature = key.sign(&digest, MANIFEST);
        assert_eq!(public.verify(&digest, MANIFEST, &signature), Ok(()));

        let mut altered = COMPONENT.to_vec();
        altered[5] ^= 1;
        assert_eq!(public.verify(&ComponentDigest::of(&altered), MANIFEST, &signature), Err(SignatureError::Mismatch));
        let other_manifest = b"name = \"acme/slack\"\nversion = \"1.0.1\"\n";
        assert_eq!(public.verify(&digest, other_manifest, &signature), Err(SignatureError::Mismatch));
        let stranger = PublisherSecretKey::generate().public_key();
        assert_eq!(stranger.verify(&digest, MANIFEST, &signature), Err(SignatureError::Mismatch));
    }

    #[test]
    fn keys_and_signatures_round_trip_through_text_and_refuse_garbage() {
        let key = PublisherSecretKey::generate();
        let again = PublisherSecretKey::from_text(&key.to_text()).expect("secret key text");
        assert_eq!(again.public_key(), key.public_key());
        let public = PublisherKey::from_text(&key.public_key().to_text()).expect("public key text");
        let digest = ComponentDigest::of(COMPONENT);
        public.verify(&digest, MANIFEST, &again.sign(&digest, MANIFEST)).expect("same key, same signature");

        assert!(matches!(PublisherKey::from_text("ed25519:nope"), Err(SignatureError::Malformed { .. })));
        assert!(matches!(PublisherKey::from_text(&key.to_text()), Err(SignatureError::Malformed { .. })));
        assert!(matches!(public.verify(&digest, MANIFEST, "ed25519:AAAA"), Err(SignatureError::Malformed { .. })));
        assert_eq!(digest.to_string().len(), "sha256:".len() + 64);
        assert!(digest.to_string().starts_with("sha256:"));
        assert_eq!(ComponentDigest::parse(&digest.to_string()), Ok(digest.clone()));
        for bad in ["sha256:abc", "md5:00", &digest.to_string().to_uppercase(), &format!("{digest}0")] {
            assert!(matches!(ComponentDigest::parse(bad), Err(SignatureError::Digest(_))), "{bad}");
        }
    }

    #[test]
    fn a_yank_signature_names_one_version_and_is_no_package_signature() {
        let key = PublisherSecretKey::generate();
        let public = key.public_key();
        let v1: semver::Version = "1.0.0".parse().expect("version");
        let signature = key.sign_yank("acme/slack", &v1);
        assert_eq!(public.verify_yank("acme/slack", &v1, &signature), Ok(()));
        let v2: semver::Version = "1.0.1".parse().expect("version");
        assert_eq!(public.verify_yank("acme/slack", &v2, &signature), Err(SignatureError::Mismatch));
        assert_eq!(public.verify_yank("acme/slacker", &v1, &signature), Err(SignatureError::Mismatch));
        let digest = ComponentDigest::of(COMPONENT);
        assert_eq!(public.verify(&digest, MANIFEST, &signature), Err(SignatureError::Mismatch));
    }
}
