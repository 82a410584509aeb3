//! Scale-out behind a connection pooler, as operators run it: two
//! `hbx-sa serve` processes whose database URL goes through a real PgBouncer
//! in transaction pooling (Debian's 1.18, a pool of four server
//! connections), with and without a direct URL beside it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use hbx_service_accounts::client::Client;
use sqlx::{Connection, PgConnection};

use crate::common::process::{Bootstrapped, Deployment, ServeProcess};
use crate::common::{Backend, create_request};

/// The notice a server logs at start when its URL leads to a transaction
/// pooler and it has no direct URL.
const NO_DIRECT_URL: &str = "no --database-direct-url is set";
/// What the credential-change listener logs once its check was heard.
const HEARING: &str = "hearing other instances' credential changes";

/// How many server connections the database has beside the one asking.
async fn server_connections(admin: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    )
    .fetch_one(admin)
    .await
    .unwrap()
}

/// Two instances on `deployment` with `flags` and a direct URL each, once
/// both hear other instances' changes over it.
fn two_instances_with_direct_urls(deployment: &Deployment, flags: &[&str]) -> [ServeProcess; 2] {
    let database_url = &deployment.database.as_ref().unwrap().url;
    let mut all = vec!["--database-direct-url", database_url];
    all.extend_from_slice(flags);
    [deployment.serve(&all), deployment.serve(&all)].map(|instance| {
        instance.wait_for_log(&[HEARING, "the direct connection"], Duration::from_secs(10));
        instance
    })
}

