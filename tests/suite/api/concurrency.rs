//! Races that must resolve cleanly: parallel rotations leave exactly one valid
//! token, parallel creates with one name make exactly one service account, and a
//! rotation racing a revocation never leaves a usable token behind.

use crate::common::{Backend, TestServer, create_request};
use futures::future::join_all;

async fn parallel_rotations_leave_exactly_one_valid_token(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let sa = server.create("rotated in parallel").await;
    let owner = server.owner();
    let results = join_all(
        (0..16).map(|_| owner.rotate_service_account(&server.account_id, &sa.id, None, None)),
    )
    .await;
    let mut tokens = vec![sa.token.clone()];
    for result in results {
        tokens.push(
            result
                .expect("every rotation succeeds in turn")
                .into_inner()
                .token,
        );
    }
    let mut valid = 0;
    for token in &tokens {
        if server.authenticates(token).await {
            valid += 1;
        }
    }
    assert_eq!(valid, 1, "exactly one of {} tokens works", tokens.len());
}

async fn parallel_creates_with_one_name_make_one_service_account(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let owner = server.owner();
    let request = create_request("contested");
    let results =
        join_all((0..16).map(|_| owner.create_service_account(&server.account_id, None, &request)))
            .await;
    let mut created = 0;
    for result in results {
        match result {
            Ok(response) => {
                assert_eq!(response.status().as_u16(), 201);
                created += 1;
            }
            Err(error) => {
                let status = error.status().map(|s| s.as_u16());
                assert_eq!(status, Some(409), "{error:?}");
            }
        }
    }
    assert_eq!(created, 1);
    assert_eq!(server.service_account_count().await, 2);
}

async fn rotation_racing_revocation_never_leaves_a_usable_token(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let owner = server.owner();
    for round in 0..10 {
        let sa = server.create(&format!("raced {round}")).await;
        let (rotated, revoked) = tokio::join!(
            owner.rotate_service_account(&server.account_id, &sa.id, None, None),
            owner.revoke_service_account(&server.account_id, &sa.id),
        );
        revoked.expect("revocation always succeeds");
        let mut tokens = vec![sa.token.clone()];
        match rotated {
            Ok(response) => tokens.push(response.into_inner().token),
            Err(error) => assert_eq!(error.status().map(|s| s.as_u16()), Some(409), "{error:?}"),
        }
        for token in &tokens {
            assert!(
                !server.authenticates(token).await,
                "round {round}: a token survived"
            );
        }
        let stored = owner
            .get_service_account(&server.account_id, &sa.id)
            .await
            .unwrap()
            .into_inner();
        assert!(stored.revoked_at.is_some());
    }
}

on_every_store!(
    parallel_rotations_leave_exactly_one_valid_token,
    parallel_creates_with_one_name_make_one_service_account,
    rotation_racing_revocation_never_leaves_a_usable_token,
);
