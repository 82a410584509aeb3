//! A token bucket per client (an address, or another key), for endpoints
//! anyone may call (public revocation, the federation exchange), on the injected clock. A request takes one unit to
//! be let in, and is then charged for the rest of its work (one unit per
//! token it carries), so that the limit counts tokens, not requests.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::Clock;
use crate::config::Rate;

/// Most clients remembered at once.
const LIMITER_CAPACITY: u64 = 100_000;

/// A token bucket per client: `rate.requests` units at once, refilled at
/// `rate.requests` per `rate.per`. Kept as the generic cell rate algorithm
/// does, as one instant per client (when its bucket would be full again, less
/// the burst), in whole microseconds: exact, with no rounding drift. A client
/// is let in while it has a unit; what a request is charged beyond that may
/// take the bucket into debt (up to `max_charge` units at once), which the
/// client then waits out. Bounded in memory; a client not seen for longer
/// than its deepest debt takes to refill is forgotten (its bucket would be
/// full again).
pub struct RateLimiter<K = IpAddr> {
    rate: Rate,
    clock: Arc<dyn Clock>,
    buckets: moka::sync::Cache<K, Arc<Mutex<Bucket>>>,
}

/// One client's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// When the bucket is (in theory) next full.
    full_at: DateTime<Utc>,
    /// The clock when the bucket was last used: a clock that reads earlier
    /// than this went back, and the client starts afresh.
    seen_at: DateTime<Utc>,
}

impl<K: Hash + Eq + Send + Sync + Copy + 'static> RateLimiter<K> {
    /// A limiter refilling by `clock`'s time; one request may be charged at
    /// most `max_charge` units.
    pub fn new(rate: Rate, max_charge: u32, clock: Arc<dyn Clock>) -> Self {
        let deepest = rate
            .per
            .saturating_mul(max_charge.saturating_add(rate.requests.max(1)))
            / rate.requests.max(1);
        Self {
            rate,
            clock,
            buckets: moka::sync::Cache::builder()
                .max_capacity(LIMITER_CAPACITY)
                .time_to_idle(deepest)
                .build(),
        }
    }

    /// One unit's worth of time, and how far ahead a burst may run.
    fn interval_and_burst(&self) -> (TimeDelta, TimeDelta) {
        let requests = i32::try_from(self.rate.requests.max(1)).unwrap_or(i32::MAX);
        let per = TimeDelta::from_std(self.rate.per).unwrap_or(TimeDelta::MAX);
        let interval = per / requests;
        (interval, interval * (requests - 1))
    }

    /// `client`'s bucket, read at `now` (afresh if the clock went back).
    fn bucket(&self, client: K, now: DateTime<Utc>) -> Arc<Mutex<Bucket>> {
        self.buckets.get_with(client, || {
            Arc::new(Mutex::new(Bucket {
                full_at: now,
                seen_at: now,
            }))
        })
    }

    /// Takes one unit for `client`, or says how long (in whole seconds,
    /// rounded up) until there is one.
    pub fn admit(&self, client: K) -> Result<(), Duration> {
        let now = self.clock.now();
        let (interval, burst) = self.interval_and_burst();
        let bucket = self.bucket(client, now);
        let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        if now < bucket.seen_at {
            bucket.full_at = now;
        }
        bucket.seen_at = now;
        let from = bucket.full_at.max(now);
        let allowed_at = from - burst;
        if now >= allowed_at {
            bucket.full_at = from + interval;
            Ok(())
        } else {
            let wait = u64::try_from((allowed_at - now).num_microseconds().unwrap_or(i64::MAX))
                .unwrap_or(u64::MAX);
            Err(Duration::from_secs(wait.div_ceil(1_000_000)))
        }
    }

    /// Charges `client` `units` more for a request it was let in for: never
    /// refused (the request is under way), but the client waits for them
    /// before its next one.
    pub fn charge(&self, client: K, units: u32) {
        if units == 0 {
            return;
        }
        let now = self.clock.now();
        let (interval, _) = self.interval_and_burst();
        let bucket = self.bucket(client, now);
        let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let units = i32::try_from(units).unwrap_or(i32::MAX);
        bucket.full_at = bucket.full_at.max(now) + interval * units;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::clock::ManualClock;

    #[test]
    fn the_limiter_admits_a_burst_then_one_per_interval() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let limiter: RateLimiter = RateLimiter::new(
            Rate {
                requests: 3,
                per: Duration::from_secs(60),
            },
            1000,
            clock.clone(),
        );
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.admit(a).is_ok());
        }
        // One token comes back every 20 s: the answer says when.
        let wait = limiter.admit(a).unwrap_err();
        assert_eq!(wait, Duration::from_secs(20));
        assert!(limiter.admit(b).is_ok(), "per address");
        // Just before the interval: still refused, and a little less to wait.
        clock.advance(TimeDelta::seconds(19));
        assert_eq!(limiter.admit(a).unwrap_err(), Duration::from_secs(1));
        // At the interval: one request again, and only one.
        clock.advance(TimeDelta::seconds(1));
        assert!(limiter.admit(a).is_ok());
        assert!(limiter.admit(a).is_err());
        // A whole period refills the burst, no more.
        clock.advance(TimeDelta::seconds(600));
        for _ in 0..3 {
            assert!(limiter.admit(a).is_ok());
        }
        assert!(limiter.admit(a).is_err());
    }

    /// The second review: one request of 1,000 tokens counted as one. Now a
    /// request is let in on one unit and charged the rest, which the client
    /// then waits out.
    #[test]
    fn the_limiter_counts_tokens_not_requests() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let limiter: RateLimiter = RateLimiter::new(
            Rate {
                requests: 10,
                per: Duration::from_secs(60),
            },
            1000,
            clock.clone(),
        );
        let client = "192.0.2.1".parse().unwrap();
        assert!(limiter.admit(client).is_ok());
        limiter.charge(client, 999);
        // 1,000 units at 10 a minute: 100 minutes, less the burst of 9
        // still owed to it.
        let wait = limiter.admit(client).unwrap_err();
        assert_eq!(wait, Duration::from_secs(6 * 1000 - 9 * 6));
        clock.advance(TimeDelta::seconds(6 * 1000 - 9 * 6 - 1));
        assert!(limiter.admit(client).is_err());
        clock.advance(TimeDelta::seconds(1));
        assert!(limiter.admit(client).is_ok());
        // Charging nothing changes nothing; another client is apart.
        limiter.charge(client, 0);
        assert!(limiter.admit("192.0.2.2".parse().unwrap()).is_ok());
    }

    #[test]
    fn a_clock_that_goes_back_starts_the_client_afresh() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let limiter: RateLimiter = RateLimiter::new(
            Rate {
                requests: 1,
                per: Duration::from_secs(60),
            },
            1000,
            clock.clone(),
        );
        let client = "192.0.2.1".parse().unwrap();
        assert!(limiter.admit(client).is_ok());
        limiter.charge(client, 100);
        assert!(limiter.admit(client).is_err());
        clock.advance(TimeDelta::seconds(-1));
        assert!(limiter.admit(client).is_ok());
    }
}
