//! The webhook outbox on both stores: expiry warnings queued once per
//! subscription, token and warning however many scanners run at once (two
//! instances, restarts); a lease given to one worker at a time; a change
//! and its events committed together or not at all.

use std::sync::Arc;

use chrono::TimeDelta;
use hbx_service_accounts::clock::{Clock, ManualClock};
use hbx_service_accounts::domain::Webhook;
use hbx_service_accounts::service::webhook_expiry::ExpiryScan;
use hbx_service_accounts::store::Store;
use uuid::Uuid;

use crate::common::webhooks::stored_subscription;
use crate::common::{Backend, TestServer, quiet_log};

/// A second handle on the server's database, as another instance has.
async fn another_instance(server: &TestServer) -> Arc<dyn Store> {
    use hbx_service_accounts::store::{PostgresOptions, PostgresStore, SqliteStore};
    match server.database_url() {
        Some(url) => Arc::new(
            PostgresStore::open(
                url,
                &PostgresOptions {
                    max_connections: 4,
                    timeout: std::time::Duration::from_secs(10),
                    direct_url: None,
                },
            )
            .await
            .unwrap(),
        ),
        None => Arc::new(
            SqliteStore::open(&server.database_path(), std::time::Duration::from_secs(10))
                .await
                .unwrap(),
        ),
    }
}

async fn subscription(server: &TestServer, warnings: &[u32]) -> Webhook {
    let url = "https://hooks.example.com/hbx";
    stored_subscription(server, url, &["token.*"], warnings).await
}

/// The events queued so far, by type (claimed by a worker that never sends).
async fn queued(store: &Arc<dyn Store>, clock: &ManualClock) -> Vec<String> {
    let owner = Uuid::new_v4();
    let now = clock.now();
    let due = store
        .claim_due_events(owner, now, now + TimeDelta::hours(1), 1000)
        .await
        .unwrap();
    store.release_leases(owner).await.unwrap();
    let mut types: Vec<String> = due
        .iter()
        .map(|e| {
            let body: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
            format!(
                "{} {}",
                e.event_type,
                body["data"]["warning"].as_str().unwrap_or("-")
            )
        })
        .collect();
    types.sort();
    types
}

async fn expiry_warnings_are_queued_once_across_instances(backend: Backend) {
    // The server's own workers stay out of it: no subscription of theirs
    // wants these events before this test makes one, and the outbox is read
    // here without sending.
    let server = TestServer::start_on(backend).await;
    // The scanners' clock runs apart from the server's (which stays put), so
    // the server's own worker never finds their events due.
    let clock = Arc::new(ManualClock::new(server.now()));
    let second = another_instance(&server).await;
    let first: Arc<dyn Store> = server.app.store().clone();
    subscription(&server, &[120, 30]).await;
    let sa = server
        .create_expiring("ends", server.now() + TimeDelta::minutes(3))
        .await;
    let scanners = [first.clone(), second.clone(), first.clone(), second.clone()];
    let scan_all = async |clock: &Arc<ManualClock>| {
        let scans = scanners.iter().map(|store| {
            let scan = ExpiryScan::new(store.clone(), store.clone(), clock.clone(), quiet_log());
            async move { scan.scan().await.unwrap() }
        });
        futures::future::join_all(scans).await.iter().sum::<usize>()
    };
    assert_eq!(scan_all(&clock).await, 0, "3 minutes left: no warning yet");
    clock.advance(TimeDelta::seconds(61));
    assert_eq!(scan_all(&clock).await, 1, "the 2-minute warning, once");
    assert_eq!(scan_all(&clock).await, 0);
    clock.advance(TimeDelta::seconds(90));
    assert_eq!(scan_all(&clock).await, 1, "the 30-second warning, once");
    clock.advance(TimeDelta::seconds(30));
    assert_eq!(scan_all(&clock).await, 1, "expired, once");
    for _ in 0..3 {
        assert_eq!(scan_all(&clock).await, 0, "a restart sends nothing again");
    }
    assert_eq!(
        queued(&first, &clock).await,
        ["token.expired -", "token.expiring 2m", "token.expiring 30s"]
    );
    assert!(
        first
            .tokens_ending(server.account_id, server.now(), clock.now())
            .await
            .unwrap()
            .iter()
            .any(|t| t.service_account_id == sa.id)
    );
}

async fn one_worker_holds_an_event_at_a_time(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let second = another_instance(&server).await;
    let first: Arc<dyn Store> = server.app.store().clone();
    let webhook = subscription(&server, &[]).await;
    // An hour ahead of the server's own (stopped) clock, so that its worker
    // never finds these due.
    let now = server.now() + TimeDelta::hours(1);
    for n in 0..50 {
        let ping = hbx_service_accounts::domain::LifecycleEvent::new(
            hbx_service_accounts::domain::WebhookEventType::WebhookPing,
            now,
            serde_json::json!({"n": n}),
        );
        assert!(first.enqueue_for(&webhook, &ping).await.unwrap());
    }
    let lease = now + TimeDelta::seconds(60);
    let (a, b) = tokio::join!(
        first.claim_due_events(Uuid::new_v4(), now, lease, 40),
        second.claim_due_events(Uuid::new_v4(), now, lease, 40),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 50, "every event leased once");
    assert!(
        a.iter()
            .all(|x| b.iter().all(|y| x.message_id != y.message_id)),
        "none twice"
    );
    // Until the leases run out (a worker killed), nobody else gets them.
    let third = first
        .claim_due_events(Uuid::new_v4(), now, lease, 100)
        .await
        .unwrap();
    assert!(third.is_empty());
    let later = now + TimeDelta::seconds(61);
    let again = first
        .claim_due_events(Uuid::new_v4(), later, later + TimeDelta::seconds(60), 100)
        .await
        .unwrap();
    assert_eq!(again.len(), 50, "a lease that ran out frees its event");
}

on_both_stores!(
    expiry_warnings_are_queued_once_across_instances,
    one_worker_holds_an_event_at_a_time,
);
