//! A database that refuses connections fails a request at once. When the
//! database goes away, sqlx's pool takes a refused connection for a server
//! still starting and retries until the acquire timeout, so the first
//! request after an outage began waited the whole `--database-timeout-ms`.
//! Here, an acquire that has not finished within [`CHECK_AFTER`] is raced
//! against a fresh connection attempt of our own; if the database refuses
//! it, the request fails now as unavailable (and the circuit breaker takes
//! over). A check's verdict serves every acquire for [`VERDICT_KEPT`], and
//! only one check runs at a time, so a busy pool (acquires slow because
//! every connection is in use) costs at most one extra connection attempt
//! per interval.

use std::future::Future;
use std::time::{Duration, Instant};

use sqlx::{ConnectOptions, Pool};

use super::backend::Backend;
use super::error::StoreError;

/// How long an acquire may take before the database is checked for refusal:
/// well above a pool hand-out (microseconds) and a fresh connection on a
/// local network (a few milliseconds).
pub const CHECK_AFTER: Duration = Duration::from_millis(20);
/// How long a check's verdict is reused.
pub const VERDICT_KEPT: Duration = Duration::from_millis(250);

/// The last check's verdict, and when it was reached; held while checking.
#[derive(Debug, Default)]
pub struct RefusalCheck {
    last: tokio::sync::Mutex<Option<(Instant, bool)>>,
}

/// The database refused a connection.
#[derive(Debug, thiserror::Error)]
#[error("the database refuses connections")]
pub struct Refused(#[source] pub sqlx::Error);

impl RefusalCheck {
    /// Waits for `acquiring` (a connection from `pool`); if it is still
    /// waiting after [`CHECK_AFTER`] and the database refuses a fresh
    /// connection, fails at once as unavailable. Only for a database that
    /// can refuse connections (over a network).
    pub async fn acquire<D: Backend, T>(
        &self,
        pool: &Pool<D>,
        acquiring: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if !D::TIMEOUT_MEANS_UNREACHABLE {
            return acquiring.await;
        }
        let mut acquiring = std::pin::pin!(acquiring);
        tokio::select! {
            biased;
            done = &mut acquiring => return done,
            () = tokio::time::sleep(CHECK_AFTER) => {}
        }
        tokio::select! {
            biased;
            done = &mut acquiring => done,
            refused = self.refused(pool) => match refused {
                Some(cause) => Err(StoreError::Unavailable(Box::new(Refused(cause)))),
                None => acquiring.await,
            },
        }
    }

    /// Whether the database refuses a fresh connection now (with the
    /// refusal), from a recent verdict if there is one.
    async fn refused<D: Backend>(&self, pool: &Pool<D>) -> Option<sqlx::Error> {
        let mut last = self.last.lock().await;
        if let Some((at, refused)) = *last
            && at.elapsed() < VERDICT_KEPT
        {
            return refused.then(|| sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into()));
        }
        let attempt = tokio::time::timeout(VERDICT_KEPT, pool.connect_options().connect()).await;
        let refusal = match attempt {
            Ok(Err(sqlx::Error::Io(error)))
                if error.kind() == std::io::ErrorKind::ConnectionRefused =>
            {
                Some(sqlx::Error::Io(error))
            }
            // Connected, another failure (the pool reports it in its time),
            // or no answer yet (not a refusal): wait for the pool.
            _ => None,
        };
        *last = Some((Instant::now(), refusal.is_some()));
        refusal
    }
}
