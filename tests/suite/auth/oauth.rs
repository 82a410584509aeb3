//! Users as callers: OAuth access tokens from an issuer running on 127.0.0.1
//! with keys generated here, checked for signature, issuer, audience, expiry,
//! not-before and subject; key rotation without restart; grants for users; and
//! development mode.

use crate::common::issuer::{
    AUDIENCE, TestIssuer, TestKey, bad_access_tokens, claims, server_trusting,
};
use crate::common::{Backend, TestServer, create_request, expect_error};
use chrono::{TimeDelta, Utc};
use hbx_service_accounts::auth::oauth::IssuerSettings;
use hbx_service_accounts::auth::oauth::dev::{self, DevKey};
use hbx_service_accounts::auth::oauth::keys::JwksLocation;
use hbx_service_accounts::domain::{Capability, CapabilityKey, Subject};
use serde_json::{Value, json};
use uuid::Uuid;

async fn grant(server: &TestServer, user: Uuid, key: &str) {
    server
        .app
        .admin()
        .add_grant(
            server.account_id,
            Subject::user(user),
            CapabilityKey::parse(key).unwrap(),
        )
        .await
        .unwrap();
}

async fn users_with_grants_create_and_revoke(backend: Backend) {
    let keys = [
        TestKey::rsa("rsa-1"),
        TestKey::p256("ec-1"),
        TestKey::ed25519("ed-1"),
    ];
    let issuer = TestIssuer::start(&keys.iter().collect::<Vec<_>>()).await;
    let server = server_trusting(backend, &issuer, JwksLocation::Discover).await;
    let user = Uuid::new_v4();
    grant(&server, user, Capability::AuthManage.as_str()).await;

    for key in &keys {
        let token = key.sign(&claims(&server, &issuer, user));
        let as_user = server.client(&token);
        let created = as_user
            .create_service_account(
                &server.account_id,
                None,
                &create_request(&format!("by {}", key.kid)),
            )
            .await
            .unwrap_or_else(|e| panic!("{:?} token: {e:?}", key.algorithm))
            .into_inner();
        assert_eq!(created.created_by_user_id, Some(user));
        let revoked = as_user
            .revoke_service_account(&server.account_id, &created.id)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(revoked.revoked_by_user_id, Some(user));
    }
    let events = server
        .app
        .store()
        .audit_events(server.account_id)
        .await
        .unwrap();
    let by_user = events
        .iter()
        .filter(|e| e.actor == hbx_service_accounts::domain::Actor::User(user))
        .count();
    assert_eq!(
        by_user, 6,
        "three creates and three revokes, recorded as the user"
    );
    // Discovery fetched the keys once and kept them.
    assert_eq!(issuer.jwks_fetches(), 1);
}

async fn every_bad_token_is_401_invalid_token(backend: Backend) {
    let key = TestKey::rsa("rsa-1");
    let issuer = TestIssuer::start(&[&key]).await;
    let server = server_trusting(backend, &issuer, JwksLocation::JwksUrl(issuer.jwks_url())).await;
    let user = Uuid::new_v4();
    grant(&server, user, "auth.manage").await;
    // Sanity: a good token works (and the keys are fetched for it).
    server
        .client(&key.sign(&claims(&server, &issuer, user)))
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .expect("a valid user token");
    // Past the refetch interval, so that the unknown kid below can trigger one.
    server.clock.advance(TimeDelta::seconds(10));
    let fetches_before = issuer.jwks_fetches();
    let cases = bad_access_tokens(&server, &issuer, &key, user);
    let good = claims(&server, &issuer, user);
    let now = server.now().timestamp();
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        change(&mut claims);
        claims
    };
    for (case, token) in &cases {
        let error = expect_error(
            server
                .client(token)
                .list_service_accounts(&server.account_id, None, None, None)
                .await,
            401,
            "invalid_token",
        );
        assert_eq!(
            error.headers()["www-authenticate"],
            "Bearer realm=\"hybridbox\", error=\"invalid_token\"",
            "{case}"
        );
    }
    // The unknown kid made the server look once more, not once per attempt.
    assert_eq!(issuer.jwks_fetches(), fetches_before + 1);

    // Inside the leeway both ways: accepted.
    for case in [
        with(&|c| c["exp"] = json!(now - 29)),
        with(&|c| c["nbf"] = json!(now + 29)),
    ] {
        server
            .client(&key.sign(&case))
            .list_service_accounts(&server.account_id, None, None, None)
            .await
            .expect("within the leeway");
    }
    // At the leeway's edge, to the microsecond: a token is good from the
    // instant `nbf` less the leeway, and no longer at `exp` plus it.
    let whole_second = chrono::DateTime::from_timestamp(now + 1, 0).unwrap();
    server.clock.set(whole_second);
    let at = whole_second.timestamp();
    let leeway = hbx_service_accounts::auth::oauth::DEFAULT_LEEWAY.num_seconds();
    server
        .client(&key.sign(&with(&|c| c["nbf"] = json!(at + leeway))))
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .expect("good from nbf less the leeway");
    expect_error(
        server
            .client(&key.sign(&with(&|c| c["exp"] = json!(at - leeway))))
            .list_service_accounts(&server.account_id, None, None, None)
            .await,
        401,
        "invalid_token",
    );
    // Users' authentications are counted under their own kind.
    let metrics = server.scrape_metrics().await;
    assert!(
        metrics.contains(r#"hbx_sa_authentications_total{kind="user",outcome="ok""#),
        "{metrics}"
    );
}

