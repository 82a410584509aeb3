//! A cache of what verifying credentials reads from the store: tokens by
//! public id (with their MAC, never a verdict: the secret is checked on every
//! request), what a subject holds (grants and roles, by subject),
//! introspection clients by id.
//! It stands in front of the store as the same narrow lookup traits.
//!
//! Exactness:
//! - a change committed through this process reaches the cache before the
//!   write returns (the store publishes it synchronously), so the very next
//!   request sees it;
//! - a change made elsewhere (another instance, a command beside the server)
//!   arrives by the store's watcher (PostgreSQL NOTIFY, SQLite's change
//!   records), usually within a fraction of a second; every entry also
//!   expires `ttl` after the read that produced it began, so even a lost
//!   notification is bounded by `ttl` (the revocation bound, 1 second by
//!   default);
//! - a read that raced an invalidation is not kept (a generation counter,
//!   checked before and after the insert), so a stale row never outlives the
//!   change that made it stale;
//! - expiry is never cached: it is compared with the clock on every request.
//!
//! Memory is bounded: each map holds at most `capacity` entries.

use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use moka::Expiry;
use moka::sync::Cache;

use crate::domain::{HoldingsByAccount, Subject};
use crate::store::changes::{ChangeHub, CredentialChange};
use crate::store::{
    ClientLookup, CredentialLookup, GrantLookup, StoreError, StoredIntrospectionClient,
    StoredServiceAccount, TokenLookup,
};

/// Entries per map when not told otherwise: a few hundred bytes each, so tens
/// of megabytes at most.
pub const DEFAULT_CAPACITY: u64 = 100_000;

/// A cached value and when the read that produced it started: the entry
/// lives `ttl` from then, not from when the read finished, so that a slow read
/// cannot stretch the bound.
#[derive(Clone)]
struct Timed<V> {
    value: V,
    read_started: Instant,
}

/// Expires each entry `ttl` after its read started.
struct FromReadStart(Duration);

impl<K, V> Expiry<K, Timed<V>> for FromReadStart {
    fn expire_after_create(
        &self,
        _key: &K,
        value: &Timed<V>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(self.0.saturating_sub(value.read_started.elapsed()))
    }

    /// A re-inserted entry (a newer read of the same key) lives `ttl` from
    /// that read's start, not from the first one's: without this, moka keeps
    /// the first expiry.
    fn expire_after_update(
        &self,
        key: &K,
        value: &Timed<V>,
        updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, value, updated_at)
    }
}

pub struct CredentialCache {
    store: Arc<dyn CredentialLookup>,
    tokens: Cache<String, Timed<Option<Arc<StoredServiceAccount>>>>,
    holdings: Cache<Subject, Timed<Arc<HoldingsByAccount>>>,
    clients: Cache<String, Timed<Option<Arc<StoredIntrospectionClient>>>>,
    /// Moves on every invalidation; a read that started before a move is not
    /// cached.
    generation: AtomicU64,
    /// Reads that went to the store (misses).
    misses: AtomicU64,
}

