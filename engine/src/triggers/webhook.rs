//! Webhook signatures, in the scheme Stripe and Slack use: the sender puts
//! the unix time in `X-Trellis-Timestamp` and
//! `sha256=HEX(HMAC-SHA256(secret, "{timestamp}.{body}"))` in
//! `X-Trellis-Signature`. A timestamp outside the window is refused, so a
//! captured request cannot be replayed later; inside the window, a
//! signature seen before is refused too: its run's id is derived from the
//! decoded MAC ([`delivery_run_id`]), so another spelling of the same
//! signature (upper-case hex) is the same run, admitted once by the store.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

pub const TIMESTAMP_HEADER: &str = "x-trellis-timestamp";
pub const SIGNATURE_HEADER: &str = "x-trellis-signature";
/// How far the sender's clock may be from ours, either way.
pub const WINDOW_SECS: i64 = 300;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {TIMESTAMP_HEADER} header is not a unix time in seconds")]
    BadTimestamp,
    #[error("the timestamp is {0} s from the server's clock, outside the {WINDOW_SECS} s window")]
    OutsideWindow(i64),
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("this signed request was already received")]
    Replayed,
}

/// `sha256=…` for a body, as a sender computes it.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret, timestamp, body).finalize().into_bytes()))
}

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// A signature that matched: its timestamp and the MAC it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub timestamp: i64,
    pub mac: Vec<u8>,
}

/// Checks one request's signature headers (`None` when absent) against
/// `secret`, at `now` (unix seconds).
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<Verified, SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    let timestamp: i64 = timestamp.trim().parse().map_err(|_| SignatureError::BadTimestamp)?;
    let skew = now.saturating_sub(timestamp);
    if skew.abs() > WINDOW_SECS {
        return Err(SignatureError::OutsideWindow(skew));
    }
    let given =
        signature.trim().strip_prefix("sha256=").and_then(|h| hex::decode(h).ok()).ok_or(SignatureError::Mismatch)?;
    // Constant-time comparison.
    mac(secret, timestamp, body).verify_slice(&given).map_err(|_| SignatureError::Mismatch)?;
    Ok(Verified { timestamp, mac: given })
}

/// The id of the run a signed delivery starts: a UUIDv7 whose time is the
/// signature's timestamp and whose other bits come from the tenant and the
/// MAC. A replay inside the window names the same run, whose id the store
/// admits once, across every server sharing it, so the replay is refused;
/// a delivery whose run was refused (a quota) recorded nothing and may be
/// sent again. Outside the window the timestamp check refuses it.
pub fn delivery_run_id(tenant: &str, verified: &Verified) -> String {
    use sha2::Digest;
    let digest = Sha256::new().chain_update(tenant.as_bytes()).chain_update([0]).chain_update(&verified.mac).finalize();
    let mut random = [0u8; 10];
    random.copy_from_slice(&digest[..10]);
    let millis = u64::try_from(verified.timestamp).unwrap_or(0).saturating_mul(1000);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    /// The documented format, pinned by a vector computed outside this
    /// code, with OpenSSL:
    /// `printf '1767225600.{"order":42}' | openssl dgst -sha256 -hmac whsec_vector`
    /// (Python's `hmac.new(b'whsec_vector', b'1767225600.{"order":42}', 'sha256')`
    /// gives the same).
    #[test]
    fn the_signature_format_matches_a_fixed_vector() {
        let expected = "sha256=8e1b88ad71787833875eed61e951e70381c7a00c41d464280654ad296509cdb9";
        assert_eq!(sign(b"whsec_vector", 1_767_225_600, br#"{"order":42}"#), expected);
        let verified =
            verify(b"whsec_vector", Some("1767225600"), Some(expected), br#"{"order":42}"#, 1_767_225_600).unwrap();
        assert_eq!(hex::encode(verified.mac), &expected["sha256=".len()..]);
    }

    #[test]
    fn accepts_a_fresh_signature_and_refuses_everything_else() {
        let secret = b"whsec_test";
        let body = br#"{"order": 42}"#;
        let signature = sign(secret, NOW, body);
        let ts = NOW.to_string();
        let verified = verify(secret, Some(&ts), Some(&signature), body, NOW + 10).unwrap();
        assert_eq!(verified.timestamp, NOW);
        assert_eq!(verify(secret, Some(&ts), Some(&signature), b"{\"order\": 43}", NOW), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"other", Some(&ts), Some(&signature), body, NOW), Err(SignatureError::Mismatch));
        assert_eq!(
            verify(secret, Some(&ts), Some(&signature), body, NOW + 301),
            Err(SignatureError::OutsideWindow(301))
        );
        // A replay with a new timestamp header breaks the signature.
        let later = (NOW + 600).to_string();
        assert_eq!(verify(secret, Some(&later), Some(&signature), body, NOW + 600), Err(SignatureError::Mismatch));
        assert_eq!(verify(secret, None, Some(&signature), body, NOW), Err(SignatureError::Missing(TIMESTAMP_HEADER)));
        assert_eq!(verify(secret, Some("yesterday"), Some(&signature), body, NOW), Err(SignatureError::BadTimestamp));
        assert_eq!(verify(secret, Some(&ts), Some("md5=00"), body, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_replay_names_the_same_run_whatever_its_spelling_and_runs_sort_by_time() {
        let secret = b"whsec_test";
        let body = b"{}";
        let signature = sign(secret, NOW, body);
        let ts = NOW.to_string();
        let upper = format!("sha256={}", signature["sha256=".len()..].to_ascii_uppercase());
        let first = delivery_run_id("acme", &verify(secret, Some(&ts), Some(&signature), body, NOW).unwrap());
        for spelling in [&signature, &upper, &format!(" {signature} ")] {
            let again = verify(secret, Some(&ts), Some(spelling), body, NOW + 1).unwrap();
            assert_eq!(delivery_run_id("acme", &again), first, "{spelling}");
        }
        let verified = verify(secret, Some(&ts), Some(&signature), body, NOW).unwrap();
        assert_ne!(delivery_run_id("globex", &verified), first, "another tenant's delivery is its own");
        let other = verify(secret, Some(&ts), Some(&sign(secret, NOW, b"[]")), b"[]", NOW).unwrap();
        assert_ne!(delivery_run_id("acme", &other), first);
        let id: uuid::Uuid = first.parse().unwrap();
        assert_eq!(id.get_version_num(), 7);
        let later =
            verify(secret, Some(&(NOW + 1).to_string()), Some(&sign(secret, NOW + 1, body)), body, NOW).unwrap();
        assert!(delivery_run_id("acme", &later) > first, "ids sort by the signature's time");
    }
}
