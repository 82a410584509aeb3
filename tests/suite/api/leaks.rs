//! Leaked tokens (contract §10) on both stores: reports signed by a stand-in
//! secret-scanning partner (keys generated here, published on 127.0.0.1),
//! their labels and what they do; every way a report's signature can be
//! wrong; the notify-only action; a leaked previous token; a thousand tokens
//! in one report; and the public revocation endpoint: one answer for all,
//! only live tokens revoked, rate-limited per client address, with
//! `X-Forwarded-For` believed only from trusted proxies.

use std::time::Instant;

use base64::Engine as _;
use hbx_service_accounts::auth::published::MAX_DOCUMENT_BYTES;
use hbx_service_accounts::client::types::{
    PublicRevocationRequest, ReportedToken, ServiceAccountRevokedReason as RevokedReason,
    TokenLabel,
};
use hbx_service_accounts::domain::{AuditAction, AuditDetail, AuditEvent};
use hbx_service_accounts::service::leaks::LeakAction;
use hbx_service_accounts::token::{self, TokenPrefix};
use serde_json::{Value, json};
use sha2::Digest;

use crate::common::sender::TestSender;
use crate::common::{Backend, TestServer, expect_error, public_id_of};

/// A server taking reports from `sender` as both GitHub and GitLab.
async fn server_for(backend: Backend, sender: &TestSender, action: LeakAction) -> TestServer {
    let url = sender.keys_url();
    TestServer::start_with_on(backend, move |settings| {
        settings.secret_scanning.github_keys_url = Some(url.clone());
        settings.secret_scanning.gitlab_keys_url = Some(url);
        settings.secret_scanning.action = action;
    })
    .await
}

fn item(token: &str) -> Value {
    json!({
        "token": token,
        "type": "hbx_service_account_token",
        "url": "https://github.com/octo-org/octo-repo/blob/abc123/config.env",
        "source": "content",
    })
}

