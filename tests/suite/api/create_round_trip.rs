//! `POST /v1/public/accounts/{account_id}/auth/service-accounts` end to end,
//! through the client generated from the checked-in document: success and every
//! error status the operation has (400, 401, 403, 404, 409). Request shapes the
//! generated client refuses to build are in `create_validation.rs`.

use crate::common::{
    Backend, TestServer, create_request, expect_error, public_id_of, secret_of, secret_start,
    with_checksum,
};
use chrono::{TimeDelta, Utc};
use hbx_service_accounts::client::types::{
    CreateServiceAccountRequest, CreateServiceAccountRequestName,
};
use hbx_service_accounts::domain::{Capability, Subject};
use hbx_service_accounts::token;
use uuid::Uuid;

async fn create_returns_every_seed_field_and_a_working_token(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let expires_at = server.now() + TimeDelta::days(30);
    let response = server
        .owner()
        .create_service_account(
            &server.account_id,
            None,
            &CreateServiceAccountRequest {
                name: "ci deploy".parse().unwrap(),
                expires_at: Some(expires_at),
            },
        )
        .await
        .expect("create succeeds");
    assert_eq!(response.status().as_u16(), 201);
    let headers = response.headers().clone();
    let created = response.into_inner();

    assert_eq!(
        headers["location"],
        format!(
            "/v1/public/accounts/{}/auth/service-accounts/{}",
            server.account_id, created.id
        )
    );
    assert_eq!(headers["cache-control"], "no-store");

    assert_eq!(created.account_id, server.account_id);
    assert_eq!(created.name, "ci deploy");
    assert_eq!(created.created_at, server.now());
    assert_eq!(created.updated_at, created.created_at);
    assert_eq!(created.expires_at, Some(expires_at));
    assert_eq!(
        created.created_by_user_id, None,
        "a service account created it"
    );
    assert_eq!(created.last_used_at, None);
    assert_eq!(created.revoked_at, None);
    assert_eq!(created.revoked_by_user_id, None);

    // The token has the documented form, and the non-secret facts agree with it.
    let token = &created.token;
    assert_eq!(token.len(), 61);
    assert!(token.starts_with("hbxsa_"));
    let parsed = token::parse(&token::TokenPrefix::default(), token).expect("documented format");
    assert_eq!(created.token_prefix, "hbxsa");
    assert_eq!(created.token_public_id, parsed.public_id());
    assert_eq!(created.token_public_id, public_id_of(token));
    assert_eq!(created.token_last4, &token[token.len() - 4..]);

    // It is stored, and the new token authenticates: with no grants it gets 403
    // in its own account (it has standing there) rather than 401.
    assert_eq!(server.service_account_count().await, 2);
    let own = server
        .client(token)
        .create_service_account(&server.account_id, None, &create_request("child"))
        .await;
    expect_error(own, 403, "forbidden");
}

