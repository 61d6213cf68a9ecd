//! Delay before the next attempt of a failed node.

use std::time::Duration;

use rand::Rng;

use crate::workflow::{Backoff, RetryPolicy};

/// Delay after attempt `failed_attempt` (1-based) failed. Exponential
/// doubles from `initial_ms`; both are capped at `max_ms`; jitter picks
/// uniformly between half and all of the delay.
pub fn delay(policy: &RetryPolicy, failed_attempt: u32, rng: &mut impl Rng) -> Duration {
    let base = match policy.backoff {
        Backoff::Fixed => policy.initial_ms,
        Backoff::Exponential => {
            let shift = failed_attempt.saturating_sub(1).min(32);
            policy.initial_ms.saturating_mul(1u64 << shift)
        }
    }
    .min(policy.max_ms);
    let millis = if policy.jitter && base > 1 { rng.random_range(base / 2..=base) } else { base };
    Duration::from_millis(millis)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn policy(backoff: Backoff, jitter: bool) -> RetryPolicy {
        RetryPolicy { max_attempts: 10, backoff, initial_ms: 100, max_ms: 1000, jitter }
    }

    #[test]
    fn exponential_doubles_up_to_the_cap() {
        let mut rng = StdRng::seed_from_u64(1);
        let p = policy(Backoff::Exponential, false);
        let delays: Vec<u64> = (1..=6).map(|a| delay(&p, a, &mut rng).as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn fixed_stays_and_jitter_stays_within_half_to_full() {
        let mut rng = StdRng::seed_from_u64(7);
        assert_eq!(delay(&policy(Backoff::Fixed, false), 5, &mut rng), Duration::from_millis(100));
        let p = policy(Backoff::Exponential, true);
        for _ in 0..200 {
            let d = delay(&p, 3, &mut rng).as_millis();
            assert!((200..=400).contains(&d), "{d}");
        }
    }
}
