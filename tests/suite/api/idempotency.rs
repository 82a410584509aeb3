//! Safe retries (contract §9) end to end, on both stores: a create or rotate
//! retried with the same `Idempotency-Key` gets the first answer again, token
//! included, with `Idempotent-Replayed: true`, and changes nothing; the same
//! key with another request is 422; concurrent attempts run once; keys are
//! scoped to the caller, the operation and the path; refusals after the
//! operation ran are replayed, failures before it are not recorded; records
//! expire and are deleted.

use chrono::TimeDelta;
use futures::future::join_all;
use hbx_service_accounts::client::types::{
    CreateServiceAccountIdempotencyKey, CreateServiceAccountRequest,
    RotateServiceAccountIdempotencyKey, ServiceAccountWithToken,
};
use hbx_service_accounts::domain::AuditAction;
use uuid::Uuid;

use crate::common::{Backend, TestServer, create_request, expect_error};

fn create_key(key: &str) -> CreateServiceAccountIdempotencyKey {
    CreateServiceAccountIdempotencyKey::try_from(key).expect("a valid key")
}

fn rotate_key(key: &str) -> RotateServiceAccountIdempotencyKey {
    RotateServiceAccountIdempotencyKey::try_from(key).expect("a valid key")
}

/// A fresh key, as a client should make one.
fn new_key() -> String {
    Uuid::new_v4().to_string()
}

async fn a_retried_create_gets_the_first_answer(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let key = new_key();
    let owner = server.owner();
    let first = owner
        .create_service_account(
            &server.account_id,
            Some(&create_key(&key)),
            &create_request("ci-deploy"),
        )
        .await
        .unwrap();
    assert_eq!(first.status().as_u16(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let location = first.headers()["location"].clone();
    let first = first.into_inner();
    let accounts = server.service_account_count().await;
    let creates = server.audit_count(AuditAction::Create).await;

    // The answer was lost; the client retries, later, with the same key.
    server.clock.advance(TimeDelta::minutes(3));
    let retried = owner
        .create_service_account(
            &server.account_id,
            Some(&create_key(&key)),
            &create_request("ci-deploy"),
        )
        .await
        .expect("the retry is answered, not refused with 409");
    assert_eq!(retried.status().as_u16(), 201);
    assert_eq!(retried.headers()["idempotent-replayed"], "true");
    assert_eq!(retried.headers()["location"], location);
    assert_eq!(retried.headers()["cache-control"], "no-store");
    let retried = retried.into_inner();
    assert_eq!(retried, first, "the same service account, the same token");
    assert!(server.authenticates(&retried.token).await);
    assert_eq!(server.service_account_count().await, accounts);
    assert_eq!(
        server.audit_count(AuditAction::Create).await,
        creates,
        "a replay is not a second create"
    );

    // The same key with another body: 422, nothing created.
    let error = expect_error(
        owner
            .create_service_account(
                &server.account_id,
                Some(&create_key(&key)),
                &create_request("another name"),
            )
            .await,
        422,
        "idempotency_key_reused",
    );
    assert!(
        error.message.contains("Idempotency-Key"),
        "{}",
        error.message
    );
    let expiring = CreateServiceAccountRequest {
        name: "ci-deploy".parse().unwrap(),
        expires_at: Some(server.now() + TimeDelta::days(1)),
    };
    expect_error(
        owner
            .create_service_account(&server.account_id, Some(&create_key(&key)), &expiring)
            .await,
        422,
        "idempotency_key_reused",
    );
    assert_eq!(server.service_account_count().await, accounts);

    // Without a key, the same request is a new create (and here a 409).
    expect_error(
        owner
            .create_service_account(&server.account_id, None, &create_request("ci-deploy"))
            .await,
        409,
        "name_conflict",
    );
}

async fn keys_are_scoped_to_caller_operation_and_path(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let key = new_key();
    let made = server
        .owner()
        .create_service_account(
            &server.account_id,
            Some(&create_key(&key)),
            &create_request("made by the owner"),
        )
        .await
        .unwrap()
        .into_inner();
    // Another caller with the same key: its own request, run.
    let colleague = server.create("colleague").await;
    server.grant_auth_manage(colleague.id).await;
    let theirs = server
        .client(&colleague.token)
        .create_service_account(
            &server.account_id,
            Some(&create_key(&key)),
            &create_request("made by a colleague"),
        )
        .await
        .unwrap();
    assert!(theirs.headers().get("idempotent-replayed").is_none());
    assert_ne!(theirs.into_inner().id, made.id);
    // The same key on another operation, and on another path: run.
    let rotated = server
        .owner()
        .rotate_service_account(&server.account_id, &made.id, None, Some(&rotate_key(&key)))
        .await
        .unwrap();
    assert!(rotated.headers().get("idempotent-replayed").is_none());
    let other = server.create("another").await;
    let rotated_other = server
        .owner()
        .rotate_service_account(&server.account_id, &other.id, None, Some(&rotate_key(&key)))
        .await
        .unwrap();
    assert!(rotated_other.headers().get("idempotent-replayed").is_none());
    assert_eq!(rotated_other.into_inner().id, other.id);
}

async fn a_retried_rotation_gets_the_same_token(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let sa = server.create("rotated once").await;
    let key = new_key();
    let rotate = async |grace: Option<u64>| {
        server
            .owner()
            .rotate_service_account(&server.account_id, &sa.id, grace, Some(&rotate_key(&key)))
            .await
    };
    let first = rotate(Some(600)).await.unwrap().into_inner();
    server.clock.advance(TimeDelta::seconds(10));
    let again = rotate(Some(600)).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.headers()["cache-control"], "no-store");
    assert_eq!(again.into_inner(), first);
    // Both tokens of the one rotation work; only one rotation happened.
    assert!(server.authenticates(&first.token).await);
    assert!(server.authenticates(&sa.token).await, "in its grace period");
    assert_eq!(server.audit_count(AuditAction::Rotate).await, 1);
    // Another grace period is another request.
    expect_error(rotate(Some(60)).await, 422, "idempotency_key_reused");
    expect_error(rotate(None).await, 422, "idempotency_key_reused");
    // Absent and 0 are the same request.
    let zero_key = new_key();
    let zero = server
        .owner()
        .rotate_service_account(
            &server.account_id,
            &sa.id,
            None,
            Some(&rotate_key(&zero_key)),
        )
        .await
        .unwrap()
        .into_inner();
    let replayed = server
        .owner()
        .rotate_service_account(
            &server.account_id,
            &sa.id,
            Some(0),
            Some(&rotate_key(&zero_key)),
        )
        .await
        .unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.into_inner().token, zero.token);
}

