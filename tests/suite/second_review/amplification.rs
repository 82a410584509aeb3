//! Medium: public revocation was a 1,000× write and audit amplifier. Now a
//! request is de-duplicated first, a dead token writes nothing, a service
//! account gets at most one audit event per request, and the limiter counts
//! tokens; the partner endpoints de-duplicate and audit the same way.

use hbx_service_accounts::domain::AuditAction;
use hbx_service_accounts::service::leaks::LeakAction;
use hbx_service_accounts::token::{self, TokenPrefix};
use serde_json::{Value, json};

use crate::common::sender::TestSender;
use crate::common::{Backend, TestServer};

async fn revoke_publicly(server: &TestServer, credentials: &[String]) -> u16 {
    server
        .raw()
        .post(format!("{}/v1/public/credentials/revoke", server.base_url))
        .json(&json!({ "credentials": credentials }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn audit_rows(server: &TestServer) -> i64 {
    server.count_rows("audit_events").await
}

/// The review's measurement, repeated: one request of 1,000 copies of one
/// dead token writes no audit row; 1,000 copies of one live token revoke it
/// once, with one event.
async fn public_revocation_is_not_an_amplifier(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let dead = server.create("revoked already").await;
    server.revoke(dead.id).await;
    let before = audit_rows(&server).await;
    assert_eq!(
        revoke_publicly(&server, &vec![dead.token.clone(); 1000]).await,
        202
    );
    assert_eq!(
        audit_rows(&server).await,
        before,
        "a dead token writes nothing"
    );

    let live = server.create("live").await;
    let before = audit_rows(&server).await;
    assert_eq!(
        revoke_publicly(&server, &vec![live.token.clone(); 1000]).await,
        202
    );
    assert!(!server.authenticates(&live.token).await);
    assert_eq!(
        audit_rows(&server).await,
        before + 1,
        "revoked once, one event"
    );
    assert_eq!(server.audit_count(AuditAction::PublicRevocation).await, 1);
    // Copies that differ only by surrounding white space are the same token.
    let spaced = server.create("spaced").await;
    let copies = vec![
        spaced.token.clone(),
        format!(" {}", spaced.token),
        format!("{}\n", spaced.token),
    ];
    assert_eq!(revoke_publicly(&server, &copies).await, 202);
    assert_eq!(server.audit_count(AuditAction::PublicRevocation).await, 2);
}

/// A service account whose current and previous tokens are both sent is put
/// out of use once, with one event (the current token leaked: revoked).
async fn one_event_per_service_account_per_request(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let old = server.create("rotating").await;
    let new = server
        .owner()
        .rotate_service_account(&server.account_id, &old.id, Some(3600), None)
        .await
        .unwrap()
        .into_inner();
    let before = audit_rows(&server).await;
    let both = [old.token.clone(), new.token.clone(), old.token.clone()];
    assert_eq!(revoke_publicly(&server, &both).await, 202);
    assert!(!server.authenticates(&old.token).await);
    assert!(!server.authenticates(&new.token).await);
    assert_eq!(audit_rows(&server).await, before + 1);
}

/// The limiter counts tokens: at 10 a minute, one request carrying ten
/// distinct tokens of our form uses the whole allowance (the review's
/// amplification was 18 requests of 1,000 from a few addresses, each within
/// its 10 a minute).
async fn the_public_limiter_counts_tokens_not_requests(backend: Backend) {
    let server = TestServer::start_with_on(backend, |settings| {
        settings.secret_scanning.public_revoke_rate = "10/1m".parse().unwrap();
    })
    .await;
    let distinct: Vec<String> = (0..10)
        .map(|_| {
            token::generate(&TokenPrefix::default())
                .plaintext
                .into_exposed()
        })
        .collect();
    assert_eq!(revoke_publicly(&server, &distinct).await, 202);
    assert_eq!(revoke_publicly(&server, &distinct[..1]).await, 429);
    // Strings that are not of our form cost no lookup, and only the request.
    let other = TestServer::start_with_on(backend, |settings| {
        settings.secret_scanning.public_revoke_rate = "10/1m".parse().unwrap();
    })
    .await;
    let garbage: Vec<String> = (0..1000).map(|i| format!("not a token {i}")).collect();
    assert_eq!(revoke_publicly(&other, &garbage).await, 202);
    assert_eq!(revoke_publicly(&other, &garbage).await, 202);
    // Copies count once.
    assert_eq!(
        revoke_publicly(&other, &vec![distinct[0].clone(); 1000]).await,
        202
    );
    assert_eq!(revoke_publicly(&other, &distinct[..1]).await, 202);
}

/// The partner endpoints: a report with copies of a live token (and of a
/// dead one) labels every item, revokes once and writes one event; a
/// report of only dead tokens writes nothing.
async fn partner_reports_are_not_amplifiers(backend: Backend) {
    let sender = TestSender::start().await;
    let url = sender.keys_url();
    let server = TestServer::start_with_on(backend, move |settings| {
        settings.secret_scanning.github_keys_url = Some(url);
        settings.secret_scanning.action = LeakAction::Revoke;
    })
    .await;
    let live = server.create("live").await;
    let dead = server.create("dead").await;
    server.revoke(dead.id).await;
    let mut tokens = vec![live.token.clone(); 500];
    tokens.extend(vec![dead.token.clone(); 500]);
    let before = audit_rows(&server).await;
    let (status, feedback) = report(&server, &sender, &tokens).await;
    assert_eq!(status, 200, "{feedback}");
    let labels = feedback.as_array().unwrap();
    assert_eq!(labels.len(), 1000);
    assert!(
        labels.iter().all(|f| f["label"] == "true_positive"),
        "{feedback}"
    );
    assert!(!server.authenticates(&live.token).await);
    assert_eq!(audit_rows(&server).await, before + 1);
    let (status, _) = report(&server, &sender, &vec![dead.token.clone(); 1000]).await;
    assert_eq!(status, 200);
    assert_eq!(
        audit_rows(&server).await,
        before + 1,
        "dead tokens write nothing"
    );
}

async fn report(server: &TestServer, sender: &TestSender, tokens: &[String]) -> (u16, Value) {
    let items: Vec<Value> = tokens
        .iter()
        .map(|token| json!({ "token": token, "type": "hbx_service_account_token", "source": "content" }))
        .collect();
    let body = serde_json::to_vec(&items).unwrap();
    let (status, text) = sender.send_report(&server.base_url, body).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

on_both_stores!(
    public_revocation_is_not_an_amplifier,
    one_event_per_service_account_per_request,
    the_public_limiter_counts_tokens_not_requests,
    partner_reports_are_not_amplifiers,
);