impl CredentialCache {
    /// A cache in front of `store`, forgetting what `changes` reports and
    /// anything older than `ttl`.
    pub fn new(
        store: Arc<dyn CredentialLookup>,
        changes: &ChangeHub,
        ttl: Duration,
        capacity: u64,
    ) -> Arc<Self> {
        fn map<K, V>(ttl: Duration, capacity: u64) -> Cache<K, Timed<V>>
        where
            K: Hash + Eq + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
        {
            Cache::builder()
                .max_capacity(capacity)
                .expire_after(FromReadStart(ttl))
                .build()
        }
        let cache = Arc::new(Self {
            store,
            tokens: map(ttl, capacity),
            holdings: map(ttl, capacity),
            clients: map(ttl, capacity),
            generation: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&cache);
        changes.subscribe(move |changes| {
            if let Some(cache) = weak.upgrade() {
                cache.forget(changes);
            }
        });
        cache
    }

    /// Forgets what `changes` makes stale.
    pub fn forget(&self, changes: &[CredentialChange]) {
        // First, so that a read in flight will not cache what it read.
        self.generation.fetch_add(1, Ordering::SeqCst);
        for change in changes {
            match change {
                CredentialChange::Token(public_id) => self.tokens.invalidate(public_id),
                CredentialChange::Grants { subject, .. } => self.holdings.invalidate(subject),
                CredentialChange::Client(client_id) => self.clients.invalidate(client_id),
                CredentialChange::Everything => {
                    self.tokens.invalidate_all();
                    self.holdings.invalidate_all();
                    self.clients.invalidate_all();
                }
            }
        }
    }

    /// How many lookups went to the store.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// The cached value of `key`, or what `read` returns, cached unless an
    /// invalidation happened while it was read.
    async fn get_or_read<K, V>(
        &self,
        map: &Cache<K, Timed<V>>,
        key: K,
        read: impl Future<Output = Result<V, StoreError>>,
    ) -> Result<V, StoreError>
    where
        K: Hash + Eq + Clone + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
    {
        if let Some(cached) = map.get(&key) {
            return Ok(cached.value);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let generation = self.generation.load(Ordering::SeqCst);
        let read_started = Instant::now();
        let value = read.await?;
        if self.generation.load(Ordering::SeqCst) != generation {
            return Ok(value);
        }
        map.insert(
            key.clone(),
            Timed {
                value: value.clone(),
                read_started,
            },
        );
        // An invalidation between the check above and the insert may have
        // run before the insert (and so removed nothing): look again, and
        // take the entry back out if one did. An invalidation that starts
        // after this second look removes the entry itself.
        if self.generation.load(Ordering::SeqCst) != generation {
            map.invalidate(&key);
        }
        Ok(value)
    }
}

#[async_trait]
impl TokenLookup for CredentialCache {
    async fn find_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<StoredServiceAccount>, StoreError> {
        let found = self
            .get_or_read(&self.tokens, public_id.to_owned(), async {
                Ok(self.store.find_by_public_id(public_id).await?.map(Arc::new))
            })
            .await?;
        Ok(found.map(|stored| (*stored).clone()))
    }
}

#[async_trait]
impl GrantLookup for CredentialCache {
    async fn holdings(&self, subject: &Subject) -> Result<Arc<HoldingsByAccount>, StoreError> {
        self.get_or_read(&self.holdings, subject.clone(), async {
            self.store.holdings(subject).await
        })
        .await
    }
}

#[async_trait]
impl ClientLookup for CredentialCache {
    async fn find_introspection_client(
        &self,
        client_id: &str,
    ) -> Result<Option<StoredIntrospectionClient>, StoreError> {
        let found = self
            .get_or_read(&self.clients, client_id.to_owned(), async {
                Ok(self
                    .store
                    .find_introspection_client(client_id)
                    .await?
                    .map(Arc::new))
            })
            .await?;
        Ok(found.map(|stored| (*stored).clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The second review: moka keeps an entry's first expiry when it is
    /// inserted again unless `expire_after_update` says otherwise. A
    /// re-inserted entry (a newer read of the same key) lives its whole
    /// lifetime again, from its own read's start.
    #[test]
    fn a_reinserted_entry_lives_its_whole_ttl_again() {
        let ttl = Duration::from_secs(60);
        let expiry = FromReadStart(ttl);
        let fresh = Timed {
            value: (),
            read_started: Instant::now(),
        };
        // The first entry had 5 s left; the new read just started.
        let left = Expiry::<u8, Timed<()>>::expire_after_update(
            &expiry,
            &0,
            &fresh,
            Instant::now(),
            Some(Duration::from_secs(5)),
        )
        .expect("an expiry");
        assert!(left > Duration::from_secs(55), "{left:?}");
        assert!(left <= ttl);
        // And a re-insert of an older read does not outlive that read.
        let older = Timed {
            value: (),
            read_started: Instant::now() - Duration::from_secs(50),
        };
        let left = Expiry::<u8, Timed<()>>::expire_after_update(
            &expiry,
            &0,
            &older,
            Instant::now(),
            Some(Duration::from_secs(59)),
        )
        .unwrap();
        assert!(left <= Duration::from_secs(10), "{left:?}");
    }
}
