//! Webhooks that are never lost: creates, rotations and revocations against
//! a server process that is SIGKILLed mid-load and restarted on the same
//! data; every acknowledged change then has its event delivered (at least
//! once, duplicates only under one `webhook-id`), and every event delivered
//! names a change that happened. And two instances on one PostgreSQL
//! database never deliver one event twice at the same time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::process::{Deployment, ServeProcess};
use crate::common::receiver::{Delivery, Receiver};
use crate::common::{Backend, public_id_of};

/// (event type, service account, token public id) the clients were told of.
type Change = (String, Uuid, Option<String>);

const FLAGS: [&str; 3] = [
    "--webhook-allow-loopback-http",
    "--webhook-poll-interval-ms",
    "20",
];

thread_local! {
    /// One HTTP client per test (each runs on a thread of its own, as does
    /// its runtime): making one reads the system's root certificates, tens
    /// of milliseconds in a debug build, which 120 requests at once on one
    /// thread turned into seconds.
    static CLIENT: reqwest::Client = reqwest::Client::new();
}

async fn send(
    url: &str,
    token: &str,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), reqwest::Error> {
    let mut request = CLIENT
        .with(reqwest::Client::clone)
        .post(format!("{url}{path}"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(10));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

/// Creates, rotates and revokes until the server stops answering.
async fn work(
    url: String,
    token: String,
    account: Uuid,
    worker: usize,
    told: Arc<Mutex<Vec<Change>>>,
) {
    let base = format!("/v1/public/accounts/{account}/auth/service-accounts");
    for step in 0.. {
        let name = format!("w{worker}-{step}");
        let Ok((201, made)) = send(&url, &token, &base, Some(json!({"name": name}))).await else {
            return;
        };
        let id: Uuid = made["id"].as_str().unwrap().parse().unwrap();
        let public = public_id_of(made["token"].as_str().unwrap()).to_owned();
        told.lock()
            .unwrap()
            .push(("service_account.created".into(), id, Some(public)));
        let Ok((200, rotated)) = send(&url, &token, &format!("{base}/{id}/rotate"), None).await
        else {
            return;
        };
        let public = public_id_of(rotated["token"].as_str().unwrap()).to_owned();
        told.lock()
            .unwrap()
            .push(("token.rotated".into(), id, Some(public)));
        if step % 2 == 0 {
            let Ok((200, _)) = send(&url, &token, &format!("{base}/{id}/revoke"), None).await
            else {
                return;
            };
            told.lock()
                .unwrap()
                .push(("token.revoked".into(), id, None));
        }
    }
}

fn delivered(delivery: &Delivery, change: &Change) -> bool {
    let data = &delivery.body["data"];
    delivery.event_type() == change.0
        && data["service_account_id"] == change.1.to_string()
        && change
            .2
            .as_ref()
            .is_none_or(|public| data["token_public_id"] == public.as_str())
}

async fn subscribe(server: &ServeProcess, token: &str, account: Uuid, receiver: &Receiver) {
    let (status, made) = send(
        &server.url(),
        token,
        &format!("/v1/public/accounts/{account}/webhooks"),
        Some(json!({"url": receiver.url("/c"), "event_types": ["service_account.*", "token.*"]})),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{made}");
    receiver.trust(made["secret"].as_str().unwrap());
}

async fn a_killed_server_loses_no_event(backend: Backend) {
    let deployment = Deployment::new(backend).await;
    let made = deployment.bootstrap("acme");
    let receiver = Receiver::start().await;
    let server = deployment.serve(&FLAGS);
    subscribe(&server, &made.owner_token, made.account_id, &receiver).await;
    let told: Arc<Mutex<Vec<Change>>> = Arc::default();
    let workers: Vec<_> = (0..6)
        .map(|worker| {
            tokio::spawn(work(
                server.url(),
                made.owner_token.clone(),
                made.account_id,
                worker,
                told.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(300);
    while told.lock().unwrap().len() < 120 {
        assert!(
            Instant::now() < deadline,
            "the load never reached 120 changes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.signal("KILL");
    for worker in workers {
        worker.await.expect("a worker panicked");
    }
    drop(server);
    let told = std::mem::take(&mut *told.lock().unwrap());
    let before_restart = receiver.deliveries().len();
    let server = deployment.serve(&FLAGS);
    let deliveries = receiver
        .wait_for(
            Duration::from_secs(120),
            "every acknowledged change's event",
            |d| {
                told.iter()
                    .all(|change| d.iter().any(|delivery| delivered(delivery, change)))
            },
        )
        .await;
    println!(
        "{} changes acknowledged before the kill; {} deliveries before the restart, {} in all",
        told.len(),
        before_restart,
        deliveries.len()
    );
    assert!(
        deliveries.iter().all(|d| d.verified),
        "every delivery verifies"
    );
    // Duplicates only under one webhook-id, with the same body.
    let mut by_id: HashMap<&str, &Value> = HashMap::new();
    let mut by_event: HashMap<(String, String), &str> = HashMap::new();
    for delivery in &deliveries {
        let body = by_id.entry(&delivery.message_id).or_insert(&delivery.body);
        assert_eq!(*body, &delivery.body, "one webhook-id, one body");
        let event = (
            delivery.event_type().to_owned(),
            delivery.body["data"]["audit_event_id"].to_string(),
        );
        let id = by_event.entry(event).or_insert(&delivery.message_id);
        assert_eq!(*id, delivery.message_id, "one event, one webhook-id");
    }
    // No event without its change: each names a service account that exists.
    let named: HashSet<String> = deliveries
        .iter()
        .map(|d| {
            d.body["data"]["service_account_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for id in named {
        let response = reqwest::Client::new()
            .get(format!(
                "{}/v1/public/accounts/{}/auth/service-accounts/{id}",
                server.url(),
                made.account_id
            ))
            .bearer_auth(&made.owner_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{id} is named by an event");
    }
}

#[tokio::test]
async fn two_instances_never_deliver_one_event_at_once() {
    let deployment = Deployment::new(Backend::Postgres).await;
    let made = deployment.bootstrap("acme");
    // Each answer is held a while, so that a second delivery of one event
    // would overlap it.
    let receiver = Receiver::scripted(
        Arc::new(|_, _| crate::common::receiver::Reply::status(200)),
        Duration::from_millis(30),
    )
    .await;
    let servers = [deployment.serve(&FLAGS), deployment.serve(&FLAGS)];
    subscribe(&servers[0], &made.owner_token, made.account_id, &receiver).await;
    let base = format!(
        "/v1/public/accounts/{}/auth/service-accounts",
        made.account_id
    );
    let creates = (0..120).map(|n| {
        let url = servers[n % 2].url();
        let token = made.owner_token.clone();
        let base = base.clone();
        async move { send(&url, &token, &base, Some(json!({"name": format!("n{n}")}))).await }
    });
    for result in futures::future::join_all(creates).await {
        assert_eq!(result.unwrap().0, 201);
    }
    let deliveries = receiver
        .wait_for(Duration::from_secs(60), "120 events", |d| d.len() >= 120)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        receiver.overlaps().is_empty(),
        "delivered at once: {:?}",
        receiver.overlaps()
    );
    let ids: HashSet<&str> = deliveries.iter().map(|d| d.message_id.as_str()).collect();
    assert_eq!(ids.len(), 120, "each event once");
    assert_eq!(receiver.deliveries().len(), 120, "and no more");
}

/// SIGTERM while deliveries are under way: the attempts finish and are
/// recorded, the unused leases are given back, and after a restart every
/// event arrives exactly once. (Two threads: the wait for the process
/// blocks one, the receiver answers on the other.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_finishes_its_deliveries_and_sends_none_twice() {
    let deployment = Deployment::new(Backend::Sqlite).await;
    let made = deployment.bootstrap("acme");
    let receiver = Receiver::scripted(
        Arc::new(|_, _| crate::common::receiver::Reply::status(200)),
        Duration::from_millis(300),
    )
    .await;
    let mut server = deployment.serve(&FLAGS);
    subscribe(&server, &made.owner_token, made.account_id, &receiver).await;
    let base = format!(
        "/v1/public/accounts/{}/auth/service-accounts",
        made.account_id
    );
    for n in 0..40 {
        let (status, _) = send(
            &server.url(),
            &made.owner_token,
            &base,
            Some(json!({"name": format!("s{n}")})),
        )
        .await
        .unwrap();
        assert_eq!(status, 201);
    }
    receiver
        .wait_for(Duration::from_secs(30), "deliveries under way", |d| {
            !d.is_empty()
        })
        .await;
    server.signal("TERM");
    assert!(
        server.wait(Duration::from_secs(60)).success(),
        "a clean stop"
    );
    let during = receiver.deliveries().len();
    drop(server);
    let _restarted = deployment.serve(&FLAGS);
    let deliveries = receiver
        .wait_for(Duration::from_secs(60), "40 events", |d| {
            d.iter()
                .map(|d| &d.message_id)
                .collect::<HashSet<_>>()
                .len()
                >= 40
        })
        .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let all = receiver.deliveries();
    let ids: HashSet<&str> = all.iter().map(|d| d.message_id.as_str()).collect();
    println!(
        "{during} delivered before the stop, {} in all",
        deliveries.len()
    );
    assert_eq!(ids.len(), 40);
    assert_eq!(all.len(), 40, "none sent twice");
}

on_both_stores!(a_killed_server_loses_no_event);