async fn a_new_signing_key_is_picked_up_without_a_restart(backend: Backend) {
    let first = TestKey::ed25519("2026-11");
    let issuer = TestIssuer::start(&[&first]).await;
    let server = server_trusting(backend, &issuer, JwksLocation::Discover).await;
    let user = Uuid::new_v4();
    grant(&server, user, "auth.manage").await;
    server
        .client(&first.sign(&claims(&server, &issuer, user)))
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .expect("the first key");
    assert_eq!(issuer.jwks_fetches(), 1);

    // The issuer rotates: it publishes a new key and signs with it.
    let second = TestKey::p256("2026-12");
    issuer.publish(&second);
    server.clock.advance(TimeDelta::seconds(10));
    let rotated = second.sign(&claims(&server, &issuer, user));
    server
        .client(&rotated)
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .expect("the new key, fetched on first sight");
    assert_eq!(issuer.jwks_fetches(), 2);

    // Garbage kids cannot make it hammer the issuer: within the interval, no
    // further fetches; after it, one.
    let garbage = TestKey::ed25519("garbage");
    for _ in 0..20 {
        expect_error(
            server
                .client(&garbage.sign(&claims(&server, &issuer, user)))
                .list_service_accounts(&server.account_id, None, None, None)
                .await,
            401,
            "invalid_token",
        );
    }
    assert_eq!(issuer.jwks_fetches(), 2);
    server.clock.advance(TimeDelta::seconds(10));
    for _ in 0..20 {
        let _ = server
            .client(&garbage.sign(&claims(&server, &issuer, user)))
            .list_service_accounts(&server.account_id, None, None, None)
            .await;
    }
    assert_eq!(issuer.jwks_fetches(), 3);
    // The first key still works throughout.
    server
        .client(&first.sign(&claims(&server, &issuer, user)))
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .expect("the first key");
}

async fn grants_decide_404_and_403_for_users(backend: Backend) {
    let key = TestKey::ed25519("ed");
    let issuer = TestIssuer::start(&[&key]).await;
    let server = server_trusting(backend, &issuer, JwksLocation::JwksUrl(issuer.jwks_url())).await;
    let stranger = Uuid::new_v4();
    expect_error(
        server
            .client(&key.sign(&claims(&server, &issuer, stranger)))
            .create_service_account(&server.account_id, None, &create_request("x"))
            .await,
        404,
        "not_found",
    );
    let reader = Uuid::new_v4();
    grant(&server, reader, "billing.read").await;
    expect_error(
        server
            .client(&key.sign(&claims(&server, &issuer, reader)))
            .create_service_account(&server.account_id, None, &create_request("x"))
            .await,
        403,
        "forbidden",
    );
    let owner = Uuid::new_v4();
    grant(&server, owner, "account_owner").await;
    server
        .client(&key.sign(&claims(&server, &issuer, owner)))
        .create_service_account(&server.account_id, None, &create_request("x"))
        .await
        .expect("ownership implies auth.manage");
}

on_both_stores!(
    users_with_grants_create_and_revoke,
    every_bad_token_is_401_invalid_token,
    a_new_signing_key_is_picked_up_without_a_restart,
    grants_decide_404_and_403_for_users,
);

