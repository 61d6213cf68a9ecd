//! Per-tenant rates (requests and run starts a second), kept with the
//! generic cell rate algorithm: each key remembers one instant, the
//! theoretical arrival time of its next call. A call over the rate is
//! *scheduled*: it reserves the next free instant and waits for it, like
//! nginx's `limit_req` with a burst, so a client that sends too fast is
//! slowed to its rate instead of spinning on refusals; a call whose turn is
//! further away than its caller will wait is refused, reserving nothing.
//!
//! Reservations are what `governor` lacks (its `until_ready` re-checks after
//! a sleep, so many waiters stampede the same instant), hence this small
//! implementation.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::QuotaExceeded;

/// How many keys a table keeps: one instant each. Past it, a new key drops
/// the keys whose turn has passed (they are back to a full burst, as if
/// new), so a table holds at most this many plus the keys seen within the
/// last second and a patience.
const MAX_KEYS: usize = 100_000;

/// A call refused because its turn is too far away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooFast {
    pub quota: &'static str,
    pub per_second: u64,
    /// When the caller may try again.
    pub retry_after: Duration,
}

impl TooFast {
    pub fn exceeded(&self) -> QuotaExceeded {
        // "In use" is the rate the caller asked for: more than the limit.
        QuotaExceeded { quota: self.quota, limit: self.per_second, used: self.per_second.saturating_add(1) }
    }
}

#[derive(Clone)]
pub struct Rates<K> {
    quota: &'static str,
    next: Arc<Mutex<HashMap<K, Instant>>>,
}

impl<K: Hash + Eq + Clone> Rates<K> {
    pub fn new(quota: &'static str) -> Self {
        Rates { quota, next: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Instant>> {
        // Each entry is one instant written whole: a poisoned map is consistent.
        self.next.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Reserves `key`'s next turn at `per_second` calls a second, in bursts
    /// of up to one second's worth. `Ok` with how long the caller must wait
    /// for it (zero within the burst); `Err` when that would be longer than
    /// `patience`. A rate of 0 refuses every call; `u64::MAX` never waits.
    pub fn reserve(&self, key: &K, per_second: u64, patience: Duration) -> Result<Duration, TooFast> {
        self.reserve_at(key, per_second, patience, Instant::now())
    }

    fn reserve_at(&self, key: &K, per_second: u64, patience: Duration, now: Instant) -> Result<Duration, TooFast> {
        if per_second == u64::MAX {
            return Ok(Duration::ZERO);
        }
        let too_fast = |retry_after| TooFast { quota: self.quota, per_second, retry_after };
        if per_second == 0 {
            return Err(too_fast(Duration::from_secs(1)));
        }
        let interval = Duration::from_secs(1) / u32::try_from(per_second).unwrap_or(u32::MAX).max(1);
        // A burst is one second's worth: a turn may be reserved up to one
        // second ahead of now without waiting.
        let burst = Duration::from_secs(1).saturating_sub(interval);
        let mut next = self.lock();
        if next.len() >= MAX_KEYS && !next.contains_key(key) {
            next.retain(|_, at| *at > now);
        }
        let turn = next.get(key).copied().filter(|at| *at > now).unwrap_or(now);
        let wait = turn.saturating_duration_since(now).saturating_sub(burst);
        if wait > patience {
            return Err(too_fast(wait));
        }
        next.insert(key.clone(), turn + interval);
        Ok(wait)
    }

    /// [`Rates::reserve`], then the wait.
    pub async fn take(&self, key: &K, per_second: u64, patience: Duration) -> Result<(), TooFast> {
        let wait = self.reserve(key, per_second, patience)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_one_seconds_worth_then_calls_wait_their_turn() {
        let rates = Rates::new("requests_per_second");
        let now = Instant::now();
        let patience = Duration::from_millis(300);
        for _ in 0..10 {
            assert_eq!(rates.reserve_at(&"a", 10, patience, now), Ok(Duration::ZERO));
        }
        // The eleventh waits one interval, the next two and three intervals.
        assert_eq!(rates.reserve_at(&"a", 10, patience, now), Ok(Duration::from_millis(100)));
        assert_eq!(rates.reserve_at(&"a", 10, patience, now), Ok(Duration::from_millis(200)));
        assert_eq!(rates.reserve_at(&"a", 10, patience, now), Ok(Duration::from_millis(300)));
        // Beyond the caller's patience: refused, and nothing is reserved.
        let refused = rates.reserve_at(&"a", 10, patience, now).unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_millis(400));
        assert_eq!(refused.exceeded().to_string(), "quota `requests_per_second` exceeded: limit 10, in use 11");
        assert!(rates.reserve_at(&"a", 10, patience, now).is_err());
        // Another key has its own burst.
        assert_eq!(rates.reserve_at(&"b", 10, patience, now), Ok(Duration::ZERO));
        // Time gives the turns back: after a second and a half, the burst is whole again.
        let later = now + Duration::from_millis(1_500);
        for _ in 0..10 {
            assert_eq!(rates.reserve_at(&"a", 10, patience, later), Ok(Duration::ZERO));
        }
    }

    #[test]
    fn zero_refuses_and_unlimited_never_waits() {
        let rates = Rates::new("runs_per_second");
        let now = Instant::now();
        assert!(rates.reserve_at(&1, 0, Duration::MAX, now).is_err());
        for _ in 0..10_000 {
            assert_eq!(rates.reserve_at(&1, u64::MAX, Duration::ZERO, now), Ok(Duration::ZERO));
        }
        // Rates past a nanosecond's resolution still count turns.
        assert!(rates.reserve_at(&2, 1 << 40, Duration::ZERO, now).is_ok());
    }

    #[test]
    fn the_table_is_bounded() {
        let rates = Rates::new("requests_per_second");
        let now = Instant::now();
        for key in 0..MAX_KEYS + 10 {
            let _ = rates.reserve_at(&key, 1, Duration::ZERO, now);
        }
        // Every turn was still ahead, so none could be dropped: a table
        // holds the keys seen within about a second. Once their turns
        // pass, the next new key drops them.
        assert_eq!(rates.lock().len(), MAX_KEYS + 10);
        let later = now + Duration::from_secs(2);
        let _ = rates.reserve_at(&usize::MAX, 1, Duration::ZERO, later);
        assert!(rates.lock().len() <= 1);
    }
}
