//! Low: an idempotent replay of a rotation handed back a live token after the
//! caller lost the right to get it (a fresh rotation: 403; the replay: 200),
//! and was not audited. Now a replay runs the same authorization as the
//! original, escalation check included; a replay whose token was rotated
//! away (409 `token_superseded`) or whose service account is revoked (409
//! `service_account_revoked`) is refused; every replay that returns a token
//! is audited.

use hbx_service_accounts::client::types::RotateServiceAccountIdempotencyKey;
use hbx_service_accounts::domain::{AuditAction, AuditDetail, Capability, CapabilityKey, Subject};
use uuid::Uuid;

use crate::common::{Backend, TestServer, expect_error, public_id_of};

fn key() -> RotateServiceAccountIdempotencyKey {
    RotateServiceAccountIdempotencyKey::try_from(Uuid::new_v4().to_string().as_str()).unwrap()
}

async fn an_idempotent_replay_runs_the_original_authorization(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let manager = server.create("manager").await;
    server.grant_auth_manage(manager.id).await;
    let target = server.create("target").await;
    let as_manager = server.client(&manager.token);
    let key = key();
    let rotated = as_manager
        .rotate_service_account(&server.account_id, &target.id, None, Some(&key))
        .await
        .expect("the manager may rotate a service account holding nothing")
        .into_inner();

    // A retry while nothing changed: the same token, and audited.
    let replayed = as_manager
        .rotate_service_account(&server.account_id, &target.id, None, Some(&key))
        .await
        .unwrap();
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
    assert_eq!(replayed.into_inner().token, rotated.token);
    let events = server
        .app
        .store()
        .audit_events(server.account_id)
        .await
        .unwrap();
    let replays: Vec<_> = events
        .iter()
        .filter(|e| e.action == AuditAction::IdempotentReplay)
        .collect();
    assert_eq!(replays.len(), 1, "{events:?}");
    assert_eq!(replays[0].service_account_id, Some(target.id));
    assert_eq!(
        replays[0].detail,
        Some(AuditDetail::Replay {
            of: AuditAction::Rotate,
            token_public_id: public_id_of(&rotated.token).to_owned(),
        })
    );

    // The target now holds what the manager lacks: a fresh rotation is
    // refused, and so is the replay (the review: 200 with a live token).
    let owner_grant: (Uuid, Subject, CapabilityKey) = (
        server.account_id,
        Subject::ServiceAccount(target.id),
        Capability::AccountOwner.into(),
    );
    server
        .app
        .admin()
        .add_grant(owner_grant.0, owner_grant.1.clone(), owner_grant.2.clone())
        .await
        .unwrap();
    expect_error(
        as_manager
            .rotate_service_account(&server.account_id, &target.id, None, None)
            .await,
        403,
        "forbidden",
    );
    expect_error(
        as_manager
            .rotate_service_account(&server.account_id, &target.id, None, Some(&key))
            .await,
        403,
        "forbidden",
    );
    server
        .app
        .admin()
        .remove_grant(owner_grant.0, owner_grant.1, owner_grant.2)
        .await
        .unwrap();

    // Rotated again since: the replayed token no longer works, and is not
    // handed out (409 `token_superseded`).
    server
        .owner()
        .rotate_service_account(&server.account_id, &target.id, None, None)
        .await
        .unwrap();
    let error = expect_error(
        as_manager
            .rotate_service_account(&server.account_id, &target.id, None, Some(&key))
            .await,
        409,
        "token_superseded",
    );
    assert!(!error.message.contains(&rotated.token));

    // Revoked: 409 `service_account_revoked`, for a replayed create too.
    let create_key =
        hbx_service_accounts::client::types::CreateServiceAccountIdempotencyKey::try_from(
            Uuid::new_v4().to_string().as_str(),
        )
        .unwrap();
    let created = as_manager
        .create_service_account(
            &server.account_id,
            Some(&create_key),
            &crate::common::create_request("created then revoked"),
        )
        .await
        .unwrap()
        .into_inner();
    server.revoke(created.id).await;
    expect_error(
        as_manager
            .create_service_account(
                &server.account_id,
                Some(&create_key),
                &crate::common::create_request("created then revoked"),
            )
            .await,
        409,
        "service_account_revoked",
    );
    // Only the one replay that returned a token was audited.
    assert_eq!(server.audit_count(AuditAction::IdempotentReplay).await, 1);
}

on_both_stores!(an_idempotent_replay_runs_the_original_authorization);
