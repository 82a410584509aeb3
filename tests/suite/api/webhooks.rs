//! Lifecycle webhooks over the API, on both stores: every event type
//! delivered to a receiver that verifies each signature with the Standard
//! Webhooks library; the secret shown once (create, rotate-secret) and the
//! two-secret overlap; bad subscriptions refused with what to fix (and
//! nothing made); addresses refused at creation and at connect time; the
//! delivery log, its filters and a redelivery with the same `webhook-id`;
//! disable, enable, delete; the metrics.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use super::authorizations::call;
use crate::common::issuer::{TestIssuer, TestKey};
use crate::common::receiver::{Receiver, Reply};
use crate::common::sender::TestSender;
use crate::common::{Backend, TestServer, public_id_of};

pub const EVERY_KIND: [&str; 6] = [
    "service_account.*",
    "token.*",
    "authorization.*",
    "federation_rule.*",
    "federation.*",
    "webhook.*",
];

pub fn webhooks_path(server: &TestServer) -> String {
    format!("/v1/public/accounts/{}/webhooks", server.account_id)
}

/// Subscribes `url` to `event_types` as the owner: its id and secret.
pub async fn subscribe(
    server: &TestServer,
    url: &str,
    event_types: &[&str],
    warnings: Option<Value>,
) -> (Uuid, String) {
    let mut body = json!({"url": url, "event_types": event_types, "description": "tests"});
    if let Some(warnings) = warnings {
        body["expiry_warnings"] = warnings;
    }
    let made = call(
        server,
        &server.owner_token,
        Method::POST,
        &webhooks_path(server),
        Some(body),
    )
    .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    (
        made.body["id"].as_str().unwrap().parse().unwrap(),
        made.body["secret"].as_str().unwrap().to_owned(),
    )
}

/// A server that delivers to loopback over http, looks for due events every
/// 20 ms and scans for expiring tokens every second.
pub async fn webhook_server(
    backend: Backend,
    adjust: impl FnOnce(&mut hbx_service_accounts::config::Settings),
) -> TestServer {
    TestServer::start_with_on(backend, |settings| {
        settings.webhooks.allow_loopback_http = true;
        settings.webhooks.delivery.poll_interval = Duration::from_millis(20);
        settings.webhooks.expiry_scan_interval = Duration::from_secs(1);
        adjust(settings);
    })
    .await
}

async fn owner_call(server: &TestServer, method: Method, path: &str, body: Option<Value>) -> Value {
    let answer = call(server, &server.owner_token, method, path, body).await;
    assert!(
        (200..300).contains(&answer.status),
        "{path}: {} {:?}",
        answer.status,
        answer.body
    );
    answer.body
}

/// A GitHub Actions token's claims from an owner the rule does not trust.
fn foreign_claims(issuer: &TestIssuer, server: &TestServer) -> Value {
    let now = server.now().timestamp();
    json!({
        "jti": "denied-1", "iss": issuer.issuer(),
        "aud": format!("https://api.hybridbox.io/accounts/{}", server.account_id),
        "sub": "repo:evil/api:ref:refs/heads/main", "ref": "refs/heads/main",
        "repository": "evil/api", "repository_owner": "evil", "repository_owner_id": "9999",
        "iat": now - 5, "nbf": now - 5, "exp": now + 295,
    })
}

