//! Webhook signatures, in the scheme Stripe and Slack use: the sender puts
//! the unix time in `X-Trellis-Timestamp` and
//! `sha256=HEX(HMAC-SHA256(secret, "{timestamp}.{body}"))` in
//! `X-Trellis-Signature`. A timestamp outside the window is refused, so a
//! captured request cannot be replayed later; inside the window, a
//! signature seen before is refused too (per server process). A replay is
//! recognised by the decoded MAC, so another spelling of the same signature
//! (upper-case hex) is the same signature.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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

/// Signatures accepted within the window, so the same request is taken once.
#[derive(Clone, Default)]
pub struct ReplayGuard {
    seen: Arc<Mutex<HashMap<Vec<u8>, i64>>>,
}

/// Past this many remembered signatures, expired ones are swept.
const SWEEP_AT: usize = 10_000;

/// A signature held while its run is admitted: dropped unspent (the run was
/// refused), it is forgotten so the sender may retry; spent, it is kept
/// until its window closes.
#[must_use]
pub struct Reservation {
    guard: ReplayGuard,
    mac: Option<Vec<u8>>,
}

impl Reservation {
    pub fn spend(mut self) {
        self.mac = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some(mac) = self.mac.take()
            && let Ok(mut seen) = self.guard.seen.lock()
        {
            seen.remove(&mac);
        }
    }
}

impl ReplayGuard {
    /// Holds a verified signature; `Replayed` if it was seen in the window
    /// (or is held by a request being admitted now).
    pub fn reserve(&self, verified: &Verified, now: i64) -> Result<Reservation, SignatureError> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, at| now.saturating_sub(*at) <= WINDOW_SECS);
        }
        if seen.contains_key(&verified.mac) {
            return Err(SignatureError::Replayed);
        }
        seen.insert(verified.mac.clone(), verified.timestamp);
        Ok(Reservation { guard: self.clone(), mac: Some(verified.mac.clone()) })
    }
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
    fn a_replay_is_the_same_mac_whatever_its_spelling_and_a_refused_run_spends_nothing() {
        let secret = b"whsec_test";
        let body = b"{}";
        let signature = sign(secret, NOW, body);
        let ts = NOW.to_string();
        let upper = format!("sha256={}", signature["sha256=".len()..].to_ascii_uppercase());
        let guard = ReplayGuard::default();

        let first = verify(secret, Some(&ts), Some(&signature), body, NOW).unwrap();
        let held = guard.reserve(&first, NOW).unwrap();
        // While the first request is being admitted, a copy is a replay.
        let copy = verify(secret, Some(&ts), Some(&upper), body, NOW).unwrap();
        assert!(matches!(guard.reserve(&copy, NOW), Err(SignatureError::Replayed)));
        // Its run was refused (a quota): the sender may send it again.
        drop(held);
        guard.reserve(&copy, NOW).unwrap().spend();
        for spelling in [&signature, &upper, &format!(" {signature} ")] {
            let again = verify(secret, Some(&ts), Some(spelling), body, NOW + 1).unwrap();
            assert!(matches!(guard.reserve(&again, NOW + 1), Err(SignatureError::Replayed)), "{spelling}");
        }
    }
}
