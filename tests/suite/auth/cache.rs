//! The cache of verified credentials keeps every rule exact: changes made
//! through the same process apply to the very next request, changes made
//! elsewhere within the documented bound (1 second), even when no
//! notification reports them, a wrong secret is refused on a warm cache, and
//! expiry is checked against the clock on every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::TimeDelta;
use hbx_service_accounts::auth::cache::CredentialCache;
use hbx_service_accounts::client::types::IntrospectionRequest;
use hbx_service_accounts::config::DEFAULT_CREDENTIAL_CACHE_TTL;
use hbx_service_accounts::domain::{CapabilityKey, HoldingsByAccount, Subject};
use hbx_service_accounts::store::changes::{ChangeHub, CredentialChange};
use hbx_service_accounts::store::{
    ClientLookup, GrantLookup, StoreError, StoredIntrospectionClient, StoredServiceAccount,
    TokenLookup,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::common::process::{Deployment, ServeProcess, hbx_sa_beside, json_stdout};
use crate::common::stores::open_store;
use crate::common::{Backend, TestServer, secret_of, secret_start, with_checksum};

/// What the end-to-end checks allow beyond the bound: the granularity of the
/// test's own clock and timer. Nothing more is needed, because what is
/// checked is when a request was *sent*, not when its answer came: an answer
/// that still shows the old state is a broken promise only if its request
/// left after the bound (counted from when the change was acknowledged), so
/// a slow answer on a loaded machine cannot fail the check, and a stale one
/// cannot pass it. (That no cached entry outlives the bound itself is checked
/// exactly by `no_entry_outlives_its_ttl`.)
const CLOCK_MARGIN: Duration = Duration::from_millis(20);

/// Polls `check` until it holds, failing the test if it still does not for a
/// request sent after the bound (plus [`CLOCK_MARGIN`]); returns how long it
/// took.
async fn within_the_bound(what: &str, check: impl AsyncFnMut() -> bool) -> Duration {
    within(what, DEFAULT_CREDENTIAL_CACHE_TTL, check).await
}

/// Polls `check` (which sends a request and reads its answer) until it holds,
/// failing the test if it does not for a request sent after `bound` (plus
/// [`CLOCK_MARGIN`]) from now; returns how long it took.
async fn within(what: &str, bound: Duration, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    let limit = bound + CLOCK_MARGIN;
    loop {
        let sent = started.elapsed();
        if check().await {
            let took = started.elapsed();
            println!("{what}: effective after {} ms", took.as_millis());
            return took;
        }
        assert!(
            sent < limit,
            "{what}: a request sent {} ms after the change still saw the old state (bound: {} ms)",
            sent.as_millis(),
            limit.as_millis()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Status of getting the bootstrapped owner with `token`. (Pass the same
/// token's client when polling: making an HTTP client costs a tenth of a
/// second in a debug build.)
async fn status(server: &TestServer, token: &str) -> u16 {
    status_with(server, &server.client(token)).await
}

async fn status_with(server: &TestServer, client: &hbx_service_accounts::client::Client) -> u16 {
    match client
        .get_service_account(&server.account_id, &server.owner_id)
        .await
    {
        Ok(_) => 200,
        Err(error) => error.status().expect("an HTTP answer").as_u16(),
    }
}

async fn same_process_changes_apply_to_the_next_request(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let worker = server.create("worker").await;
    // Warm: the token and its (empty) capabilities are cached.
    assert_eq!(status(&server, &worker.token).await, 403);
    assert_eq!(status(&server, &worker.token).await, 403);
    // A grant by the operator in this process: the next request has it.
    server.grant_auth_manage(worker.id).await;
    assert_eq!(status(&server, &worker.token).await, 200);
    // Its removal: the next request has lost it.
    server
        .app
        .admin()
        .remove_grant(
            server.account_id,
            Subject::ServiceAccount(worker.id),
            CapabilityKey::parse("auth.manage").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(status(&server, &worker.token).await, 403);
    server.grant_auth_manage(worker.id).await;
    assert_eq!(status(&server, &worker.token).await, 200);
    // A rotation: the old token fails on the next request, the new one works.
    let rotated = server
        .owner()
        .rotate_service_account(&server.account_id, &worker.id, None, None)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status(&server, &worker.token).await, 401);
    assert_eq!(status(&server, &rotated.token).await, 200);
    // A revocation: the next request fails.
    server.revoke(worker.id).await;
    assert_eq!(status(&server, &rotated.token).await, 401);
    // An introspection client revoked by the operator is refused next time.
    let (id, secret) = server.new_introspection_client("gateway").await;
    let introspector = server.introspector(&id, &secret);
    let request = IntrospectionRequest {
        token: server.owner_token.clone(),
        token_type_hint: None,
    };
    assert!(
        introspector
            .introspect_token(&request)
            .await
            .unwrap()
            .active
    );
    server
        .app
        .admin()
        .revoke_introspection_client(&id)
        .await
        .unwrap();
    let refused = introspector.introspect_token(&request).await.unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(401));
}

async fn a_wrong_secret_is_refused_on_a_warm_cache(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let owner = server.owner_token.clone();
    assert_eq!(status(&server, &owner).await, 200, "warm");
    let other = server.create("other").await;
    let wrong = with_checksum(&format!(
        "{}{}",
        &owner[..secret_start()],
        secret_of(&other.token)
    ));
    assert_eq!(status(&server, &wrong).await, 401);
    assert_eq!(status(&server, &owner).await, 200, "the cache still serves");
}

async fn expiry_is_exact_on_a_warm_cache(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let expires_at = server.now() + TimeDelta::seconds(30);
    let expiring = server.create_expiring("expiring", expires_at).await;
    assert_eq!(status(&server, &expiring.token).await, 403, "warm");
    server.clock.set(expires_at - TimeDelta::microseconds(1));
    assert_eq!(status(&server, &expiring.token).await, 403);
    server.clock.set(expires_at);
    assert_eq!(
        status(&server, &expiring.token).await,
        401,
        "refused at the exact instant"
    );
}

/// A change no notification reports (written behind the service's back) is
/// still seen within the bound: cached entries live no longer than it.
async fn an_unreported_change_is_seen_within_the_bound(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let worker = server.create("worker").await;
    let worker_client = server.client(&worker.token);
    let warmed = Instant::now();
    assert_eq!(status_with(&server, &worker_client).await, 403, "warm");
    let revoked_at = match backend {
        Backend::Sqlite => "updated_at",
        Backend::Postgres | Backend::PgBouncer => "now()",
    };
    server
        .run_sql(
            &format!("UPDATE service_accounts SET revoked_at = {revoked_at} WHERE id = $1"),
            &[worker.id],
        )
        .await;
    println!("changed {} ms after warming", warmed.elapsed().as_millis());
    within_the_bound("an unreported revocation", async || {
        status_with(&server, &worker_client).await == 401
    })
    .await;
    println!(
        "effective {} ms after warming",
        warmed.elapsed().as_millis()
    );
}

/// `hbx-sa grants add ... --capability auth.manage` for service account
/// `id`, on the server's storage, in another process.
async fn grant_at_the_command_line(server: &TestServer, id: Uuid) {
    let mut args = vec![
        "grants".to_owned(),
        "add".into(),
        "--account".into(),
        server.account_id.to_string(),
        "--service-account".into(),
        id.to_string(),
        "--capability".into(),
        "auth.manage".into(),
        "--data-dir".into(),
        server.data_dir().display().to_string(),
    ];
    if let Some(url) = server.database_url() {
        args.extend([
            "--database-url".into(),
            url.to_owned(),
            "--token-key-file".into(),
            server
                .data_dir()
                .join("shared-token-keys")
                .display()
                .to_string(),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    json_stdout(&hbx_sa_beside(server.data_dir(), &args).await);
}

/// A grant made by `hbx-sa grants add` beside a running server applies
/// within the bound.
async fn a_command_beside_a_running_server_applies_within_the_bound(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(backend, dir, |_| {}).await;
    let worker = server.create("worker").await;
    let worker_client = server.client(&worker.token);
    assert_eq!(status_with(&server, &worker_client).await, 403, "warm");
    grant_at_the_command_line(&server, worker.id).await;
    within_the_bound("grants add at the command line", async || {
        status_with(&server, &worker_client).await == 200
    })
    .await;
}

on_both_stores!(
    same_process_changes_apply_to_the_next_request,
    a_wrong_secret_is_refused_on_a_warm_cache,
    expiry_is_exact_on_a_warm_cache,
    an_unreported_change_is_seen_within_the_bound,
    a_command_beside_a_running_server_applies_within_the_bound,
    another_instance_sees_changes_within_the_bound,
    another_instance_is_told_of_changes,
    a_grace_and_its_retirement_reach_every_instance,
    a_command_beside_a_running_server_is_told_of,
);

/// How long the second scenario's caches keep entries: far longer than any
/// test, so that only a notification can explain a change being seen.
const LONG_TTL: &str = "1h";
/// How soon notifications make a change visible: PostgreSQL's NOTIFY is
/// immediate, SQLite's change records are polled every 100 ms.
const NOTIFICATION_BOUND: Duration = Duration::from_secs(1);

/// Two `hbx-sa serve` processes on one database: a rotation and a revocation
/// through one are refused by the other, whose cache was warm, within the
/// bound; `cache_ttl` is the servers' `--credential-cache-ttl`, and `bound`
/// what the test allows.
async fn two_instances(backend: Backend, cache_ttl: Option<&str>, bound: Duration) {
    let deployment = Deployment::new(backend).await;
    let made = deployment.bootstrap("acme");
    let (account_id, owner, owner_id) = (made.account_id, made.owner_token, made.owner_id);
    let extra: Vec<&str> = match cache_ttl {
        Some(ttl) => vec!["--credential-cache-ttl", ttl],
        None => vec![],
    };
    let first = deployment.serve(&extra);
    let second = deployment.serve(&extra);
    let created = first
        .client(&owner)
        .create_service_account(&account_id, None, &crate::common::create_request("shared"))
        .await
        .unwrap()
        .into_inner();
    let works = async |client: &hbx_service_accounts::client::Client| {
        client
            .list_service_accounts(&account_id, None, None, None)
            .await
            .is_ok()
    };
    let (owner_on_first, owner_on_second) = (first.client(&owner), second.client(&owner));
    // Warm both caches with the owner's token.
    assert!(works(&owner_on_first).await && works(&owner_on_second).await);
    let rotated = second
        .client(&owner)
        .rotate_service_account(&account_id, &owner_id, None, None)
        .await
        .unwrap()
        .into_inner();
    within("a rotation through the other instance", bound, async || {
        !works(&owner_on_first).await
    })
    .await;
    assert!(works(&first.client(&rotated.token)).await);
    // Warm the second instance's cache with the other token (403: no grant).
    let created_on_second = second.client(&created.token);
    let status_on_second = async || {
        created_on_second
            .list_service_accounts(&account_id, None, None, None)
            .await
            .err()
            .and_then(|e| e.status())
            .map(|s| s.as_u16())
    };
    assert_eq!(status_on_second().await, Some(403));
    first
        .client(&rotated.token)
        .revoke_service_account(&account_id, &created.id)
        .await
        .unwrap();
    within(
        "a revocation through the other instance",
        bound,
        async || status_on_second().await == Some(401),
    )
    .await;
}

/// A rotation with a grace period through one instance: both instances
/// accept both tokens during the grace; once the previous token is retired
/// through the other, each refuses it within the bound.
async fn a_grace_and_its_retirement_reach_every_instance(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let made = deployment.bootstrap("acme");
    let (first, second) = (deployment.serve(&[]), deployment.serve(&[]));
    let works = async |instance: &ServeProcess, token: &str| {
        instance
            .client(token)
            .get_service_account(&made.account_id, &made.owner_id)
            .await
            .is_ok()
    };
    // Warm: the old token is cached on both.
    assert!(works(&first, &made.owner_token).await);
    assert!(works(&second, &made.owner_token).await);
    let rotated = first
        .client(&made.owner_token)
        .rotate_service_account(&made.account_id, &made.owner_id, Some(3600), None)
        .await
        .unwrap()
        .into_inner();
    within_the_bound("the new token on the other instance", async || {
        works(&second, &rotated.token).await
    })
    .await;
    for instance in [&first, &second] {
        assert!(
            works(instance, &made.owner_token).await,
            "old, in its grace"
        );
        assert!(works(instance, &rotated.token).await, "new");
    }
    second
        .client(&rotated.token)
        .retire_previous_token(&made.account_id, &made.owner_id)
        .await
        .unwrap();
    assert!(
        !works(&second, &made.owner_token).await,
        "at once where retired"
    );
    within_the_bound("a retirement through the other instance", async || {
        !works(&first, &made.owner_token).await
    })
    .await;
    for instance in [&first, &second] {
        assert!(works(instance, &rotated.token).await);
    }
}

/// With the default cache lifetime: within the bound of contract §6.
async fn another_instance_sees_changes_within_the_bound(backend: Backend) {
    two_instances(backend, None, DEFAULT_CREDENTIAL_CACHE_TTL).await;
}

/// With entries kept for an hour, changes still arrive: the store's watcher
/// (PostgreSQL LISTEN/NOTIFY, SQLite's polled change records) tells the
/// other instance's cache, so the bound is a safety net, not the mechanism.
async fn another_instance_is_told_of_changes(backend: Backend) {
    two_instances(backend, Some(LONG_TTL), NOTIFICATION_BOUND).await;
}

/// A command beside a running server whose cache keeps entries for an hour:
/// the grant it adds still applies at once, by notification.
async fn a_command_beside_a_running_server_is_told_of(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(backend, dir, |settings| {
        settings.credential_cache_ttl = Duration::from_secs(3600);
    })
    .await;
    let worker = server.create("worker").await;
    let worker_client = server.client(&worker.token);
    assert_eq!(status_with(&server, &worker_client).await, 403, "warm");
    grant_at_the_command_line(&server, worker.id).await;
    within(
        "grants add at the command line, told by notification",
        NOTIFICATION_BOUND,
        async || status_with(&server, &worker_client).await == 200,
    )
    .await;
}

/// No cached entry outlives its lifetime: read through a cache whose store
/// changes unreported (the cache hears of nothing), a lookup once the
/// lifetime has passed since the read began goes to the store again. This is
/// the bound of contract §6, checked exactly rather than end to end.
#[tokio::test]
async fn no_entry_outlives_its_ttl() {
    let (store, _guard) = open_store(Backend::Sqlite).await;
    let unheard = ChangeHub::default();
    let ttl = DEFAULT_CREDENTIAL_CACHE_TTL;
    let cache = CredentialCache::new(store.clone(), &unheard, ttl, 100);
    let read_started = Instant::now();
    assert_eq!(
        cache.find_by_public_id("0123456789ABCDEF").await.unwrap(),
        None
    );
    assert_eq!(cache.misses(), 1);
    let _ = cache.find_by_public_id("0123456789ABCDEF").await.unwrap();
    assert_eq!(cache.misses(), 1, "kept while young");
    // The cache's entries expire on moka's wall clock, which no injected
    // clock reaches: wait for the lifetime itself (no margin is needed: the
    // check is that the entry is gone once the lifetime has passed, and
    // waiting longer cannot make a correct cache fail it).
    tokio::time::sleep((read_started + ttl).saturating_duration_since(Instant::now())).await;
    let _ = cache.find_by_public_id("0123456789ABCDEF").await.unwrap();
    assert_eq!(cache.misses(), 2, "read again once the lifetime has passed");
}

/// A real store that holds each token lookup until told to go on, so that a
/// test can change things while a lookup is in flight.
struct HeldLookups {
    inner: Arc<dyn hbx_service_accounts::store::Store>,
    hold: AtomicBool,
    reading: Notify,
    go_on: Notify,
}

#[async_trait]
impl TokenLookup for HeldLookups {
    async fn find_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<StoredServiceAccount>, StoreError> {
        let found = self.inner.find_by_public_id(public_id).await;
        if self.hold.load(Ordering::SeqCst) {
            self.reading.notify_one();
            self.go_on.notified().await;
        }
        found
    }
}

#[async_trait]
impl GrantLookup for HeldLookups {
    async fn holdings(&self, subject: &Subject) -> Result<Arc<HoldingsByAccount>, StoreError> {
        self.inner.holdings(subject).await
    }
}

#[async_trait]
impl ClientLookup for HeldLookups {
    async fn find_introspection_client(
        &self,
        client_id: &str,
    ) -> Result<Option<StoredIntrospectionClient>, StoreError> {
        self.inner.find_introspection_client(client_id).await
    }
}

/// A lookup that read a row before a change committed, and finishes after,
/// does not leave the stale row in the cache.
#[tokio::test]
async fn a_read_racing_an_invalidation_is_not_kept() {
    let (store, _guard) = open_store(Backend::Sqlite).await;
    let account = hbx_service_accounts::domain::Account {
        id: Uuid::new_v4(),
        name: "acme".into(),
        created_at: chrono::Utc::now(),
    };
    store.create_account(&account).await.unwrap();
    let public_id = "0123456789ABCDEF".to_owned();
    let held = Arc::new(HeldLookups {
        inner: store.clone(),
        hold: AtomicBool::new(true),
        reading: Notify::new(),
        go_on: Notify::new(),
    });
    let hub = ChangeHub::default();
    let cache = CredentialCache::new(held.clone(), &hub, Duration::from_secs(60), 100);
    // The lookup reads "no such token" and is held there...
    let lookup = {
        let (cache, public_id) = (cache.clone(), public_id.clone());
        tokio::spawn(async move { cache.find_by_public_id(&public_id).await })
    };
    held.reading.notified().await;
    // ...while the token is created and the change published...
    hub.publish(&[CredentialChange::Token(public_id.clone())]);
    held.hold.store(false, Ordering::SeqCst);
    held.go_on.notify_one();
    assert_eq!(lookup.await.unwrap().unwrap(), None, "what it read");
    // ...so the next lookup reads again instead of trusting the stale miss.
    let misses = cache.misses();
    let _ = cache.find_by_public_id(&public_id).await.unwrap();
    assert_eq!(cache.misses(), misses + 1, "the stale answer was not kept");
    let _ = cache.find_by_public_id(&public_id).await.unwrap();
    assert_eq!(cache.misses(), misses + 1, "a settled answer is kept");
}
