//! Sign-in throttling that a stranger cannot turn against a user.
//!
//! Failed sign-ins are counted twice: per (email, client address) and per
//! client address. The first stops guessing one member's password from one
//! place; the second stops one place guessing many members' passwords. A
//! correct password from an address with no failures is never refused,
//! whatever other addresses did, so nobody can lock the owner out by failing
//! on purpose. Each table holds at most `MAX_ENTRIES`; past that the oldest
//! window is forgotten first (a flood of fresh keys only forgets itself).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures one address may make for one email per window.
pub const FAILURES_PER_EMAIL_AND_ADDRESS: u32 = 10;
/// Failures one address may make over all emails per window.
pub const FAILURES_PER_ADDRESS: u32 = 50;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Entries per table: bounds the throttle's memory (about 100 bytes each).
pub const MAX_ENTRIES: usize = 100_000;

/// Which limit a refused attempt hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub quota: &'static str,
    pub limit: u32,
}

#[derive(Clone, Default)]
pub struct SignInThrottle {
    inner: Arc<Mutex<Tables>>,
}

struct Tables {
    by_email_and_address: Window<(String, IpAddr)>,
    by_address: Window<IpAddr>,
}

impl Default for Tables {
    fn default() -> Self {
        Tables { by_email_and_address: Window::new(MAX_ENTRIES), by_address: Window::new(MAX_ENTRIES) }
    }
}

/// Failures per key in fixed windows that start at a key's first failure.
struct Window<K> {
    counts: HashMap<K, (Instant, u32)>,
    cap: usize,
}

impl<K: Hash + Eq + Clone> Window<K> {
    fn new(cap: usize) -> Self {
        Window { counts: HashMap::new(), cap }
    }

    fn failures(&self, key: &K, now: Instant) -> u32 {
        match self.counts.get(key) {
            Some((start, count)) if now.duration_since(*start) < WINDOW => *count,
            _ => 0,
        }
    }

    fn record(&mut self, key: K, now: Instant) {
        if !self.counts.contains_key(&key) && self.counts.len() >= self.cap {
            self.counts.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
            if self.counts.len() >= self.cap
                && let Some(oldest) = self.counts.iter().min_by_key(|(_, (start, _))| *start).map(|(k, _)| k.clone())
            {
                self.counts.remove(&oldest);
            }
        }
        let entry = self.counts.entry(key).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }
}

impl SignInThrottle {
    fn tables(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `email` may try to sign in from `address` now.
    pub fn check(&self, email: &str, address: IpAddr) -> Result<(), Throttled> {
        self.check_at(email, address, Instant::now())
    }

    fn check_at(&self, email: &str, address: IpAddr, now: Instant) -> Result<(), Throttled> {
        let tables = self.tables();
        if tables.by_address.failures(&address, now) >= FAILURES_PER_ADDRESS {
            return Err(Throttled { quota: "login_failures_per_address", limit: FAILURES_PER_ADDRESS });
        }
        if tables.by_email_and_address.failures(&(email.to_owned(), address), now) >= FAILURES_PER_EMAIL_AND_ADDRESS {
            return Err(Throttled { quota: "login_failures", limit: FAILURES_PER_EMAIL_AND_ADDRESS });
        }
        Ok(())
    }

    /// Counts a failed sign-in (a wrong password or an unknown email).
    pub fn failed(&self, email: &str, address: IpAddr) {
        self.failed_at(email, address, Instant::now());
    }

    fn failed_at(&self, email: &str, address: IpAddr, now: Instant) {
        let mut tables = self.tables();
        tables.by_email_and_address.record((email.to_owned(), address), now);
        tables.by_address.record(address, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn strangers_failing_do_not_lock_the_owner_out() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        for _ in 0..100 {
            throttle.failed_at("owner@acme.test", ip("127.0.0.2"), now);
        }
        assert!(throttle.check_at("owner@acme.test", ip("127.0.0.2"), now).is_err());
        assert_eq!(throttle.check_at("owner@acme.test", ip("127.0.0.1"), now), Ok(()));
    }

    #[test]
    fn one_address_is_limited_per_email_and_over_all_emails() {
        let throttle = SignInThrottle::default();
        let now = Instant::now();
        let a = ip("203.0.113.7");
        for _ in 0..FAILURES_PER_EMAIL_AND_ADDRESS {
            assert_eq!(throttle.check_at("x@acme.test", a, now), Ok(()));
            throttle.failed_at("x@acme.test", a, now);
        }
        let refused = throttle.check_at("x@acme.test", a, now).unwrap_err();
        assert_eq!(refused.quota, "login_failures");
        // Another email from there is fine until the address's budget is spent.
        for i in 0..(FAILURES_PER_ADDRESS - FAILURES_PER_EMAIL_AND_ADDRESS) {
            throttle.failed_at(&format!("u{i}@acme.test"), a, now);
        }
        assert_eq!(throttle.check_at("y@acme.test", a, now).unwrap_err().quota, "login_failures_per_address");
        // The window passes.
        assert_eq!(throttle.check_at("x@acme.test", a, now + WINDOW), Ok(()));
    }

    #[test]
    fn a_full_table_forgets_its_oldest_window_first() {
        let mut window = Window::new(3);
        let start = Instant::now();
        for (i, key) in ["a", "b", "c", "d"].into_iter().enumerate() {
            window.record(key, start + Duration::from_secs(i as u64));
        }
        assert_eq!(window.counts.len(), 3);
        let later = start + Duration::from_secs(5);
        assert_eq!(window.failures(&"a", later), 0, "the oldest was forgotten");
        assert_eq!(window.failures(&"d", later), 1);
        // Expired windows go before live ones.
        window.record("e", start + WINDOW + Duration::from_secs(2));
        assert_eq!(window.counts.len(), 2, "b and c expired: {:?}", window.counts.keys().collect::<Vec<_>>());
    }
}