async fn response_carries_nulls_explicitly(backend: Backend) {
    // Optional fields are present as null, as in the seed's example.
    let server = TestServer::start_on(backend).await;
    let response = server
        .raw()
        .post(server.create_url(server.account_id))
        .bearer_auth(&server.owner_token)
        .json(&serde_json::json!({ "name": "explicit nulls", "expires_at": null }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Map<String, serde_json::Value> = response.json().await.unwrap();
    // The seed's 14 fields, the 4 of a rotation's previous token, why it
    // was revoked, and when its own token was turned off.
    assert_eq!(body.len(), 20);
    for field in [
        "created_by_user_id",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by_user_id",
        "revoked_reason",
        "static_token_disabled_at",
        "previous_token_public_id",
        "previous_token_last4",
        "previous_token_expires_at",
        "previous_token_last_used_at",
    ] {
        assert_eq!(body[field], serde_json::Value::Null, "{field}");
    }
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
}

async fn grants_decide_403_and_standing_decides_404(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let admin = server.app.admin();
    let other = admin.create_account("other".into()).await.unwrap();

    let created = server
        .owner()
        .create_service_account(&server.account_id, None, &create_request("worker"))
        .await
        .unwrap()
        .into_inner();
    let worker = server.client(&created.token);

    // No grants: 403 at home, 404 anywhere else (existing or not).
    expect_error(
        worker
            .create_service_account(&server.account_id, None, &create_request("a"))
            .await,
        403,
        "forbidden",
    );
    let elsewhere = expect_error(
        worker
            .create_service_account(&other.id, None, &create_request("a"))
            .await,
        404,
        "not_found",
    );
    let nowhere = expect_error(
        worker
            .create_service_account(&Uuid::new_v4(), None, &create_request("a"))
            .await,
        404,
        "not_found",
    );
    assert_eq!(
        elsewhere.message, nowhere.message,
        "404s must not reveal which accounts exist"
    );

    // The owner cannot reach into another account either.
    expect_error(
        server
            .owner()
            .create_service_account(&other.id, None, &create_request("a"))
            .await,
        404,
        "not_found",
    );

    // A grant of auth.manage is enough at home; a grant cannot extend a service
    // account's reach into another account.
    admin
        .add_grant(
            server.account_id,
            Subject::ServiceAccount(created.id),
            Capability::AuthManage.into(),
        )
        .await
        .unwrap();
    let made = worker
        .create_service_account(&server.account_id, None, &create_request("made by worker"))
        .await
        .expect("auth.manage allows create");
    assert_eq!(made.status().as_u16(), 201);
    assert!(
        admin
            .add_grant(
                other.id,
                Subject::ServiceAccount(created.id),
                Capability::AuthManage.into()
            )
            .await
            .is_err()
    );
    expect_error(
        worker
            .create_service_account(&other.id, None, &create_request("b"))
            .await,
        404,
        "not_found",
    );
}

async fn duplicate_active_names_conflict(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let owner = server.owner();
    owner
        .create_service_account(&server.account_id, None, &create_request("deploy"))
        .await
        .unwrap();
    let conflict = expect_error(
        owner
            .create_service_account(&server.account_id, None, &create_request("deploy"))
            .await,
        409,
        "name_conflict",
    );
    assert!(conflict.message.contains("deploy"));
    // Names are compared exactly: case and surrounding space make a different name.
    for distinct in ["Deploy", "deploy ", "deploy2"] {
        owner
            .create_service_account(&server.account_id, None, &create_request(distinct))
            .await
            .unwrap_or_else(|e| panic!("{distinct:?}: {e:?}"));
    }
    // The same name in another account is fine.
    let other = server
        .app
        .admin()
        .bootstrap(server.app.minter(), "other".into(), "owner".into())
        .await
        .unwrap();
    server
        .client(other.owner.token.expose())
        .create_service_account(&other.account.id, None, &create_request("deploy"))
        .await
        .expect("names are per account");
    assert_eq!(server.service_account_count().await, 5);
}

async fn expiry_must_be_in_the_future(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let owner = server.owner();
    let now = server.now();
    for (label, expires_at) in [
        ("now", now),
        ("one microsecond ago", now - TimeDelta::microseconds(1)),
        ("a year ago", now - TimeDelta::days(365)),
    ] {
        let error = expect_error(
            owner
                .create_service_account(
                    &server.account_id,
                    None,
                    &CreateServiceAccountRequest {
                        name: format!("expires {label}").parse().unwrap(),
                        expires_at: Some(expires_at),
                    },
                )
                .await,
            400,
            "invalid_request",
        );
        assert!(
            error.message.contains("expires_at"),
            "{label}: {}",
            error.message
        );
    }
    let soonest = now + TimeDelta::microseconds(1);
    let created = owner
        .create_service_account(
            &server.account_id,
            None,
            &CreateServiceAccountRequest {
                name: "expires in a microsecond".parse().unwrap(),
                expires_at: Some(soonest),
            },
        )
        .await
        .expect("one microsecond ahead is the future")
        .into_inner();
    assert_eq!(created.expires_at, Some(soonest));
    assert_eq!(server.service_account_count().await, 2);
}

async fn invalid_names_that_the_client_can_send_are_400(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    for name in ["   ", "tab\tinside", "nul\u{0}", "bidi\u{202E}override"] {
        let error = expect_error(
            server
                .owner()
                .create_service_account(&server.account_id, None, &create_request(name))
                .await,
            400,
            "invalid_request",
        );
        assert!(
            error.message.contains("`name`"),
            "{name:?}: {}",
            error.message
        );
    }
    assert_eq!(server.service_account_count().await, 1);
}

#[tokio::test]
async fn the_generated_client_knows_the_length_bounds() {
    // minLength/maxLength travelled from the Rust types through the document
    // into the generated client.
    assert!(CreateServiceAccountRequestName::try_from("").is_err());
    assert!(CreateServiceAccountRequestName::try_from("x".repeat(121)).is_err());
    assert!(CreateServiceAccountRequestName::try_from("🦀".repeat(120)).is_ok());
}

async fn bad_credentials_are_401_as_rfc_6750_says(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let owner_token = server.owner_token.clone();
    let prefix = token::TokenPrefix::default();

    // No credential (or another scheme): 401 unauthenticated, a bare challenge.
    for authorization in [None, Some("Basic dXNlcjpwYXNz")] {
        let error = expect_error(
            server
                .client_with_authorization(authorization)
                .create_service_account(&server.account_id, None, &create_request("x"))
                .await,
            401,
            "unauthenticated",
        );
        assert_eq!(
            error.headers()["www-authenticate"],
            "Bearer realm=\"hybridbox\""
        );
    }

    // A token with the right public id, a different secret and a valid checksum.
    let wrong_secret = {
        let other = token::generate(&prefix).plaintext.into_exposed();
        let body = format!("{}{}", &owner_token[..secret_start()], secret_of(&other));
        with_checksum(&body)
    };
    // A well-formed token that was never issued.
    let unknown = token::generate(&prefix).plaintext.into_exposed();
    // The owner's token with its last character changed.
    let bad_checksum = {
        let mut t = owner_token.clone();
        let last = t.pop().unwrap();
        t.push(if last == 'A' { 'B' } else { 'A' });
        t
    };
    assert!(token::parse(&prefix, &wrong_secret).is_ok());

    let mut bodies = Vec::new();
    for (label, authorization) in [
        ("empty bearer", "Bearer ".to_owned()),
        ("not a token", "Bearer abc".to_owned()),
        ("truncated", format!("Bearer {}", &owner_token[..40])),
        ("bad checksum", format!("Bearer {bad_checksum}")),
        (
            "other prefix",
            format!(
                "Bearer ghp_{}",
                &owner_token[token::DEFAULT_PREFIX.len() + 1..]
            ),
        ),
        ("unknown", format!("Bearer {unknown}")),
        ("wrong secret", format!("Bearer {wrong_secret}")),
        ("two tokens", format!("Bearer {owner_token} {owner_token}")),
    ] {
        let error = expect_error(
            server
                .client_with_authorization(Some(&authorization))
                .create_service_account(&server.account_id, None, &create_request("x"))
                .await,
            401,
            "invalid_token",
        );
        assert_eq!(
            error.headers()["www-authenticate"],
            "Bearer realm=\"hybridbox\", error=\"invalid_token\"",
            "{label}"
        );
        assert!(!error.message.contains(secret_of(&owner_token)), "{label}");
        bodies.push((label, error.message.clone()));
    }
    // Unknown and wrong-secret (and every other reason) read the same.
    assert!(
        bodies.iter().all(|(_, message)| *message == bodies[0].1),
        "{bodies:?}"
    );
    assert_eq!(server.service_account_count().await, 1);

    // And the real token still works.
    server
        .owner()
        .create_service_account(&server.account_id, None, &create_request("still works"))
        .await
        .expect("the owner's token is valid");
}

async fn created_at_is_the_servers_time_in_utc(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let fixed = "2031-05-06T07:08:09.123456Z"
        .parse::<chrono::DateTime<Utc>>()
        .unwrap();
    server.clock.set(fixed);
    let created = server
        .owner()
        .create_service_account(&server.account_id, None, &create_request("clocked"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(created.created_at, fixed);
    assert_eq!(created.updated_at, fixed);
}

/// A 500 says "internal error" and nothing else: what went wrong is for the
/// log, never for the client.
async fn internal_errors_reveal_nothing(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    // A grant of a kind the service could never have written.
    server
        .run_sql(
            "UPDATE authorizations SET grant_kind = 'NOT A KIND' WHERE account_id = $1",
            &[server.account_id],
        )
        .await;
    let error = expect_error(
        server
            .owner()
            .list_service_accounts(&server.account_id, None, None, None)
            .await,
        500,
        "internal",
    );
    assert_eq!(error.message, "internal error");
    let log = server.log_once_it_holds("NOT A KIND").await;
    assert!(
        log.contains("NOT A KIND"),
        "the log says what went wrong: {log}"
    );
    assert_eq!(server.service_account_count().await, 1, "nothing changed");
}

#[tokio::test]
async fn a_database_that_cannot_be_written_is_503_then_recovers() {
    use sqlx::Connection;
    let server = TestServer::start_with(|settings| {
        settings.database_timeout = std::time::Duration::from_millis(200);
    })
    .await;
    // Another process holds SQLite's write lock for longer than the timeout.
    let mut blocker =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", server.database_path().display()))
            .await
            .unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let error = expect_error(
        server
            .owner()
            .create_service_account(&server.account_id, None, &create_request("blocked"))
            .await,
        503,
        "unavailable",
    );
    assert!(error.message.contains("retry"));
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();

    // Nothing was half-written, and the same server works again.
    assert_eq!(server.service_account_count().await, 1);
    server
        .owner()
        .create_service_account(&server.account_id, None, &create_request("blocked"))
        .await
        .expect("the lock is gone");
}

on_every_store!(
    create_returns_every_seed_field_and_a_working_token,
    response_carries_nulls_explicitly,
    grants_decide_403_and_standing_decides_404,
    duplicate_active_names_conflict,
    expiry_must_be_in_the_future,
    invalid_names_that_the_client_can_send_are_400,
    bad_credentials_are_401_as_rfc_6750_says,
    created_at_is_the_servers_time_in_utc,
    internal_errors_reveal_nothing,
);
