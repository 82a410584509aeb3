//! A token bucket per client address, for endpoints anyone may call (the
//! public revocation endpoint), on the injected clock.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::Clock;
use crate::config::Rate;

/// Most client addresses remembered at once.
const LIMITER_CAPACITY: u64 = 100_000;

/// A token bucket per client address: `rate.requests` at once, refilled at
/// `rate.requests` per `rate.per`. Kept as the generic cell rate algorithm
/// does, as one instant per address (when its bucket would be full again,
/// less the burst), in whole microseconds: exact, with no rounding drift.
/// Bounded in memory; an address not seen for a whole period is forgotten
/// (its bucket would be full again).
pub struct RateLimiter {
    rate: Rate,
    clock: Arc<dyn Clock>,
    buckets: moka::sync::Cache<IpAddr, Arc<Mutex<DateTime<Utc>>>>,
}

impl RateLimiter {
    /// A limiter refilling by `clock`'s time.
    pub fn new(rate: Rate, clock: Arc<dyn Clock>) -> Self {
        Self {
            rate,
            clock,
            buckets: moka::sync::Cache::builder()
                .max_capacity(LIMITER_CAPACITY)
                .time_to_idle(rate.per)
                .build(),
        }
    }

    /// Takes one request's worth for `client`, or says how long (in whole
    /// seconds, rounded up) until there is one.
    pub fn admit(&self, client: IpAddr) -> Result<(), Duration> {
        let now = self.clock.now();
        let requests = i32::try_from(self.rate.requests.max(1)).unwrap_or(i32::MAX);
        let per = TimeDelta::from_std(self.rate.per).unwrap_or(TimeDelta::MAX);
        // One request's worth of time, and how far ahead a burst may run.
        let interval = per / requests;
        let burst = interval * (requests - 1);
        // When this address's bucket is (in theory) next full.
        let bucket = self.buckets.get_with(client, || Arc::new(Mutex::new(now)));
        let mut full_at = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        // A bucket is never full later than a whole period from now: if it
        // is, the clock went back, and the address starts afresh.
        if *full_at > now + per {
            *full_at = now;
        }
        let from = (*full_at).max(now);
        let allowed_at = from - burst;
        if now >= allowed_at {
            *full_at = from + interval;
            Ok(())
        } else {
            let wait = u64::try_from((allowed_at - now).num_microseconds().unwrap_or(i64::MAX))
                .unwrap_or(u64::MAX);
            Err(Duration::from_secs(wait.div_ceil(1_000_000)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::clock::ManualClock;

    #[test]
    fn the_limiter_admits_a_burst_then_one_per_interval() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let limiter = RateLimiter::new(
            Rate {
                requests: 3,
                per: Duration::from_secs(60),
            },
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
}
