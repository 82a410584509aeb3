//! The store's circuit breaker: every operation is bounded by the store's
//! timeout, and once the database is found unreachable every operation fails
//! at once (a fast 503 instead of a request held for the whole timeout) while
//! a probe looks for it in the background and closes the breaker when it
//! answers again. It also counts failures, for metrics.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::error::{BoxError, StoreError};

/// How often a probe looks for a database known to be down.
const PROBE_INTERVAL: Duration = Duration::from_millis(250);
/// Longest a probe waits for the database.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// The database could not be reached (as opposed to being busy): what trips
/// the breaker until a probe finds it back.
#[derive(Debug, thiserror::Error)]
#[error("the database cannot be reached")]
pub struct Unreachable(#[source] pub BoxError);

/// Known to be unreachable: refused without trying.
#[derive(Debug, thiserror::Error)]
#[error("the database is known to be unreachable; a probe is checking for it in the background")]
pub struct KnownDown;

/// The store's own bound on an operation ran out.
#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within {} ms", .0.as_millis())]
pub struct TimedOut(pub Duration);

/// What the store knows of the database's health, and counts of failures.
#[derive(Debug, Default)]
pub struct Breaker {
    /// Known to be unreachable: every operation fails at once.
    down: AtomicBool,
    unavailable_errors: AtomicU64,
    internal_errors: AtomicU64,
}

/// The breaker's counts, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerCounts {
    pub unavailable_errors: u64,
    pub internal_errors: u64,
    pub down: bool,
}

/// How a probe asks whether the database answers: a fresh connection and a
/// trivial statement; `None` once the store is closed (the probe stops).
pub type Probe =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, Option<bool>> + Send + Sync + 'static>;

impl Breaker {
    /// Runs `operation`, failing it as unavailable if it takes longer than
    /// `timeout` (as unreachable if `timeout_means_unreachable`), or at once
    /// while the database is known to be unreachable. A failure to reach the
    /// database opens the breaker and starts `probe` in the background.
    pub async fn run<T>(
        self: &Arc<Self>,
        timeout: Duration,
        timeout_means_unreachable: bool,
        probe: impl FnOnce() -> Probe,
        operation: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.down.load(Ordering::SeqCst) {
            self.unavailable_errors.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Unavailable(Box::new(KnownDown)));
        }
        let result = tokio::time::timeout(timeout, operation)
            .await
            .unwrap_or_else(|_| {
                let timed_out = Box::new(TimedOut(timeout));
                Err(StoreError::Unavailable(if timeout_means_unreachable {
                    Box::new(Unreachable(timed_out))
                } else {
                    timed_out
                }))
            });
        match &result {
            Err(StoreError::Unavailable(cause)) => {
                self.unavailable_errors.fetch_add(1, Ordering::Relaxed);
                if cause.is::<Unreachable>() {
                    self.open(probe());
                }
            }
            Err(StoreError::Internal(_)) => {
                self.internal_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        result
    }

    /// Opens the breaker (once) and probes for the database in the background
    /// until it answers again, or the store closes.
    fn open(self: &Arc<Self>, probe: Probe) {
        if self.down.swap(true, Ordering::SeqCst) {
            return;
        }
        let breaker = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_INTERVAL).await;
                match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                    // Closed: nobody will ask again.
                    Ok(None) => return,
                    Ok(Some(true)) => {
                        breaker.down.store(false, Ordering::SeqCst);
                        return;
                    }
                    Ok(Some(false)) | Err(_) => {}
                }
            }
        });
    }

    pub fn counts(&self) -> BreakerCounts {
        BreakerCounts {
            unavailable_errors: self.unavailable_errors.load(Ordering::Relaxed),
            internal_errors: self.internal_errors.load(Ordering::Relaxed),
            down: self.down.load(Ordering::SeqCst),
        }
    }
}
