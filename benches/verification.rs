//! Micro-benchmarks of the verification hot path (`cargo bench`): minting a
//! token, refusing malformed and bad-checksum tokens (no storage), verifying a
//! valid token (parse, MAC, constant-time compare) without storage, a full
//! authentication on a warm credential cache over a real SQLite store, and
//! the store's refusal while the database is known to be down.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use hbx_service_accounts::auth::cache::{self, CredentialCache};
use hbx_service_accounts::auth::{Authenticator, ServiceAccountAuthenticator};
use hbx_service_accounts::clock::ManualClock;
use hbx_service_accounts::service::TokenMinter;
use hbx_service_accounts::service::admin::Admin;
use hbx_service_accounts::service::authorizations::Authorizations;
use hbx_service_accounts::service::role_assignments::RoleAssignments;
use hbx_service_accounts::store::{SqliteStore, Store};
use hbx_service_accounts::token::keyring::TokenKeyring;
use hbx_service_accounts::token::{self, TokenPrefix};

fn tokens(c: &mut Criterion) {
    let prefix = TokenPrefix::default();
    let keyring = TokenKeyring::single(1, [7; 32]);
    let valid = token::generate(&prefix).plaintext.into_exposed();
    let mac = keyring.mac(&valid);
    let mut bad_checksum = valid.clone();
    let last = bad_checksum.pop().unwrap();
    bad_checksum.push(if last == 'A' { 'B' } else { 'A' });

    c.bench_function("generate a token", |b| {
        b.iter(|| token::generate(std::hint::black_box(&prefix)));
    });
    c.bench_function("refuse a malformed token", |b| {
        b.iter(|| token::parse(&prefix, std::hint::black_box("hbxsa_not-a-token")).is_err());
    });
    c.bench_function("refuse a bad-checksum token", |b| {
        b.iter(|| token::parse(&prefix, std::hint::black_box(&bad_checksum)).is_err());
    });
    c.bench_function("verify a valid token without storage", |b| {
        b.iter(|| {
            let parsed = token::parse(&prefix, std::hint::black_box(&valid)).unwrap();
            keyring.verify(parsed.as_str(), &mac)
        });
    });
}

fn cache_hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (authenticator, token) = runtime.block_on(async {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("bench.sqlite3"), Duration::from_secs(5))
                .await
                .unwrap(),
        );
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let keyring = Arc::new(TokenKeyring::single(1, [7; 32]));
        let minter = TokenMinter {
            prefix: TokenPrefix::default(),
            keyring: keyring.clone(),
        };
        let roles = Arc::new(hbx_service_accounts::domain::RoleTable::default_table());
        let made = Admin::new(
            store.clone(),
            Arc::new(Authorizations::new(store.clone(), clock.clone())),
            Arc::new(RoleAssignments::new(store.clone(), roles, clock.clone())),
            store.clone(),
            store.clone(),
            clock.clone(),
        )
        .bootstrap(&minter, "bench".into(), "owner".into())
        .await
        .unwrap();
        let cache = CredentialCache::new(
            store.clone(),
            store.changes(),
            Duration::from_secs(3600),
            cache::DEFAULT_CAPACITY,
        );
        // The scheme as the server asks it, behind the authenticator.
        let authenticator = Authenticator::new(vec![Arc::new(ServiceAccountAuthenticator::new(
            cache,
            keyring,
            TokenPrefix::default(),
            clock,
            None,
        ))]);
        let token = made.owner.token.into_exposed();
        authenticator.verify(&token).await.result.unwrap();
        (authenticator, token)
    });
    c.bench_function(
        "authenticate on a warm cache (parse, lookup, MAC, checks)",
        |b| {
            b.to_async(&runtime)
                .iter(|| async { authenticator.verify(&token).await.result.unwrap() });
        },
    );
}

/// The fast 503: once the store has found the database unreachable, an
/// operation is refused by its circuit breaker without trying the database.
/// (Here the pools are closed, which the store reads as unreachable, and the
/// probe, finding them closed, never closes the breaker again.)
fn known_down(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = runtime.block_on(async {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("down.sqlite3"), Duration::from_secs(5))
                .await
                .unwrap(),
        );
        store.close().await;
        // The first failure trips the breaker.
        assert!(store.get_account(uuid::Uuid::nil()).await.is_err());
        assert!(store.stats().down, "the breaker is open");
        store
    });
    c.bench_function(
        "refuse a read while the database is known to be down",
        |b| {
            b.to_async(&runtime).iter(|| async {
                assert!(store.get_account(uuid::Uuid::nil()).await.is_err());
            });
        },
    );
}

criterion_group!(benches, tokens, cache_hit, known_down);
criterion_main!(benches);
