//! Keys that other parties publish and this server trusts: an OAuth issuer's
//! JWKS (found by OpenID discovery or named), a secret-scanning partner's
//! public keys, and next the federation issuers'. Fetched once, here, for all
//! of them:
//!
//! - nothing is fetched before the first credential needs it (the server
//!   starts while a publisher is down);
//! - a document is read whole, but never more than [`MAX_DOCUMENT_BYTES`];
//! - a credential naming a key the cache does not hold triggers a fetch, at
//!   most once per refetch interval, and one fetch serves every waiting
//!   request, so garbage credentials cannot make the server hammer the
//!   publisher;
//! - a set older than its maximum age is refreshed in the background while
//!   the known keys go on serving (a failure is logged, and the last good
//!   keys stay in use).
//!
//! A publisher's URL must be https (plain http only on a loopback address,
//! for tests and development): keys fetched in clear text could be replaced
//! on the way.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use slog::{Logger, warn};

use crate::clock::Clock;

/// Largest published document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 20;

/// A boxed error kept as the source of another, for the logs.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Published keys cannot be had: `what` says what failed, `source` (for the
/// log) why, when another error is the cause.
#[derive(Debug, thiserror::Error)]
#[error("the published keys cannot be fetched: {what}")]
pub struct KeysUnavailable {
    pub what: String,
    #[source]
    pub source: Option<BoxError>,
}

impl KeysUnavailable {
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            source: None,
        }
    }

    pub fn caused(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self {
            what: what.into(),
            source: Some(source.into()),
        }
    }
}

/// A URL that is not https (nor plain http on loopback).
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} must be an https URL (plain http only on a loopback address), not {url:?}: keys \
     fetched in clear text could be replaced on the way"
)]
pub struct InsecureUrl {
    pub what: &'static str,
    pub url: String,
}

/// `url` is https, or http on a loopback address (127.0.0.0/8, ::1,
/// localhost).
pub fn require_https(url: &str, what: &'static str) -> Result<(), InsecureUrl> {
    let insecure = || InsecureUrl {
        what,
        url: crate::redact::fetched_url(url),
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| insecure())?;
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = match parsed.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                None => false,
            };
            if loopback { Ok(()) } else { Err(insecure()) }
        }
        _ => Err(insecure()),
    }
}

