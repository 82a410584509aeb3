//! Webhook subscriptions that must not be: refused with a stable
//! `error_code` and a message that says what to fix, and nothing made;
//! addresses inside the server's network refused when the subscription is
//! made and again when a delivery connects (a name that resolves to a
//! loopback address, an IP literal); the delivery log's filters and paging,
//! a redelivery with the same `webhook-id`; disabling, enabling, deleting;
//! the metrics.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::authorizations::call;
use super::webhooks::{subscribe, webhook_server, webhooks_path};
use crate::common::receiver::{Receiver, Reply};
use crate::common::webhooks::stored_subscription;
use crate::common::{Backend, TestServer};
use hbx_service_accounts::domain::AuditAction;

/// A name other than `localhost` that this machine resolves to a loopback
/// address (from /etc/hosts).
fn a_name_for_loopback() -> String {
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    hosts
        .lines()
        .filter(|line| line.starts_with("127."))
        .flat_map(|line| line.split_whitespace().skip(1))
        .find(|name| !name.starts_with('#') && !name.eq_ignore_ascii_case("localhost"))
        .map(str::to_owned)
        .expect(
            "this test needs a name other than localhost for 127.0.0.1 in /etc/hosts: add \
             `127.0.0.1 loopback-name` there",
        )
}

async fn bad_subscriptions_are_refused_with_what_to_fix() {
    let server = TestServer::start().await;
    let path = webhooks_path(&server);
    let owner = server.owner_token.clone();
    let good = || json!({"url": "https://hooks.example.com/hbx", "event_types": ["token.*"]});
    let with = |key: &str, value: Value| {
        let mut body = good();
        body[key] = value;
        body
    };
    let loopback_name = a_name_for_loopback();
    let cases: Vec<(Value, &str)> = vec![
        (with("url", json!("http://hooks.example.com/")), "https"),
        (with("url", json!("https://127.0.0.1/hook")), "loopback"),
        (with("url", json!("https://10.1.2.3/")), "private"),
        (with("url", json!("https://172.20.0.1/")), "private"),
        (with("url", json!("https://192.168.0.10/")), "private"),
        (
            with("url", json!("https://169.254.169.254/latest/meta-data")),
            "metadata",
        ),
        (with("url", json!("https://[::1]/")), "loopback"),
        (with("url", json!("https://[fe80::1]/")), "link-local"),
        (with("url", json!("https://[::ffff:10.0.0.1]/")), "private"),
        (with("url", json!("https://100.64.1.1/")), "CGNAT"),
        (with("url", json!("https://224.0.0.1/")), "multicast"),
        (with("url", json!("https://localhost:8443/")), "loopback"),
        (
            with("url", json!(format!("https://{loopback_name}/hook"))),
            "resolves to a loopback",
        ),
        (
            with("url", json!("https://user:pw@hooks.example.com/")),
            "credentials",
        ),
        (
            with("url", json!("https://hooks.example.com/#x")),
            "fragment",
        ),
        (with("url", json!("")), "https"),
        (
            with(
                "url",
                json!(format!("https://h.example/{}", "a".repeat(2100))),
            ),
            "2048",
        ),
        (with("url", json!("not a url")), "url"),
        (with("event_types", json!([])), "1 to 32"),
        (with("event_types", json!(["token.nope"])), "token.revoked"),
        (with("event_types", json!(["nope.*"])), "prefix"),
        (with("event_types", json!(["*"])), "event_types"),
        (with("event_types", json!(["token.*", "token.*"])), "twice"),
        (with("expiry_warnings", json!(["0s"])), "1s to 365d"),
        (with("expiry_warnings", json!(["1w"])), "30d"),
        (with("expiry_warnings", json!(vec!["1d"; 11])), "at most 10"),
        (with("expiry_warnings", json!(["1d", "24h"])), "twice"),
        (with("description", json!("d".repeat(1001))), "1000"),
        (with("description", json!("a\u{0}b")), "control"),
        (with("unknown", json!(1)), "unknown"),
        (json!({"event_types": ["token.*"]}), "url"),
    ];
    for (body, hint) in cases {
        let answer = call(&server, &owner, Method::POST, &path, Some(body.clone())).await;
        assert_eq!(answer.status, 400, "{body}: {:?}", answer.body);
        assert_eq!(answer.body["error_code"], "invalid_request", "{body}");
        let message = answer.body["message"].as_str().unwrap();
        assert!(
            message.contains(hint),
            "{body}: {message:?} should say {hint:?}"
        );
    }
    let raw = server
        .raw()
        .post(format!("{}{path}", server.base_url))
        .bearer_auth(&owner)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    // Who may not.
    let anonymous = server
        .raw()
        .post(format!("{}{path}", server.base_url))
        .json(&good());
    assert_eq!(anonymous.send().await.unwrap().status().as_u16(), 401);
    let bystander = server.create("bystander").await;
    let refused = call(&server, &bystander.token, Method::POST, &path, Some(good())).await;
    assert_eq!(refused.status, 403);
    // Nothing was made, and nothing audited.
    let listed = call(&server, &owner, Method::GET, &path, None).await;
    assert_eq!(listed.body, json!([]));
    assert_eq!(server.audit_count(AuditAction::WebhookCreate).await, 0);
    // A good one is taken, and audited.
    let made = call(&server, &owner, Method::POST, &path, Some(good())).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    assert_eq!(server.audit_count(AuditAction::WebhookCreate).await, 1);
    let id = made.body["id"].as_str().unwrap();
    assert_eq!(
        made.location.as_deref(),
        Some(format!("{path}/{id}").as_str())
    );
    let missing = call(
        &server,
        &owner,
        Method::GET,
        &format!("{path}/{}", Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(
        (missing.status, missing.body["error_code"].as_str()),
        (404, Some("not_found"))
    );
}

async fn inside_addresses_are_refused_at_connect_time() {
    let server = webhook_server(Backend::Sqlite, |settings| {
        settings.webhooks.allow_loopback_http = false;
    })
    .await;
    let receiver = Receiver::start().await;
    let port = receiver.address.port();
    let name = a_name_for_loopback();
    for (url, why) in [
        (format!("https://{name}:{port}/hook"), "loopback"),
        (format!("https://127.0.0.1:{port}/hook"), "loopback"),
        (format!("http://127.0.0.1:{port}/hook"), "https"),
    ] {
        let id = stored_subscription(&server, &url, &["webhook.*"], &[60])
            .await
            .id;
        let path = format!("{}/{id}", webhooks_path(&server));
        let ping = call(
            &server,
            &server.owner_token,
            Method::POST,
            &format!("{path}/ping"),
            None,
        )
        .await;
        assert_eq!(ping.status, 202, "{:?}", ping.body);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let log = loop {
            let log = call(
                &server,
                &server.owner_token,
                Method::GET,
                &format!("{path}/deliveries"),
                None,
            )
            .await;
            if log.body.as_array().is_some_and(|a| !a.is_empty()) {
                break log.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{url}: no attempt logged"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(log[0]["status"], "failed", "{url}");
        assert_eq!(log[0]["response_status"], Value::Null);
        let error = log[0]["error"].as_str().unwrap();
        assert!(
            error.starts_with("refused") && error.contains(why),
            "{url}: {error}"
        );
    }
    assert!(
        receiver.deliveries().is_empty(),
        "nothing reached the receiver"
    );
}

async fn the_delivery_log_is_filtered_paged_and_redelivered() {
    let server = webhook_server(Backend::Sqlite, |_| {}).await;
    let receiver = Receiver::scripted(
        Arc::new(|n, _| {
            if n == 0 {
                Reply::status(500)
            } else {
                Reply::status(204)
            }
        }),
        Duration::ZERO,
    )
    .await;
    let (id, secret) = subscribe(&server, &receiver.url("/log"), &["webhook.*"], None).await;
    receiver.trust(&secret);
    let path = format!("{}/{id}", webhooks_path(&server));
    let owner = server.owner_token.clone();
    let get = async |query: &str| {
        call(
            &server,
            &owner,
            Method::GET,
            &format!("{path}/deliveries{query}"),
            None,
        )
        .await
    };
    call(&server, &owner, Method::POST, &format!("{path}/ping"), None).await;
    receiver
        .wait_for(Duration::from_secs(20), "the first attempt", |d| {
            !d.is_empty()
        })
        .await;
    // The retry comes 5 s (±20 %) later by the server's clock.
    server.clock.advance(TimeDelta::seconds(7));
    let both = receiver
        .wait_for(Duration::from_secs(20), "the retry", |d| d.len() >= 2)
        .await;
    assert_eq!(
        both[0].message_id, both[1].message_id,
        "webhook-id is stable"
    );
    assert!(both.iter().all(|d| d.verified));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let log = loop {
        let log = get("").await.body;
        if log.as_array().unwrap().len() == 2 {
            break log;
        }
        assert!(std::time::Instant::now() < deadline, "{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["attempt"], 2);
    assert_eq!(log[1]["status"], "failed");
    assert_eq!(log[1]["response_status"], 500);
    assert_eq!(
        get("?status=failed").await.body.as_array().unwrap().len(),
        1
    );
    assert_eq!(
        get("?event_type=webhook.ping")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(get("?event_type=token.revoked").await.body, json!([]));
    let first = log[0]["id"].as_str().unwrap();
    let page = get(&format!("?limit=1&before={first}")).await.body;
    assert_eq!(page[0]["id"], log[1]["id"]);
    for bad in [
        "?event_type=nope",
        "?limit=0",
        "?limit=1001",
        "?status=maybe",
        &format!("?before={}", Uuid::new_v4()),
    ] {
        let answer = get(bad).await;
        assert_eq!(answer.status, 400, "{bad}: {:?}", answer.body);
        assert!(answer.body["error_code"].is_string());
    }
    // Redelivered: the same webhook-id again.
    let failed = log[1]["id"].as_str().unwrap();
    let again = call(
        &server,
        &owner,
        Method::POST,
        &format!("{path}/deliveries/{failed}/redeliver"),
        None,
    )
    .await;
    assert_eq!(again.status, 202, "{:?}", again.body);
    assert_eq!(again.body["message_id"], both[0].message_id.as_str());
    let three = receiver
        .wait_for(Duration::from_secs(20), "the redelivery", |d| d.len() >= 3)
        .await;
    assert_eq!(three[2].message_id, both[0].message_id);
    let unknown = call(
        &server,
        &owner,
        Method::POST,
        &format!("{path}/deliveries/{}/redeliver", Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
}

async fn a_disabled_subscription_receives_nothing_until_enabled() {
    let server = webhook_server(Backend::Sqlite, |_| {}).await;
    let receiver = Receiver::start().await;
    let (id, secret) = subscribe(
        &server,
        &receiver.url("/d"),
        &["service_account.created", "webhook.ping"],
        None,
    )
    .await;
    receiver.trust(&secret);
    let path = format!("{}/{id}", webhooks_path(&server));
    let owner = server.owner_token.clone();
    let disabled = call(
        &server,
        &owner,
        Method::POST,
        &format!("{path}/disable"),
        None,
    )
    .await;
    assert_eq!(disabled.status, 200);
    assert_eq!(disabled.body["enabled"], false);
    assert_eq!(disabled.body["disabled_reason"], "requested");
    assert!(disabled.body["disabled_at"].is_string());
    server.create("unseen").await;
    let ping = call(&server, &owner, Method::POST, &format!("{path}/ping"), None).await;
    assert_eq!(ping.status, 400, "{:?}", ping.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(receiver.deliveries().is_empty());
    let enabled = call(
        &server,
        &owner,
        Method::POST,
        &format!("{path}/enable"),
        None,
    )
    .await;
    assert_eq!(
        (
            enabled.body["enabled"].clone(),
            enabled.body["disabled_reason"].clone()
        ),
        (json!(true), Value::Null)
    );
    let seen = server.create("seen").await;
    let created = receiver.wait_for_type("service_account.created").await;
    assert_eq!(
        created.body["data"]["service_account_id"],
        seen.id.to_string()
    );
    assert_eq!(
        receiver.deliveries().len(),
        1,
        "nothing from while it was disabled"
    );
    let metrics = server.scrape_metrics().await;
    assert!(
        metrics.contains("hbx_sa_webhook_deliveries_total{outcome=\"succeeded\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("hbx_sa_webhook_pending_events"));
    assert!(metrics.contains("hbx_sa_webhook_oldest_pending_seconds"));
    let deleted = call(&server, &owner, Method::DELETE, &path, None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        call(&server, &owner, Method::GET, &path, None).await.status,
        404
    );
    assert_eq!(
        call(&server, &owner, Method::DELETE, &path, None)
            .await
            .status,
        404
    );
    for action in [
        AuditAction::WebhookCreate,
        AuditAction::WebhookDisable,
        AuditAction::WebhookEnable,
        AuditAction::WebhookDelete,
    ] {
        assert_eq!(server.audit_count(action).await, 1, "{action:?}");
    }
}

#[tokio::test]
async fn bad_subscriptions_are_refused_and_change_nothing() {
    bad_subscriptions_are_refused_with_what_to_fix().await;
}

#[tokio::test]
async fn a_name_or_address_of_loopback_is_refused_when_a_delivery_connects() {
    inside_addresses_are_refused_at_connect_time().await;
}

#[tokio::test]
async fn deliveries_are_logged_filtered_paged_and_redelivered() {
    the_delivery_log_is_filtered_paged_and_redelivered().await;
}

#[tokio::test]
async fn disabled_subscriptions_receive_nothing_and_the_metrics_count() {
    a_disabled_subscription_receives_nothing_until_enabled().await;
}