/// Posts `body` to a partner endpoint with exactly these header values.
async fn post_report(
    server: &TestServer,
    partner: &str,
    body: &[u8],
    key_id: Option<&str>,
    signature: Option<&str>,
) -> (u16, Value) {
    let capitalized = if partner == "github" {
        "Github"
    } else {
        "Gitlab"
    };
    let mut request = server
        .raw()
        .post(format!(
            "{}/v1/public/secret-scanning/{partner}",
            server.base_url
        ))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(key_id) = key_id {
        request = request.header(format!("{capitalized}-Public-Key-Identifier"), key_id);
    }
    if let Some(signature) = signature {
        request = request.header(format!("{capitalized}-Public-Key-Signature"), signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A report of `tokens`, signed by `sender`: status and feedback.
async fn report(
    server: &TestServer,
    sender: &TestSender,
    partner: &str,
    tokens: &[&str],
) -> (u16, Value) {
    let body = serde_json::to_vec(&tokens.iter().map(|t| item(t)).collect::<Vec<_>>()).unwrap();
    post_report(
        server,
        partner,
        &body,
        Some("key-1"),
        Some(&sender.sign(&body)),
    )
    .await
}

fn sha256_hex(text: &str) -> String {
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A token of our form and checksum that was never issued.
fn unknown_token() -> String {
    token::generate(&TokenPrefix::default())
        .plaintext
        .into_exposed()
}

fn bad_checksum(token: &str) -> String {
    let mut forged = token.to_owned();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    forged
}

async fn leak_events(server: &TestServer) -> Vec<AuditEvent> {
    server
        .app
        .store()
        .audit_events(server.account_id)
        .await
        .unwrap()
        .into_iter()
        .filter(|event| {
            matches!(
                event.action,
                AuditAction::LeakReport | AuditAction::PublicRevocation
            )
        })
        .collect()
}

fn leak_detail(event: &AuditEvent) -> (String, String, Option<String>, Option<String>, bool) {
    match &event.detail {
        Some(AuditDetail::Leak {
            reporter,
            token_public_id,
            source,
            url,
            revoked,
        }) => (
            reporter.clone(),
            token_public_id.clone(),
            source.clone(),
            url.clone(),
            *revoked,
        ),
        other => panic!("not a leak: {other:?}"),
    }
}

async fn a_reported_live_token_is_revoked(backend: Backend) {
    let sender = TestSender::start().await;
    let server = server_for(backend, &sender, LeakAction::Revoke).await;
    let leaked = server.create("leaked").await;
    server.grant_auth_manage(leaked.id).await;
    let bystander = server.create("bystander").await;
    let gone = server.create("revoked before").await;
    server.revoke(gone.id).await;
    assert!(server.authenticates(&leaked.token).await, "warm");
    let unknown = unknown_token();
    let forged = bad_checksum(&bystander.token);
    let reported = [
        leaked.token.as_str(),
        unknown.as_str(),
        forged.as_str(),
        gone.token.as_str(),
        "not a token at all",
    ];
    let (status, feedback) = report(&server, &sender, "github", &reported).await;
    assert_eq!(status, 200, "{feedback}");
    let labels: Vec<&str> = feedback
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        [
            "true_positive",
            "false_positive",
            "false_positive",
            "true_positive",
            "false_positive"
        ]
    );
    for (answer, token) in feedback.as_array().unwrap().iter().zip(reported) {
        assert_eq!(answer["token_hash"], sha256_hex(token));
        assert_eq!(answer["token_type"], "hbx_service_account_token");
    }
    // The leaked token fails at once; its service account says why.
    assert!(!server.authenticates(&leaked.token).await);
    let seen = server
        .owner()
        .get_service_account(&server.account_id, &leaked.id)
        .await
        .unwrap()
        .into_inner();
    assert!(seen.revoked_at.is_some());
    assert_eq!(seen.revoked_reason, Some(RevokedReason::Leaked));
    assert_eq!(seen.revoked_by_user_id, None);
    let revoked_before = server
        .owner()
        .get_service_account(&server.account_id, &gone.id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        revoked_before.revoked_reason,
        Some(RevokedReason::Requested)
    );
    // The others are untouched.
    assert!(server.authenticates(&bystander.token).await);
    // Audited: the live one revoked, with where it was found. The one
    // revoked before is a true positive too, but a dead token writes
    // nothing (the second review: reports of dead tokens amplified writes).
    let events = leak_events(&server).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let (reporter, public_id, source, url, revoked) = leak_detail(&events[0]);
    assert_eq!(events[0].service_account_id, Some(leaked.id));
    assert_eq!(events[0].action, AuditAction::LeakReport);
    assert_eq!(reporter, "github");
    assert_eq!(public_id, public_id_of(&leaked.token));
    assert_eq!(source.as_deref(), Some("content"));
    assert!(url.unwrap().starts_with("https://github.com/octo-org/"));
    assert!(revoked);
    // Reporting it again: still a true positive, nothing more to revoke.
    let (_, again) = report(&server, &sender, "github", &[&leaked.token]).await;
    assert_eq!(again[0]["label"], "true_positive");

    // Through the generated client, as GitLab.
    let body = vec![ReportedToken {
        token: bystander.token.clone(),
        type_: Some("hbx_service_account_token".into()),
        url: Some("https://gitlab.com/group/project/-/blob/main/.env".into()),
        source: Some("commit".into()),
    }];
    let signature = sender.sign(&serde_json::to_vec(&body).unwrap());
    let feedback = server
        .client_with_authorization(None)
        .report_gitlab_leaks("key-1", &signature, &body)
        .await
        .expect("a signed report")
        .into_inner();
    assert_eq!(feedback[0].label, TokenLabel::TruePositive);
    assert!(!server.authenticates(&bystander.token).await);
    let gitlab = leak_events(&server).await;
    assert_eq!(leak_detail(gitlab.last().unwrap()).0, "gitlab");
}

async fn bad_signatures_change_nothing(backend: Backend) {
    let sender = TestSender::start().await;
    let server = server_for(backend, &sender, LeakAction::Revoke).await;
    let target = server.create("target").await;
    let body = serde_json::to_vec(&[item(&target.token)]).unwrap();
    let other_body = serde_json::to_vec(&[item("something else")]).unwrap();
    let signature = sender.sign(&body);
    let cases: Vec<(&str, Option<&str>, Option<String>)> = vec![
        ("no headers", None, None),
        ("no signature", Some("key-1"), None),
        ("no key identifier", None, Some(signature.clone())),
        (
            "the signature of another body",
            Some("key-1"),
            Some(sender.sign(&other_body)),
        ),
        ("not base64", Some("key-1"), Some("!!!".into())),
        (
            "not DER",
            Some("key-1"),
            Some(base64::engine::general_purpose::STANDARD.encode(b"garbage")),
        ),
        ("an unknown key", Some("key-9"), Some(signature.clone())),
    ];
    for (case, key_id, signature) in &cases {
        let (status, error) =
            post_report(&server, "github", &body, *key_id, signature.as_deref()).await;
        assert_eq!(status, 401, "{case}: {error}");
        assert_eq!(error["error_code"], "invalid_signature", "{case}");
        assert!(
            !error["message"].as_str().unwrap().contains(&target.token),
            "{case}"
        );
    }
    // A tampered body with a good signature.
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let (status, _) = post_report(
        &server,
        "github",
        &tampered,
        Some("key-1"),
        Some(&signature),
    )
    .await;
    assert_eq!(status, 401, "a body changed after signing");
    // Nothing changed.
    assert!(server.authenticates(&target.token).await);
    assert!(leak_events(&server).await.is_empty());
    // The unknown key made one fetch (plus the first), no more: refetching
    // is limited to once a minute.
    let fetched = sender.fetches();
    assert!(fetched <= 2, "{fetched} fetches");
    let (status, _) = post_report(&server, "github", &body, Some("key-8"), Some(&signature)).await;
    assert_eq!(status, 401);
    assert_eq!(sender.fetches(), fetched, "no refetch within the minute");

    // A server that takes no GitLab reports refuses them all.
    let github_only = {
        let url = sender.keys_url();
        TestServer::start_with_on(backend, move |settings| {
            settings.secret_scanning.github_keys_url = Some(url);
            settings.secret_scanning.gitlab_keys_url = None;
        })
        .await
    };
    let (status, error) = post_report(
        &github_only,
        "gitlab",
        &body,
        Some("key-1"),
        Some(&signature),
    )
    .await;
    assert_eq!(status, 401);
    assert!(
        error["message"].as_str().unwrap().contains("gitlab"),
        "{error}"
    );
}

/// The partner publishes a new key: a report signed with it is accepted
/// after one refetch.
async fn a_new_sender_key_is_fetched(backend: Backend) {
    let sender = TestSender::start().await;
    let url = sender.keys_url();
    // Refetching right away (the default waits a minute between fetches).
    let server = TestServer::start_with_on(backend, move |settings| {
        settings.secret_scanning.github_keys_url = Some(url);
        settings.secret_scanning.keys_refetch_interval = std::time::Duration::ZERO;
    })
    .await;
    let warm = unknown_token();
    let (status, _) = report(&server, &sender, "github", &[&warm]).await;
    assert_eq!(status, 200);
    sender.publish("key-2");
    let target = server.create("target").await;
    let body = serde_json::to_vec(&[item(&target.token)]).unwrap();
    let (status, feedback) = post_report(
        &server,
        "github",
        &body,
        Some("key-2"),
        Some(&sender.sign_with("key-2", &body)),
    )
    .await;
    assert_eq!(status, 200, "{feedback}");
    assert_eq!(feedback[0]["label"], "true_positive");
    assert_eq!(sender.fetches(), 2, "one fetch, then one for the new key");
}

/// A partner's key document is read whole but never beyond the bound: one
/// over it is not read (the report cannot be checked: 503, nothing revoked),
/// the same keys under it are.
#[tokio::test]
async fn a_key_document_over_the_bound_is_not_read() {
    let sender = TestSender::start().await;
    let url = sender.keys_url();
    let server = TestServer::start_with_on(Backend::Sqlite, move |settings| {
        settings.secret_scanning.github_keys_url = Some(url);
        settings.secret_scanning.keys_refetch_interval = std::time::Duration::ZERO;
    })
    .await;
    let leaked = server.create("leaked").await;

    sender.pad(MAX_DOCUMENT_BYTES);
    let (status, body) = report(&server, &sender, "github", &[&leaked.token]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error_code"], "unavailable");
    assert!(server.authenticates(&leaked.token).await, "nothing revoked");

    sender.pad(MAX_DOCUMENT_BYTES - 64 * 1024);
    let (status, feedback) = report(&server, &sender, "github", &[&leaked.token]).await;
    assert_eq!(status, 200, "{feedback}");
    assert_eq!(feedback[0]["label"], "true_positive");
    assert!(!server.authenticates(&leaked.token).await, "revoked");
}

async fn notify_only_records(backend: Backend) {
    let sender = TestSender::start().await;
    let server = server_for(backend, &sender, LeakAction::Notify).await;
    let leaked = server.create("leaked").await;
    let (status, feedback) = report(&server, &sender, "github", &[&leaked.token]).await;
    assert_eq!(status, 200);
    assert_eq!(feedback[0]["label"], "true_positive");
    assert!(server.authenticates(&leaked.token).await, "not revoked");
    let events = leak_events(&server).await;
    assert_eq!(events.len(), 1);
    assert!(!leak_detail(&events[0]).4, "recorded, not revoked");
}

/// A previous token in its grace period leaked: it is retired; the current
/// token, which did not leak, goes on working.
async fn a_leaked_previous_token_is_retired(backend: Backend) {
    let sender = TestSender::start().await;
    let server = server_for(backend, &sender, LeakAction::Revoke).await;
    let old = server.create("rotating").await;
    let new = server
        .owner()
        .rotate_service_account(&server.account_id, &old.id, Some(3600), None)
        .await
        .unwrap()
        .into_inner();
    let (_, feedback) = report(&server, &sender, "github", &[&old.token]).await;
    assert_eq!(feedback[0]["label"], "true_positive");
    assert!(!server.authenticates(&old.token).await);
    assert!(server.authenticates(&new.token).await);
    let seen = server
        .owner()
        .get_service_account(&server.account_id, &old.id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.revoked_at, None);
    assert_eq!(seen.previous_token_public_id, None);
    let events = leak_events(&server).await;
    assert_eq!(leak_detail(&events[0]).1, public_id_of(&old.token));
}

/// A thousand tokens in one signed report: answered well within a sender's
/// 30-second window (measured and printed, not asserted as a timing).
async fn a_thousand_tokens_in_one_report(backend: Backend) {
    let sender = TestSender::start().await;
    let server = server_for(backend, &sender, LeakAction::Revoke).await;
    let mut live = Vec::new();
    for i in 0..20 {
        live.push(server.create(&format!("leaked {i}")).await.token);
    }
    let unknown: Vec<String> = (0..980).map(|_| unknown_token()).collect();
    let tokens: Vec<&str> = live
        .iter()
        .chain(unknown.iter())
        .map(String::as_str)
        .collect();
    assert_eq!(tokens.len(), 1000);
    let started = Instant::now();
    let (status, feedback) = report(&server, &sender, "github", &tokens).await;
    let took = started.elapsed();
    println!(
        "{backend:?}: a report of 1000 tokens (20 live) answered in {} ms",
        took.as_millis()
    );
    assert_eq!(status, 200);
    let positives = feedback
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["label"] == "true_positive")
        .count();
    assert_eq!(positives, 20);
    for token in &live {
        assert!(!server.authenticates(token).await);
    }
    // One more is too many: 400, nothing done.
    let extra = server.create("not reported").await;
    let mut too_many = tokens.clone();
    too_many.push(&extra.token);
    let (status, error) = report(&server, &sender, "github", &too_many).await;
    assert_eq!(status, 400, "{error}");
    assert!(server.authenticates(&extra.token).await);
}

/// Public revocation: the same 202 for every kind of string, only the live
/// token revoked (`reported`), audited with the client's address.
async fn public_revocation_says_nothing_and_revokes_live_tokens(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let live = server.create("live").await;
    let revoked = server.create("revoked").await;
    server.revoke(revoked.id).await;
    let unknown = unknown_token();
    let mut answers = Vec::new();
    for credentials in [
        vec![unknown.clone()],
        vec![revoked.token.clone()],
        vec!["hbxsa_malformed".to_owned(), String::new()],
        vec![bad_checksum(&live.token)],
        vec![live.token.clone()],
    ] {
        let response = server
            .raw()
            .post(format!("{}/v1/public/credentials/revoke", server.base_url))
            .json(&json!({ "credentials": credentials }))
            .send()
            .await
            .unwrap();
        answers.push((response.status().as_u16(), response.bytes().await.unwrap()));
    }
    for (status, body) in &answers {
        assert_eq!(*status, 202);
        assert_eq!(body, &answers[0].1, "the same answer for every case");
    }
    assert!(!server.authenticates(&live.token).await);
    let seen = server
        .owner()
        .get_service_account(&server.account_id, &live.id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(seen.revoked_reason, Some(RevokedReason::Reported));
    let still_revoked = server
        .owner()
        .get_service_account(&server.account_id, &revoked.id)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(still_revoked.revoked_reason, Some(RevokedReason::Requested));
    let events = leak_events(&server).await;
    let live_events: Vec<_> = events
        .iter()
        .filter(|e| e.service_account_id == Some(live.id))
        .collect();
    assert_eq!(live_events.len(), 1);
    assert_eq!(live_events[0].action, AuditAction::PublicRevocation);
    let (reporter, _, source, _, revoked_now) = leak_detail(live_events[0]);
    assert_eq!(
        (reporter.as_str(), source.as_deref(), revoked_now),
        ("public", Some("127.0.0.1"), true)
    );
    // Through the generated client.
    let other = server.create("other").await;
    let receipt = server
        .client_with_authorization(None)
        .revoke_credentials(&PublicRevocationRequest {
            credentials: vec![other.token.clone()],
        })
        .await
        .unwrap();
    assert_eq!(receipt.status().as_u16(), 202);
    assert!(!server.authenticates(&other.token).await);
    // Too many, or not the shape asked for: 400.
    let too_many: Vec<String> = (0..1001).map(|_| unknown.clone()).collect();
    for body in [
        json!({ "credentials": too_many }),
        json!({ "tokens": [unknown] }),
        json!([unknown]),
    ] {
        let response = server
            .raw()
            .post(format!("{}/v1/public/credentials/revoke", server.base_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400);
    }
}

async fn public_revocation_is_rate_limited_per_client(backend: Backend) {
    let limited = |trusted: &'static str| {
        move |settings: &mut hbx_service_accounts::config::Settings| {
            settings.secret_scanning.public_revoke_rate = "3/1m".parse().unwrap();
            settings.secret_scanning.trusted_proxies = if trusted.is_empty() {
                vec![]
            } else {
                vec![trusted.parse().unwrap()]
            };
        }
    };
    let send = async |server: &TestServer, forwarded: Option<&str>| {
        let mut request = server
            .raw()
            .post(format!("{}/v1/public/credentials/revoke", server.base_url))
            .json(&json!({ "credentials": ["x"] }));
        if let Some(forwarded) = forwarded {
            request = request.header("x-forwarded-for", forwarded);
        }
        let response = request.send().await.unwrap();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        (response.status().as_u16(), retry_after)
    };
    // Not behind a trusted proxy: X-Forwarded-For is ignored, so changing it
    // does not get around the limit.
    let server = TestServer::start_with_on(backend, limited("")).await;
    for i in 0..3 {
        assert_eq!(send(&server, Some(&format!("198.51.100.{i}"))).await.0, 202);
    }
    let (status, retry_after) = send(&server, Some("198.51.100.99")).await;
    assert_eq!(status, 429);
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=20).contains(&seconds), "{seconds}");
    expect_error(
        server
            .client_with_authorization(None)
            .revoke_credentials(&PublicRevocationRequest {
                credentials: vec![],
            })
            .await,
        429,
        "rate_limited",
    );

    // Behind a trusted proxy (this test's loopback): each forwarded client
    // has its own allowance, and the proxy itself one more.
    let proxied = TestServer::start_with_on(backend, limited("127.0.0.1")).await;
    for _ in 0..3 {
        assert_eq!(send(&proxied, Some("198.51.100.1")).await.0, 202);
    }
    assert_eq!(send(&proxied, Some("198.51.100.1")).await.0, 429);
    assert_eq!(
        send(&proxied, Some("6.6.6.6, 198.51.100.1")).await.0,
        429,
        "a forged left part changes nothing"
    );
    assert_eq!(send(&proxied, Some("198.51.100.2")).await.0, 202);
    assert_eq!(send(&proxied, None).await.0, 202);
}

on_both_stores!(
    a_reported_live_token_is_revoked,
    bad_signatures_change_nothing,
    a_new_sender_key_is_fetched,
    notify_only_records,
    a_leaked_previous_token_is_retired,
    a_thousand_tokens_in_one_report,
    public_revocation_says_nothing_and_revokes_live_tokens,
    public_revocation_is_rate_limited_per_client,
);
