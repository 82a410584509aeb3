//! `last_used_at`: set after the first successful use, throttled per token
//! (tested at the interval's boundary with the injected clock), written off the
//! request path even when the client hangs up, and never touched by a failed
//! authentication.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::common::{Backend, TestServer, with_checksum};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

async fn last_used(server: &TestServer, id: Uuid) -> Option<DateTime<Utc>> {
    server
        .app
        .store()
        .get_service_account(server.account_id, id)
        .await
        .unwrap()
        .unwrap()
        .last_used_at
}

/// Waits (up to a generous bound: this is not a timing test) for the
/// background writer to record a use.
async fn eventually_last_used(server: &TestServer, id: Uuid) -> Option<DateTime<Utc>> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = last_used(server, id).await;
        if value.is_some() || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn first_use_is_recorded_by_the_background_writer(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let sa = server.create("used").await;
    assert_eq!(sa.last_used_at, None);
    let used_at = server.now();
    assert!(server.authenticates(&sa.token).await);
    // No explicit flush: the background writer does it.
    assert_eq!(eventually_last_used(&server, sa.id).await, Some(used_at));
    let seen = server
        .owner()
        .get_service_account(&server.account_id, &sa.id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.last_used_at, Some(used_at));
}

/// A use noted but not yet written when the server stops is written by the
/// shutdown itself: the background writer is told to wait an hour, so only
/// the stop can have written it.
async fn stopping_writes_pending_uses(backend: Backend) {
    let mut server = TestServer::start_with_on(backend, |settings| {
        settings.last_use_flush_delay = Duration::from_secs(3600);
    })
    .await;
    let sa = server.create("used just before the stop").await;
    let used_at = server.now();
    assert!(server.authenticates(&sa.token).await);
    // Not a synchronisation (nothing is awaited): a window in which a writer
    // that ignored its hour-long delay would have written. Any length makes
    // the check sound; a longer one only makes it more likely to catch that.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(last_used(&server, sa.id).await, None, "not written yet");
    server.stop().await;
    assert_eq!(last_used(&server, sa.id).await, Some(used_at));
}

async fn uses_within_the_interval_are_not_rewritten(backend: Backend) {
    let server = TestServer::start_with_on(backend, |settings| {
        settings.last_use_interval = TimeDelta::seconds(60);
    })
    .await;
    let sa = server.create("busy").await;
    let first = server.now();
    assert!(server.authenticates(&sa.token).await);
    server.flush_last_use().await;
    assert_eq!(last_used(&server, sa.id).await, Some(first));

    // Just inside the interval: not rewritten.
    server
        .clock
        .set(first + TimeDelta::seconds(60) - TimeDelta::microseconds(1));
    assert!(server.authenticates(&sa.token).await);
    server.flush_last_use().await;
    assert_eq!(last_used(&server, sa.id).await, Some(first));

    // At the interval: rewritten.
    let later = first + TimeDelta::seconds(60);
    server.clock.set(later);
    assert!(server.authenticates(&sa.token).await);
    server.flush_last_use().await;
    assert_eq!(last_used(&server, sa.id).await, Some(later));
}

async fn failed_authentication_never_touches_it(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let sa = server.create("target").await;
    // Same public id, wrong secret (and a valid checksum would be needed to get
    // that far: flip a secret character and fix the checksum).
    let forged = {
        let mut body: Vec<char> = sa.token.chars().take(55).collect();
        body[30] = if body[30] == 'a' { 'b' } else { 'a' };
        with_checksum(&body.into_iter().collect::<String>())
    };
    assert!(!server.authenticates(&forged).await);
    // Revoke another one and use its token: also a failure.
    let revoked = server.create("revoked").await;
    server.revoke(revoked.id).await;
    assert!(!server.authenticates(&revoked.token).await);
    server.flush_last_use().await;
    assert_eq!(last_used(&server, sa.id).await, None);
    assert_eq!(last_used(&server, revoked.id).await, None);
}

/// A client that hangs up without reading its answer: the use was noted when
/// it was authenticated, and the background writer records it whether or not
/// anyone is still there to be answered. (The hang-up comes once the answer
/// has reached the client's socket, unread: an event, not a guess. A client
/// that hangs up before the server has authenticated it is not a use.)
async fn a_client_that_hangs_up_without_reading_is_still_recorded(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let sa = server.create("impatient").await;
    let address = server.base_url.trim_start_matches("http://").to_owned();
    let path = format!(
        "/v1/public/accounts/{}/auth/service-accounts/{}",
        server.account_id, server.owner_id
    );
    let token = sa.token.clone();
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        stream.flush().unwrap();
        let (client, server) = (stream.local_addr().unwrap(), address.parse().unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while crate::common::process::unread_bytes(client, server).unwrap_or(0) == 0 {
            assert!(std::time::Instant::now() < deadline, "no answer arrived");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        stream.shutdown(std::net::Shutdown::Both).unwrap();
    })
    .await
    .unwrap();
    assert!(eventually_last_used(&server, sa.id).await.is_some());
}

on_both_stores!(
    first_use_is_recorded_by_the_background_writer,
    uses_within_the_interval_are_not_rewritten,
    failed_authentication_never_touches_it,
    a_client_that_hangs_up_without_reading_is_still_recorded,
    stopping_writes_pending_uses,
);