/// GETs `url` with `http` and returns its body, refusing a non-2xx answer
/// and any body over [`MAX_DOCUMENT_BYTES`].
pub async fn read_document(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, KeysUnavailable> {
    // The URL may carry a credential: the messages show it redacted, and the
    // HTTP error's own copy of it is dropped.
    let shown = crate::redact::fetched_url(url);
    let failed = |source: reqwest::Error| {
        KeysUnavailable::caused(format!("GET {shown}"), source.without_url())
    };
    let mut response = http
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(failed)?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(KeysUnavailable::new(format!(
                "GET {shown}: the document is larger than {MAX_DOCUMENT_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Where one publisher's keys come from, and how its document reads.
pub trait KeySource: Send + Sync + 'static {
    type Key: Send + Sync + 'static;

    /// Fetches the publisher's whole current key set. Called by one task at a
    /// time.
    fn fetch<'a>(
        &'a self,
        http: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<Vec<Self::Key>, KeysUnavailable>>;
}

/// How a publisher's keys are cached and fetched again.
#[derive(Debug, Clone, Copy)]
pub struct RefreshPolicy {
    /// Least time between two fetches (an unknown key triggers one).
    pub refetch_interval: TimeDelta,
    /// Keys older than this are refreshed in the background on next use (so
    /// that keys the publisher withdrew stop being trusted); none: only an
    /// unknown key triggers a fetch.
    pub max_age: Option<TimeDelta>,
    /// Bound on one fetch.
    pub fetch_timeout: Duration,
}

struct Snapshot<K> {
    keys: Vec<Arc<K>>,
    fetched_at: DateTime<Utc>,
}

/// One publisher's keys, fetched on demand (see the module documentation).
pub struct PublishedKeys<S: KeySource> {
    source: S,
    policy: RefreshPolicy,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    log: Logger,
    current: RwLock<Option<Arc<Snapshot<S::Key>>>>,
    /// Held while fetching, so that one fetch serves every waiting request.
    fetching: tokio::sync::Mutex<()>,
    last_attempt: Mutex<Option<DateTime<Utc>>>,
}

// Key sets are replaced whole under these locks, and a panic elsewhere cannot
// leave one half-written: a poisoned lock's value is still good.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

impl<S: KeySource> PublishedKeys<S> {
    pub fn new(source: S, policy: RefreshPolicy, clock: Arc<dyn Clock>, log: Logger) -> Self {
        let http = reqwest::Client::builder()
            .timeout(policy.fetch_timeout)
            // A redirect could send the fetch to any host or scheme (and a
            // key set from there would be believed): none is followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hbx-sa/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with no custom TLS settings builds");
        Self {
            source,
            policy,
            http,
            clock,
            log,
            current: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
            last_attempt: Mutex::new(None),
        }
    }

    pub fn source(&self) -> &S {
        &self.source
    }

    /// The keys for which `wanted` holds. Empty: no such key, even after a
    /// refetch (or a refetch is not allowed yet). An error: the keys cannot
    /// be had now, so the credential cannot be checked either way.
    pub async fn find(
        self: &Arc<Self>,
        wanted: impl Fn(&S::Key) -> bool,
    ) -> Result<Vec<Arc<S::Key>>, KeysUnavailable> {
        let snapshot = read(&self.current).clone();
        if let Some(snapshot) = &snapshot {
            let found = matching(snapshot, &wanted);
            if !found.is_empty() {
                self.refresh_if_old(snapshot);
                return Ok(found);
            }
        }
        // No keys yet, or an unknown key: fetch now (rate limited), in a task
        // of its own, so that a request given up on (its client gone) cannot
        // cut the fetch off after it was counted as this interval's attempt.
        let keys = self.clone();
        let seen = snapshot.as_ref().map(|s| s.fetched_at);
        let refreshed = tokio::spawn(async move { keys.refresh(seen).await })
            .await
            .unwrap_or_else(|failed| {
                Err(KeysUnavailable::caused(
                    "the task fetching the keys did not finish",
                    failed,
                ))
            })?;
        match refreshed {
            Some(refreshed) => Ok(matching(&refreshed, &wanted)),
            // Refreshing is not allowed yet: answer from what we have.
            None => match &snapshot {
                Some(snapshot) => Ok(matching(snapshot, &wanted)),
                None => Err(KeysUnavailable::new(
                    "no keys yet, and the last attempt to fetch them failed moments ago",
                )),
            },
        }
    }

    /// A set older than the maximum age is refreshed in the background: the
    /// request that noticed does not wait for the publisher.
    fn refresh_if_old(self: &Arc<Self>, snapshot: &Snapshot<S::Key>) {
        let Some(max_age) = self.policy.max_age else {
            return;
        };
        if self.clock.now() - snapshot.fetched_at < max_age || !self.may_attempt() {
            return;
        }
        let keys = self.clone();
        let seen = snapshot.fetched_at;
        tokio::spawn(async move {
            if let Err(error) = keys.refresh(Some(seen)).await {
                warn!(keys.log, "cannot refresh published keys; the last good ones stay in use";
                    "error" => crate::report::chain(&error));
            }
        });
    }

    /// Whether the refetch interval has passed since the last attempt.
    fn may_attempt(&self) -> bool {
        self.last_attempt
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none_or(|last| self.clock.now() - last >= self.policy.refetch_interval)
    }

    /// Fetches the keys unless another caller did since `seen`, or the last
    /// attempt was less than the refetch interval ago (then `Ok(None)`).
    async fn refresh(
        &self,
        seen: Option<DateTime<Utc>>,
    ) -> Result<Option<Arc<Snapshot<S::Key>>>, KeysUnavailable> {
        let _fetching = self.fetching.lock().await;
        // Someone refreshed while we waited for the lock: use theirs.
        if let Some(current) = read(&self.current).clone()
            && Some(current.fetched_at) != seen
        {
            return Ok(Some(current));
        }
        if !self.may_attempt() {
            return Ok(None);
        }
        let now = self.clock.now();
        *self
            .last_attempt
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(now);
        let keys = self.source.fetch(&self.http).await?;
        let snapshot = Arc::new(Snapshot {
            keys: keys.into_iter().map(Arc::new).collect(),
            fetched_at: now,
        });
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        Ok(Some(snapshot))
    }
}

fn matching<K>(snapshot: &Snapshot<K>, wanted: &impl Fn(&K) -> bool) -> Vec<Arc<K>> {
    snapshot
        .keys
        .iter()
        .filter(|key| wanted(key))
        .cloned()
        .collect()
}
