//! Informational: `auth.manage` could revoke the last owner of an account
//! (through the command line today, through the API after the next issue).
//! Now removing the last owner grant that can act is refused (`last_owner`),
//! and changes nothing.

use hbx_service_accounts::domain::{Capability, CapabilityKey, Grants, Subject};
use hbx_service_accounts::service::admin::AdminError;
use uuid::Uuid;

use crate::common::{Backend, TestServer};

async fn the_last_owner_cannot_be_removed(backend: Backend) {
    let server = TestServer::start_on(backend).await;
    let admin = server.app.admin();
    let owner: CapabilityKey = Capability::AccountOwner.into();
    let bootstrap_owner = Subject::ServiceAccount(server.owner_id);
    // Made while the bootstrapped owner can still make them.
    let revoked = server.create("revoked owner").await;
    let manager = server.create("manager").await;
    let doomed = server.create("doomed owner").await;
    server.revoke(revoked.id).await;
    // The bootstrapped owner is the only one: refused, still an owner.
    let refused = admin
        .remove_grant(server.account_id, bootstrap_owner.clone(), owner.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, AdminError::LastOwner { .. }),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("last_owner"), "{refused}");
    let grants = admin.grants(server.account_id, false).await.unwrap();
    assert!(
        grants
            .iter()
            .any(|g| g.subject == bootstrap_owner && g.grants == Grants::AccountOwner)
    );

    // With a second owner (a person), either may go, but not both.
    let person = Subject::user(Uuid::new_v4());
    admin
        .add_grant(server.account_id, person.clone(), owner.clone())
        .await
        .unwrap();
    let removed = admin
        .remove_grant(server.account_id, bootstrap_owner.clone(), owner.clone())
        .await
        .unwrap();
    assert!(removed);
    assert!(matches!(
        admin
            .remove_grant(server.account_id, person.clone(), owner.clone())
            .await,
        Err(AdminError::LastOwner { .. })
    ));

    // An owner grant held by a revoked service account cannot act, so it
    // does not count: the person is still the last owner that can. (A
    // revoked service account cannot be granted anything: it is granted
    // ownership while live, then revoked.)
    assert!(matches!(
        admin
            .add_grant(
                server.account_id,
                Subject::ServiceAccount(revoked.id),
                owner.clone(),
            )
            .await,
        Err(AdminError::ServiceAccountNotInAccount { .. })
    ));
    admin
        .add_grant(
            server.account_id,
            Subject::ServiceAccount(doomed.id),
            owner.clone(),
        )
        .await
        .unwrap();
    server
        .app
        .store()
        .revoke(
            server.account_id,
            doomed.id,
            hbx_service_accounts::store::Revocation {
                at: server.now(),
                by_user_id: None,
                reason: hbx_service_accounts::domain::RevocationReason::Requested,
            },
            &hbx_service_accounts::domain::AuditEvent {
                occurred_at: server.now(),
                account_id: server.account_id,
                service_account_id: Some(doomed.id),
                action: hbx_service_accounts::domain::AuditAction::Revoke,
                actor: hbx_service_accounts::domain::Actor::Operator,
                id: uuid::Uuid::new_v4(),
                origin: hbx_service_accounts::domain::Origin::default(),
                token_public_id: None,
                detail: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        admin
            .remove_grant(server.account_id, person.clone(), owner.clone())
            .await,
        Err(AdminError::LastOwner { .. })
    ));
    // Removing the dead one's grant is fine.
    let removed = admin
        .remove_grant(
            server.account_id,
            Subject::ServiceAccount(doomed.id),
            owner.clone(),
        )
        .await
        .unwrap();
    assert!(removed);
    // Other capabilities are not guarded.
    server.grant_auth_manage(manager.id).await;
    let removed = admin
        .remove_grant(
            server.account_id,
            Subject::ServiceAccount(manager.id),
            Capability::AuthManage.into(),
        )
        .await
        .unwrap();
    assert!(removed);
}

on_both_stores!(the_last_owner_cannot_be_removed);