async fn every_event_type_is_delivered_signed_and_verifiable(backend: Backend) {
    let sender = TestSender::start().await;
    let key = TestKey::rsa("gh-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let keys_url = sender.keys_url();
    let server = webhook_server(backend, |settings| {
        settings.secret_scanning.github_keys_url = Some(keys_url);
        settings.federation_allow_loopback_issuers = true;
    })
    .await;
    let receiver = Receiver::start().await;
    let gone = Receiver::scripted(Arc::new(|_, _| Reply::status(410)), Duration::ZERO).await;
    let (_, secret) = subscribe(
        &server,
        &receiver.url("/hooks"),
        &EVERY_KIND,
        Some(json!(["3m", "10s"])),
    )
    .await;
    receiver.trust(&secret);
    let (gone_id, gone_secret) =
        subscribe(&server, &gone.url("/gone"), &["token.revoked"], None).await;
    gone.trust(&gone_secret);
    // Pinged, the second subscription answers 410 and is disabled.
    let ping = owner_call(
        &server,
        Method::POST,
        &format!("{}/{}/ping", webhooks_path(&server), gone_id),
        None,
    )
    .await;
    assert!(ping["message_id"].as_str().unwrap().starts_with("msg_"));
    let account = server.account_id;
    let base = format!("/v1/public/accounts/{account}/auth");
    // A service account whose token ends in 4 minutes, rotated with a
    // minute of grace.
    let expiring = server
        .create_expiring("expiring", server.now() + TimeDelta::minutes(4))
        .await;
    let rotated = owner_call(
        &server,
        Method::POST,
        &format!(
            "{base}/service-accounts/{}/rotate?grace_period_seconds=60",
            expiring.id
        ),
        None,
    )
    .await;
    let rotated_token = rotated["token"].as_str().unwrap().to_owned();
    // A grant, given and taken back.
    let grant = json!({"grant_kind": "capability", "subject_type": "service_account",
        "subject_id": expiring.id.to_string(), "capability_key": "auth.manage"});
    let granted = owner_call(
        &server,
        Method::POST,
        &format!("{base}/authorizations"),
        Some(grant),
    )
    .await;
    let grant_id = granted["id"].as_str().unwrap();
    owner_call(
        &server,
        Method::POST,
        &format!("{base}/authorizations/{grant_id}/revoke"),
        None,
    )
    .await;
    // Federation: a provider, a rule, an exchange it refuses, the rule deleted.
    let deployer = server.create("deployer").await;
    server.grant_auth_manage(deployer.id).await;
    let provider = owner_call(
        &server,
        Method::POST,
        &format!("{base}/identity-providers"),
        Some(json!({"name": "GitHub", "issuer": issuer.issuer(), "kind": "github_actions"})),
    )
    .await;
    let rules = format!("{base}/service-accounts/{}/federation-rules", deployer.id);
    let rule = owner_call(
        &server,
        Method::POST,
        &rules,
        Some(json!({
            "identity_provider_id": provider["id"],
            "conditions": [{"claim": "repository_owner_id", "op": "eq", "value": "1001"}],
            "capabilities": ["auth.manage"],
        })),
    )
    .await;
    let form = serde_urlencoded::to_string([
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "subject_token",
            &key.sign(&foreign_claims(&issuer, &server)),
        ),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
        ("account_id", &account.to_string()),
        ("service_account_id", &deployer.id.to_string()),
    ])
    .unwrap();
    let refused = server
        .raw()
        .post(format!("{}/v1/public/auth/token", server.base_url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
    let rule_id = rule["id"].as_str().unwrap();
    owner_call(&server, Method::DELETE, &format!("{rules}/{rule_id}"), None).await;
    // A leak reported by GitHub, and a revocation asked for.
    let leaked = server.create("leaked").await;
    let report = json!([{"token": leaked.token, "type": "hbx_service_account_token",
        "url": "https://github.com/acme/api/blob/main/.env", "source": "content"}]);
    let (status, feedback) = sender
        .send_report(&server.base_url, serde_json::to_vec(&report).unwrap())
        .await;
    assert_eq!(status, 200, "{feedback}");
    let dropped = server.create("dropped").await;
    server.revoke(dropped.id).await;
    // The ends of tokens as the clock moves on.
    receiver.wait_for_type("webhook.disabled").await;
    server.clock.advance(TimeDelta::seconds(65));
    receiver.wait_for_type("token.previous_expired").await;
    receiver
        .wait_for(Duration::from_secs(20), "the 3m warning", |d| {
            d.iter().any(|d| d.body["data"]["warning"] == "3m")
        })
        .await;
    server.clock.advance(TimeDelta::seconds(165));
    receiver
        .wait_for(Duration::from_secs(20), "the 10s warning", |d| {
            d.iter().any(|d| d.body["data"]["warning"] == "10s")
        })
        .await;
    server.clock.advance(TimeDelta::seconds(15));
    receiver.wait_for_type("token.expired").await;
    let mut types: Vec<String> = receiver
        .deliveries()
        .iter()
        .map(|d| d.event_type().to_owned())
        .collect();
    types.sort();
    types.dedup();
    let mut expected = vec![
        "service_account.created",
        "token.rotated",
        "token.revoked",
        "token.leaked",
        "token.expiring",
        "token.expired",
        "token.previous_expired",
        "authorization.created",
        "authorization.revoked",
        "federation_rule.created",
        "federation_rule.deleted",
        "federation.exchange_denied",
        "webhook.disabled",
    ];
    expected.sort();
    assert_eq!(types, expected);
    // The ping went to the subscription pinged alone, which took nothing
    // after its 410.
    let to_gone: Vec<String> = gone
        .deliveries()
        .iter()
        .map(|d| d.event_type().to_owned())
        .collect();
    assert_eq!(to_gone, ["webhook.ping"]);
    let secrets = [
        expiring.token.as_str(),
        rotated_token.as_str(),
        leaked.token.as_str(),
        dropped.token.as_str(),
        secret.as_str(),
    ];
    for delivery in receiver.deliveries() {
        assert!(delivery.verified, "not verified: {:?}", delivery.body);
        assert!(delivery.body["timestamp"].is_string());
        assert!(delivery.body["data"].is_object());
        let text = delivery.body.to_string();
        for secret in secrets {
            assert!(!text.contains(secret), "a secret in {text}");
        }
    }
    let revoked: Vec<Value> = receiver
        .deliveries()
        .iter()
        .filter(|d| d.event_type() == "token.revoked")
        .map(|d| d.body["data"]["revoked_reason"].clone())
        .collect();
    assert!(
        revoked.contains(&json!("leaked")) && revoked.contains(&json!("requested")),
        "{revoked:?}"
    );
    let disabled = receiver.wait_for_type("webhook.disabled").await;
    assert_eq!(disabled.body["data"]["webhook_id"], gone_id.to_string());
    assert_eq!(disabled.body["data"]["disabled_reason"], "gone");
    let warnings: Vec<Value> = receiver
        .deliveries()
        .iter()
        .filter(|d| d.event_type() == "token.expiring")
        .map(|d| d.body["data"]["warning"].clone())
        .collect();
    assert_eq!(
        warnings,
        [json!("3m"), json!("10s")],
        "once per token and warning"
    );
    let expired = receiver.wait_for_type("token.expired").await;
    assert_eq!(
        expired.body["data"]["token_public_id"],
        public_id_of(&rotated_token)
    );
}

async fn the_secret_is_shown_once_and_a_rotation_signs_twice(backend: Backend) {
    let server = webhook_server(backend, |_| {}).await;
    let receiver = Receiver::start().await;
    let (id, first) = subscribe(&server, &receiver.url("/h"), &["webhook.*"], None).await;
    assert!(
        first.starts_with("whsec_") && first.len() == 6 + 44,
        "{first}"
    );
    let path = format!("{}/{id}", webhooks_path(&server));
    let read = owner_call(&server, Method::GET, &path, None).await;
    assert_eq!(read["enabled"], true);
    assert_eq!(read["expiry_warnings"], json!(["30d", "7d", "1d"]));
    assert!(read.get("secret").is_none());
    let listed = owner_call(&server, Method::GET, &webhooks_path(&server), None).await;
    assert!(!listed.to_string().contains(&first[6..]));
    let rotated = owner_call(
        &server,
        Method::POST,
        &format!("{path}/rotate-secret"),
        None,
    )
    .await;
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    // Verified by a receiver that knows either secret: both sign for 24 hours.
    let only_old = Receiver::start().await;
    only_old.trust(&first);
    let (_, _) = (&only_old, ());
    receiver.trust(&second);
    owner_call(&server, Method::POST, &format!("{path}/ping"), None).await;
    let delivery = receiver.wait_for_type("webhook.ping").await;
    assert!(delivery.verified);
    assert_eq!(
        delivery.signature.split(' ').count(),
        2,
        "{}",
        delivery.signature
    );
    for secret in [&first, &second] {
        let hook = standardwebhooks::Webhook::new(secret).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert("webhook-id", delivery.message_id.parse().unwrap());
        headers.insert("webhook-timestamp", delivery.timestamp.parse().unwrap());
        headers.insert("webhook-signature", delivery.signature.parse().unwrap());
        let body = delivery.raw_body.as_bytes();
        assert!(
            hook.verify(body, &headers).is_ok(),
            "signed with {}",
            &secret[..10]
        );
    }
    // After the overlap, the new secret alone.
    server
        .clock
        .advance(TimeDelta::hours(24) + TimeDelta::seconds(1));
    owner_call(&server, Method::POST, &format!("{path}/ping"), None).await;
    let later = receiver
        .wait_for(Duration::from_secs(20), "a second ping", |d| d.len() >= 2)
        .await;
    assert_eq!(later[1].signature.split(' ').count(), 1);
    let log = delivery_log(&server, &path, 2).await;
    assert_eq!(log[0]["status"], "succeeded");
    assert_eq!(log[0]["response_status"], 200);
    // Nothing in the database holds a secret in clear.
    let rows = stored_bytes(&server).await;
    for secret in [&first, &second] {
        assert!(!rows.contains(&secret[6..]), "a secret in the database");
    }
}

/// The delivery log of subscription `path` once it has `count` attempts
/// (their outcomes are written after the answer).
pub async fn delivery_log(server: &TestServer, path: &str, count: usize) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let log = owner_call(server, Method::GET, &format!("{path}/deliveries"), None).await;
        if log.as_array().unwrap().len() >= count {
            return log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{count} attempts: {log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Everything the database holds, as text.
pub async fn stored_bytes(server: &TestServer) -> String {
    match server.database_url() {
        Some(url) => crate::common::postgres::every_row(url).await,
        None => {
            let mut all = String::new();
            for file in crate::common::files_under(server.data_dir()) {
                all.push_str(&String::from_utf8_lossy(
                    &std::fs::read(file).unwrap_or_default(),
                ));
            }
            all
        }
    }
}

on_both_stores!(
    every_event_type_is_delivered_signed_and_verifiable,
    the_secret_is_shown_once_and_a_rotation_signs_twice,
);
