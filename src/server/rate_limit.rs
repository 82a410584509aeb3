//! A token bucket per client address, for endpoints anyone may call (the
//! public revocation endpoint): bounded in memory, an address not seen for a
//! whole period is forgotten (its bucket would be full again).

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::config::Rate;

/// Most client addresses remembered at once.
const LIMITER_CAPACITY: u64 = 100_000;

/// A token bucket per client address: `rate.requests` at once, refilled at
/// `rate.requests` per `rate.per`. Bounded in memory; an address not seen
/// for a whole period is forgotten (its bucket would be full again).
pub struct RateLimiter {
    rate: Rate,
    buckets: moka::sync::Cache<IpAddr, Arc<Mutex<Bucket>>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            buckets: moka::sync::Cache::builder()
                .max_capacity(LIMITER_CAPACITY)
                .time_to_idle(rate.per)
                .build(),
        }
    }

    /// Takes one request's worth for `client`, or says how long until there
    /// is one.
    pub fn admit(&self, client: IpAddr) -> Result<(), Duration> {
        let capacity = f64::from(self.rate.requests);
        let per_token = self.rate.per.as_secs_f64() / capacity;
        let bucket = self.buckets.get_with(client, || {
            Arc::new(Mutex::new(Bucket {
                tokens: capacity,
                at: Instant::now(),
            }))
        });
        let mut bucket = bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let refilled = now.duration_since(bucket.at).as_secs_f64() / per_token;
        bucket.tokens = (bucket.tokens + refilled).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - bucket.tokens) * per_token).ceil(),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_admits_a_burst_then_one_per_interval() {
        let limiter = RateLimiter::new(Rate {
            requests: 3,
            per: Duration::from_secs(60),
        });
        let (a, b) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.admit(a).is_ok());
        }
        let wait = limiter.admit(a).unwrap_err();
        assert!(wait <= Duration::from_secs(20) && wait >= Duration::from_secs(19));
        assert!(limiter.admit(b).is_ok(), "per address");
    }
}
