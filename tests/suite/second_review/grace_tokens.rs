//! Low: a previous token in its grace period could rotate its own service
//! account, killing the new token and minting one that outlives the grace.
//! Now a request made with a previous token cannot issue or change
//! credentials (rotate, create, retire, revoke others): 403 naming why. It
//! still reads, and may still revoke its own service account.

use hbx_service_accounts::client::types::Error as ApiError;
use hbx_service_accounts::client::{Error, ResponseValue};

use crate::common::{Backend, TestServer, create_request, expect_error};

/// A 403 `forbidden` that says a previous token was used.
fn forbidden<T: std::fmt::Debug>(result: Result<ResponseValue<T>, Error<ApiError>>) {
    let error = expect_error(result, 403, "forbidden");
    assert!(
        error.message.contains("previous token"),
        "{}",
        error.message
    );
}

async fn a_previous_token_cannot_issue_or_change_credentials(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let deployer = server.create("deployer").await;
    server.grant_auth_manage(deployer.id).await;
    let other = server.create("other").await;
    let current = server
        .client(&deployer.token)
        .rotate_service_account(&server.account_id, &deployer.id, Some(3600), None)
        .await
        .expect("a service account may rotate itself with its current token")
        .into_inner();
    let previous = server.client(&deployer.token);
    // Reading still works, with the Sunset header.
    let read = previous
        .get_service_account(&server.account_id, &deployer.id)
        .await
        .expect("a previous token still reads");
    assert!(read.headers().get("sunset").is_some());

    forbidden(
        previous
            .rotate_service_account(&server.account_id, &deployer.id, Some(3600), None)
            .await,
    );
    forbidden(
        previous
            .create_service_account(&server.account_id, None, &create_request("minted"))
            .await,
    );
    forbidden(
        previous
            .retire_previous_token(&server.account_id, &deployer.id)
            .await,
    );
    forbidden(
        previous
            .revoke_service_account(&server.account_id, &other.id)
            .await,
    );
    // Nothing changed: the current token works, the other one too, and no
    // service account was made.
    assert!(server.authenticates(&current.token).await);
    assert!(server.authenticates(&other.token).await);
    assert_eq!(server.service_account_count().await, 3);
    // Its own service account it may still revoke (whoever holds a token
    // may do as much through the public revocation endpoint).
    previous
        .revoke_service_account(&server.account_id, &deployer.id)
        .await
        .expect("revoking itself");
    assert!(!server.authenticates(&current.token).await);
}

on_both_stores!(a_previous_token_cannot_issue_or_change_credentials);