/// Two instances behind PgBouncer, each with its direct URL; 400 creates at
/// once, spread over both, all succeed; all the while (start included) the
/// database sees no more server connections than the pooler's pool plus one
/// direct connection per instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_behind_pgbouncer_take_400_concurrent_creates() {
    let deployment = Deployment::new(Backend::PgBouncer).await;
    let database_url = deployment.database.as_ref().unwrap().url.clone();
    let pool_size = i64::from(deployment.pooler.as_ref().unwrap().settings.pool_size);
    let made = deployment.bootstrap("acme");

    let mut admin = PgConnection::connect(&database_url).await.unwrap();
    let most = Arc::new(AtomicI64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn({
        let (most, done) = (most.clone(), done.clone());
        async move {
            let mut samples = 0_u64;
            while !done.load(Ordering::Relaxed) {
                most.fetch_max(server_connections(&mut admin).await, Ordering::Relaxed);
                samples += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            samples
        }
    });

    // A generous database timeout: the point is that every create succeeds
    // through four server connections, not how fast.
    let [first, second] =
        two_instances_with_direct_urls(&deployment, &["--database-timeout-ms", "60000"]);
    let clients: [Client; 2] = [
        first.client(&made.owner_token),
        second.client(&made.owner_token),
    ];
    let started = Instant::now();
    let results = futures::future::join_all((0..400).map(|i| {
        let client = clients[i % 2].clone();
        let account_id = made.account_id;
        async move {
            client
                .create_service_account(&account_id, None, &create_request(&format!("worker-{i}")))
                .await
                .map(|created| created.into_inner().id)
        }
    }))
    .await;
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    let failed: Vec<_> = results.iter().filter(|result| result.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of 400 failed: {failed:?}",
        failed.len()
    );
    let ids: std::collections::HashSet<_> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(ids.len(), 400);

    let mut admin = PgConnection::connect(&database_url).await.unwrap();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM service_accounts WHERE name LIKE 'worker-%'")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert_eq!(stored, 400);
    let most = most.load(Ordering::Relaxed);
    println!(
        "400 creates in {} ms; at most {most} server connections in {samples} samples \
         (pool {pool_size} + 2 direct)",
        took.as_millis()
    );
    assert!(
        most <= pool_size + 2,
        "the database saw {most} server connections: more than the pooler's {pool_size} \
         plus one direct connection per instance"
    );
    // Each instance's pool of ten would have been twenty without the pooler.
    assert!(
        samples > 10 && most > 0,
        "{samples} samples, at most {most}"
    );
}

/// A service account made through `creator` with a token `checker` has
/// verified (so `checker`'s credential cache holds it): its id and token.
async fn warmed_token(
    creator: &ServeProcess,
    checker: &ServeProcess,
    owner_token: &str,
    account_id: &uuid::Uuid,
) -> (uuid::Uuid, String) {
    let created = creator
        .client(owner_token)
        .create_service_account(account_id, None, &create_request("revoked-elsewhere"))
        .await
        .unwrap()
        .into_inner();
    checker
        .client(&created.token)
        .whoami()
        .await
        .expect("the new token works on the other instance");
    (created.id, created.token)
}

/// Revokes service account `id` through `instance` as the owner; when the
/// revocation was asked for.
async fn revoke(instance: &ServeProcess, made: &Bootstrapped, id: &uuid::Uuid) -> Instant {
    let asked = Instant::now();
    instance
        .client(&made.owner_token)
        .revoke_service_account(&made.account_id, id)
        .await
        .unwrap();
    asked
}

/// Polls `instance` until it refuses `token`; how long that took from
/// `since`, failing beyond `bound`.
async fn refused_within(
    instance: &ServeProcess,
    token: &str,
    since: Instant,
    bound: Duration,
) -> Duration {
    let client = instance.client(token);
    loop {
        let sent = since.elapsed();
        match client.whoami().await {
            Err(error) if error.status().map(|s| s.as_u16()) == Some(401) => {
                return since.elapsed();
            }
            Ok(_) => {}
            Err(error) => panic!("whoami: {error}"),
        }
        assert!(
            sent < bound,
            "a request sent {} ms after the revocation still saw the token (bound {} ms)",
            sent.as_millis(),
            bound.as_millis()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// With a direct URL, a revocation through one instance is refused by the
/// other as soon as its LISTEN (over the direct connection) hears it: far
/// within the minute-long cache lifetime set here. The log says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_direct_url_a_revocation_reaches_the_other_instance_at_once() {
    let deployment = Deployment::new(Backend::PgBouncer).await;
    let made = deployment.bootstrap("acme");
    let [first, second] =
        two_instances_with_direct_urls(&deployment, &["--credential-cache-ttl", "60s"]);
    for instance in [&first, &second] {
        instance.wait_for_log(
            &["with a direct connection (--database-direct-url)"],
            Duration::from_secs(1),
        );
        assert!(!instance.log().contains(NO_DIRECT_URL));
    }
    let (id, token) = warmed_token(&first, &second, &made.owner_token, &made.account_id).await;
    let revoked = revoke(&first, &made, &id).await;
    let took = refused_within(&second, &token, revoked, Duration::from_secs(5)).await;
    println!(
        "refused by the other instance {} ms after the revocation",
        took.as_millis()
    );
}

/// Without a direct URL, nothing tells the other instance: it refuses the
/// revoked token once its cached entry expires, within the cache's lifetime
/// (4 s here), and it said so in its log at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_direct_url_a_revocation_reaches_the_other_instance_within_the_cache_ttl() {
    const TTL: Duration = Duration::from_secs(4);
    let deployment = Deployment::new(Backend::PgBouncer).await;
    let made = deployment.bootstrap("acme");
    let flags = ["--credential-cache-ttl", "4s"];
    let first = deployment.serve(&flags);
    let second = deployment.serve(&flags);
    for instance in [&first, &second] {
        let notice = instance.wait_for_log(&[NO_DIRECT_URL], Duration::from_secs(1));
        assert!(notice.contains("\"level\":\"WARN\""), "{notice}");
        assert!(notice.contains("--credential-cache-ttl"), "{notice}");
        assert!(!instance.log().contains(HEARING), "{}", instance.log());
    }
    let warmed = Instant::now();
    let (id, token) = warmed_token(&first, &second, &made.owner_token, &made.account_id).await;
    let revoked = revoke(&first, &made, &id).await;
    // The instance that revoked refuses at once; the other still has the
    // token cached (nothing told it), unless the machine stalled past the
    // lifetime.
    refused_within(&first, &token, revoked, Duration::from_millis(500)).await;
    let still = second.client(&token).whoami().await;
    if warmed.elapsed() < TTL - Duration::from_secs(1) {
        assert!(
            still.is_ok(),
            "refused before its cached entry expired: {still:?}"
        );
    }
    let took = refused_within(&second, &token, warmed, TTL + Duration::from_secs(1)).await;
    println!(
        "refused by the other instance {} ms after its cache read it",
        took.as_millis()
    );
}

/// A direct URL alone (no database URL for it to bypass a pooler of) is
/// refused, by the server and the commands alike, without its password.
#[test]
fn a_direct_url_without_a_database_url_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let direct = "postgres://app:direct-s3cret@db-primary.example:5432/hbx";
    for args in [
        &["serve", "--database-direct-url", direct][..],
        &[
            "accounts",
            "create",
            "--name",
            "acme",
            "--database-direct-url",
            direct,
        ][..],
    ] {
        let output = crate::common::process::hbx_sa(dir.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--database-direct-url") && stderr.contains("--database-url is not"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("direct-s3cret"), "{stderr}");
    }
}
