//! Recording `last_used_at` without touching the request path.
//!
//! A successful authentication only notes the use in memory (a map insert under
//! a short lock: it cannot fail and does not wait for I/O). A background task
//! writes the noted uses in one transaction shortly after ([`FLUSH_DELAY`]), so
//! a use lands well within a second, whether or not the client is still
//! connected. Writes are throttled to one per token per interval (default 60 s):
//! a use is skipped when the token's stored `last_used_at`, or the last use this
//! process noted, is younger than the interval, and the store re-checks the
//! stored value, so instances sharing a database throttle together.
//!
//! Granularity: `last_used_at` is the first use after a quiet interval, so it
//! may lag the latest use by up to the interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use slog::{Logger, warn};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::clock::Clock;
use crate::domain::{TokenFacts, TokenGeneration};
use crate::store::{LastUse, LastUseLog, StoreError};

/// How long noted uses gather before they are written together, when not
/// told otherwise.
pub const FLUSH_DELAY: Duration = Duration::from_millis(200);
/// How long to wait before writing again after the store failed.
const RETRY_DELAY: Duration = Duration::from_secs(1);
/// The throttle interval when not told otherwise.
pub const DEFAULT_INTERVAL: TimeDelta = TimeDelta::seconds(60);

pub struct LastUseRecorder {
    store: Arc<dyn LastUseLog>,
    clock: Arc<dyn Clock>,
    interval: TimeDelta,
    flush_delay: Duration,
    state: Mutex<State>,
    /// Held by a flush from taking the pending uses until their write ends, so
    /// that a flush which finds nothing pending still waits for a write in
    /// progress: when [`LastUseRecorder::flush`] returns, every use noted
    /// before it was called is stored (or is pending again, after an error).
    writing: tokio::sync::Mutex<()>,
    wake: Notify,
}

#[derive(Default)]
struct State {
    /// Uses waiting to be written, by service account and token.
    pending: HashMap<(Uuid, TokenGeneration), LastUse>,
    /// When this process last noted a use of each token (by public id); pruned
    /// of entries older than the interval at every flush.
    noted: HashMap<String, DateTime<Utc>>,
    closed: bool,
}

impl LastUseRecorder {
    /// A recorder, with its background writer running on the current Tokio
    /// runtime until [`LastUseRecorder::close`].
    pub fn start(
        store: Arc<dyn LastUseLog>,
        clock: Arc<dyn Clock>,
        interval: TimeDelta,
        flush_delay: Duration,
        log: Logger,
    ) -> Arc<Self> {
        let recorder = Arc::new(Self {
            store,
            clock,
            interval,
            flush_delay,
            state: Mutex::new(State::default()),
            writing: tokio::sync::Mutex::new(()),
            wake: Notify::new(),
        });
        tokio::spawn(recorder.clone().write_in_background(log));
        recorder
    }

    /// Notes a successful authentication of service account
    /// `service_account_id` with its `generation` token, which `token`
    /// describes and whose stored last use is `last_used_at`.
    pub fn note(
        &self,
        service_account_id: Uuid,
        generation: TokenGeneration,
        token: &TokenFacts,
        last_used_at: Option<DateTime<Utc>>,
    ) {
        let now = self.clock.now();
        let quiet = |since: DateTime<Utc>| now - since >= self.interval;
        if !last_used_at.is_none_or(quiet) {
            return;
        }
        let public_id = &token.public_id;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.closed || !state.noted.get(public_id).copied().is_none_or(quiet) {
            return;
        }
        state.noted.insert(public_id.clone(), now);
        state.pending.insert(
            (service_account_id, generation),
            LastUse {
                service_account_id,
                public_id: public_id.clone(),
                generation,
                at: now,
                unless_recorded_after: now - self.interval,
            },
        );
        drop(state);
        self.wake.notify_one();
    }

    /// Writes every noted use now, after any write already in progress. On
    /// failure the uses stay noted, to be written by a later flush.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let _writing = self.writing.lock().await;
        let batch: Vec<LastUse> = {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            let now = self.clock.now();
            let interval = self.interval;
            state.noted.retain(|_, at| now - *at < interval);
            state
                .pending
                .drain()
                .map(|(_, last_use)| last_use)
                .collect()
        };
        if batch.is_empty() {
            return Ok(());
        }
        if let Err(error) = self.store.record_last_use(&batch).await {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            for last_use in batch {
                // A use noted meanwhile is newer: keep it.
                state
                    .pending
                    .entry((last_use.service_account_id, last_use.generation))
                    .or_insert(last_use);
            }
            return Err(error);
        }
        Ok(())
    }

    /// Stops noting uses and writes what is pending. For shutdown.
    pub async fn close(&self) -> Result<(), StoreError> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.wake.notify_one();
        self.flush().await
    }

    async fn write_in_background(self: Arc<Self>, log: Logger) {
        loop {
            self.wake.notified().await;
            if self
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .closed
            {
                return;
            }
            tokio::time::sleep(self.flush_delay).await;
            if let Err(error) = self.flush().await {
                warn!(log, "cannot record last use yet; will retry"; "error" => %error);
                tokio::time::sleep(RETRY_DELAY).await;
                self.wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A log whose writes wait until the test lets them finish, so that a
    /// write can be caught in progress. (Storage itself is tested against
    /// real databases in the suite; this is about the recorder's ordering.)
    #[derive(Default)]
    struct HeldLog {
        started: Notify,
        release: Notify,
        written: AtomicUsize,
    }

    #[async_trait]
    impl LastUseLog for HeldLog {
        async fn record_last_use(&self, uses: &[LastUse]) -> Result<(), StoreError> {
            self.started.notify_one();
            self.release.notified().await;
            self.written.fetch_add(uses.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_flush_waits_for_the_background_write_in_progress() {
        let log = Arc::new(HeldLog::default());
        let recorder = LastUseRecorder::start(
            log.clone(),
            Arc::new(SystemClock),
            DEFAULT_INTERVAL,
            Duration::ZERO,
            Logger::root(slog::Discard, slog::o!()),
        );
        let token = TokenFacts {
            prefix: "hbxsa".to_owned(),
            public_id: "0123456789ab".to_owned(),
            last4: "abcd".to_owned(),
            issued_at: Utc::now(),
        };
        recorder.note(Uuid::new_v4(), TokenGeneration::Current, &token, None);
        // The background writer has taken the use and is writing it.
        log.started.notified().await;

        let flushed = async {
            recorder.flush().await.expect("flush");
            log.written.load(Ordering::SeqCst)
        };
        let release = async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            log.release.notify_one();
        };
        let (written_when_flush_returned, ()) = tokio::join!(flushed, release);
        assert_eq!(
            written_when_flush_returned, 1,
            "flush returned before the use noted earlier was written"
        );
    }
}
