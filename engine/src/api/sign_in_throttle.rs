//! Sign-in throttling that a stranger cannot turn against a user.
//!
//! Failed sign-ins are counted twice: per (email, client address) and per
//! client address. The first stops guessing one member's password from one
//! place; the second stops one place guessing many members' passwords. A
//! correct password from an address with no failures is never refused,
//! whatever other addresses did, so nobody can lock the owner out by failing
//! on purpose.
//!
//! The counts live in the store, so every server sharing a database counts
//! the same failures: spreading guesses over the servers of a cluster buys
//! nothing. Keys are hashed, so the table holds no email or address, and
//! ended windows are deleted as new failures come in.

use std::net::IpAddr;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, now_ms};

/// Failures one address may make for one email per window.
pub const FAILURES_PER_EMAIL_AND_ADDRESS: u32 = 10;
/// Failures one address may make over all emails per window.
pub const FAILURES_PER_ADDRESS: u32 = 50;
pub const WINDOW: Duration = Duration::from_secs(60);
const WINDOW_MS: i64 = WINDOW.as_millis() as i64;

/// Which limit a refused attempt hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub quota: &'static str,
    pub limit: u32,
}

#[derive(Clone)]
pub struct SignInThrottle {
    store: Store,
}

/// The two keys an attempt counts under: (email, address), then address.
fn keys(email: &str, address: IpAddr) -> [String; 2] {
    let digest = |text: String| hex::encode(Sha256::digest(text.as_bytes()));
    [digest(format!("email-address\0{email}\0{address}")), digest(format!("address\0{address}"))]
}

impl SignInThrottle {
    pub fn new(store: Store) -> Self {
        SignInThrottle { store }
    }

    /// Whether `email` may try to sign in from `address` now.
    pub async fn check(&self, email: &str, address: IpAddr) -> Result<Result<(), Throttled>, StoreError> {
        let [pair, alone] = keys(email, address);
        let counts = self.store.sign_in_failures(&[&pair, &alone], now_ms(), WINDOW_MS).await?;
        let (pair, alone) = (counts.first().copied().unwrap_or(0), counts.get(1).copied().unwrap_or(0));
        if alone >= FAILURES_PER_ADDRESS {
            return Ok(Err(Throttled { quota: "login_failures_per_address", limit: FAILURES_PER_ADDRESS }));
        }
        if pair >= FAILURES_PER_EMAIL_AND_ADDRESS {
            return Ok(Err(Throttled { quota: "login_failures", limit: FAILURES_PER_EMAIL_AND_ADDRESS }));
        }
        Ok(Ok(()))
    }

    /// Counts a failed sign-in (a wrong password or an unknown email).
    pub async fn failed(&self, email: &str, address: IpAddr) -> Result<(), StoreError> {
        let [pair, alone] = keys(email, address);
        self.store.count_sign_in_failure(&[&pair, &alone], now_ms(), WINDOW_MS).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_email_and_per_address_and_name_neither() {
        let a = keys("x@acme.test", "203.0.113.7".parse().unwrap());
        let b = keys("y@acme.test", "203.0.113.7".parse().unwrap());
        let c = keys("x@acme.test", "203.0.113.8".parse().unwrap());
        assert_ne!(a[0], b[0]);
        assert_eq!(a[1], b[1], "one address, one budget over all emails");
        assert_ne!(a[0], c[0]);
        assert_ne!(a[1], c[1]);
        assert!(a.iter().all(|k| !k.contains("acme") && !k.contains("203")));
    }
}