/// Refusals by the operation are its answer, replayed as they were; a
/// request refused before the operation ran (credentials, a malformed body)
/// recorded nothing, so a corrected retry with the same key runs.
async fn refusals_are_replayed_and_failures_at_the_door_are_not_recorded(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let taken = server.create("taken").await;
    let key = new_key();
    let owner = server.owner();
    let (conflict_key, taken_name) = (create_key(&key), create_request("taken"));
    let conflict =
        || owner.create_service_account(&server.account_id, Some(&conflict_key), &taken_name);
    expect_error(conflict().await, 409, "name_conflict");
    // The name is freed, but the key's answer stands.
    owner
        .revoke_service_account(&server.account_id, &taken.id)
        .await
        .unwrap();
    let replayed = expect_error(conflict().await, 409, "name_conflict");
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");

    // Refused at the door: a bad credential, a malformed body. Neither leaves
    // a record (a 401 has no caller to scope a record to, so a retry could
    // not tell; the table can).
    let records = server.count_rows("idempotency_records").await;
    let door = new_key();
    expect_error(
        server
            .client("hbxsa_not-a-token")
            .create_service_account(
                &server.account_id,
                Some(&create_key(&door)),
                &create_request("after the door"),
            )
            .await,
        401,
        "invalid_token",
    );
    let malformed = server
        .raw()
        .post(server.create_url(server.account_id))
        .bearer_auth(&server.owner_token)
        .header("idempotency-key", &door)
        .header("content-type", "application/json")
        .body(r#"{"name": "after the door", "expiresAt": null}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status().as_u16(), 400);
    assert_eq!(
        server.count_rows("idempotency_records").await,
        records,
        "nothing was recorded for the requests refused at the door"
    );
    let created = owner
        .create_service_account(
            &server.account_id,
            Some(&create_key(&door)),
            &create_request("after the door"),
        )
        .await
        .expect("the corrected request runs");
    assert!(created.headers().get("idempotent-replayed").is_none());
}

async fn bad_keys_are_400_naming_the_header(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let before = server.service_account_count().await;
    let long = "k".repeat(256);
    for (case, key) in [
        ("too short", "fifteen-chars-x".as_bytes()),
        ("too long", long.as_bytes()),
        ("a control character", b"a-key-with-a\ttab-inside"),
        ("not ASCII", "ключ-идемпотентности".as_bytes()),
        ("empty", b""),
    ] {
        let response = server
            .raw()
            .post(server.create_url(server.account_id))
            .bearer_auth(&server.owner_token)
            .header(
                "idempotency-key",
                reqwest::header::HeaderValue::from_bytes(key).unwrap(),
            )
            .json(&serde_json::json!({"name": format!("bad key {case}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 400, "{case}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error_code"], "invalid_request", "{case}");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("Idempotency-Key"),
            "{case}: {error}"
        );
    }
    assert_eq!(server.service_account_count().await, before);
    // The boundaries are accepted.
    for (n, key) in ["k".repeat(16), "k".repeat(255)].iter().enumerate() {
        server
            .owner()
            .create_service_account(
                &server.account_id,
                Some(&create_key(key)),
                &create_request(&format!("boundary {n}")),
            )
            .await
            .expect("a key of 16 or 255 characters");
    }
}

/// Concurrent attempts with one key: one runs, the others wait their turn
/// (409 `idempotency_key_in_use`) or get its answer, never a second create.
async fn concurrent_attempts_run_once(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let before = server.service_account_count().await;
    let key = create_key(&new_key());
    let owner = server.owner();
    let request = create_request("contested");
    let answers = join_all(
        (0..12).map(|_| owner.create_service_account(&server.account_id, Some(&key), &request)),
    )
    .await;
    let mut created: Vec<ServiceAccountWithToken> = Vec::new();
    let mut in_use = 0;
    for answer in answers {
        match answer {
            Ok(response) => created.push(response.into_inner()),
            Err(error) => {
                let error = expect_error::<()>(Err(error), 409, "idempotency_key_in_use");
                assert!(error.message.contains("retry"), "{}", error.message);
                in_use += 1;
            }
        }
    }
    println!(
        "{} answered (one run, the rest replays), {in_use} told to retry",
        created.len()
    );
    assert!(!created.is_empty());
    assert!(
        created.iter().all(|sa| sa == &created[0]),
        "every 201 is the one execution"
    );
    assert_eq!(server.service_account_count().await, before + 1);
    // Afterwards, every retry gets the answer.
    let later = owner
        .create_service_account(&server.account_id, Some(&key), &request)
        .await
        .unwrap();
    assert_eq!(later.headers()["idempotent-replayed"], "true");
    assert_eq!(later.into_inner(), created[0]);
}

/// A key is remembered for the retention period: after it, the same key runs
/// anew; the expired record is deleted.
async fn keys_expire_after_the_retention(backend: Backend) {
    let server = TestServer::start_with_on(backend, |settings| {
        settings.idempotency_retention = TimeDelta::hours(1);
    })
    .await;
    let sa = server.create("rotated daily").await;
    let key = rotate_key(&new_key());
    let owner = server.owner();
    let rotate = || owner.rotate_service_account(&server.account_id, &sa.id, None, Some(&key));
    let first = rotate().await.unwrap().into_inner();
    server
        .clock
        .advance(TimeDelta::hours(1) - TimeDelta::microseconds(1));
    assert_eq!(rotate().await.unwrap().into_inner().token, first.token);
    server.clock.advance(TimeDelta::microseconds(1));
    let anew = rotate().await.unwrap();
    assert!(anew.headers().get("idempotent-replayed").is_none());
    assert_ne!(anew.into_inner().token, first.token, "a new rotation");

    // The background task's work: records past their retention go.
    let idempotency = server.app.idempotency();
    assert_eq!(idempotency.delete_expired().await.unwrap(), 0);
    server.clock.advance(TimeDelta::hours(2));
    assert_eq!(idempotency.delete_expired().await.unwrap(), 1);
    assert_eq!(idempotency.delete_expired().await.unwrap(), 0);
}

on_every_store!(
    a_retried_create_gets_the_first_answer,
    keys_are_scoped_to_caller_operation_and_path,
    a_retried_rotation_gets_the_same_token,
    refusals_are_replayed_and_failures_at_the_door_are_not_recorded,
    bad_keys_are_400_naming_the_header,
    concurrent_attempts_run_once,
    keys_expire_after_the_retention,
);