#[tokio::test]
async fn an_unreachable_issuer_never_touches_service_account_tokens() {
    // Nothing listens where the keys are said to be.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let server = TestServer::start_with(|settings| {
        settings.oauth.issuers.push(IssuerSettings {
            issuer: format!("http://{closed}"),
            audiences: vec![AUDIENCE.into()],
            keys: JwksLocation::Discover,
        });
    })
    .await;
    // The server started; service-account tokens work.
    assert!(server.authenticates(&server.owner_token).await);
    let key = TestKey::ed25519("k");
    let token = key.sign(&json!({
        "iss": format!("http://{closed}"), "aud": AUDIENCE, "sub": Uuid::new_v4().to_string(),
        "exp": Utc::now().timestamp() + 300,
    }));
    // A user token cannot be checked: 503, "retry later", not a verdict.
    expect_error(
        server
            .client(&token)
            .list_service_accounts(&server.account_id, None, None, None)
            .await,
        503,
        "unavailable",
    );
    assert!(server.authenticates(&server.owner_token).await);
}

#[tokio::test]
async fn keys_can_come_from_a_file() {
    let key = TestKey::p256("file-key");
    let dir = tempfile::tempdir().unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, json!({ "keys": [key.jwk] }).to_string()).unwrap();
    let issuer = "https://idp.example/realms/hybridbox".to_owned();
    let server = TestServer::start_with(|settings| {
        settings.oauth.issuers.push(IssuerSettings {
            issuer: issuer.clone(),
            audiences: vec![AUDIENCE.into()],
            keys: JwksLocation::JwksFile(jwks.clone()),
        });
    })
    .await;
    let user = Uuid::new_v4();
    grant(&server, user, "auth.manage").await;
    let now = server.now().timestamp();
    let token = key
        .sign(&json!({"iss": issuer, "aud": AUDIENCE, "sub": user.to_string(), "exp": now + 60}));
    server
        .client(&token)
        .list_service_accounts(&server.account_id, None, None, None)
        .await
        .expect("verified with the key from the file");
}

#[tokio::test]
async fn development_tokens_work_only_in_development_mode() {
    let user = Uuid::new_v4();
    let production = TestServer::start().await;
    let key = DevKey::load_or_create(production.data_dir()).unwrap();
    let token = key
        .token(user, &[], production.now(), TimeDelta::hours(1))
        .unwrap();
    grant(&production, user, "auth.manage").await;
    expect_error(
        production
            .client(&token)
            .list_service_accounts(&production.account_id, None, None, None)
            .await,
        401,
        "invalid_token",
    );

    let development = TestServer::start_with(|settings| settings.oauth_dev = true).await;
    let key = DevKey::load_or_create(development.data_dir()).unwrap();
    grant(&development, user, "auth.manage").await;
    let token = key
        .token(user, &[], development.now(), TimeDelta::hours(1))
        .unwrap();
    let created = development
        .client(&token)
        .create_service_account(
            &development.account_id,
            None,
            &create_request("made in dev"),
        )
        .await
        .expect("the development token is trusted")
        .into_inner();
    assert_eq!(created.created_by_user_id, Some(user));
    // Short-lived: an hour later it is refused.
    development
        .clock
        .advance(TimeDelta::hours(1) + TimeDelta::seconds(31));
    expect_error(
        development
            .client(&token)
            .list_service_accounts(&development.account_id, None, None, None)
            .await,
        401,
        "invalid_token",
    );
    assert!(
        key.token(user, &[], development.now(), TimeDelta::hours(25))
            .is_err()
    );
    assert!(dev::ISSUER.starts_with("urn:"));
}

#[tokio::test]
async fn development_mode_cannot_sit_beside_a_real_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = hbx_service_accounts::config::Settings::in_dir(dir.path());
    settings.oauth_dev = true;
    settings.oauth.issuers.push(IssuerSettings {
        issuer: "https://sso.example/realms/hybridbox".into(),
        audiences: vec![AUDIENCE.into()],
        keys: JwksLocation::Discover,
    });
    let clock = std::sync::Arc::new(hbx_service_accounts::clock::SystemClock);
    let error = hbx_service_accounts::app::App::open(&settings, clock, &crate::common::quiet_log())
        .await
        .err()
        .expect("refused");
    assert!(error.to_string().contains("cannot be combined"), "{error}");
}
