//! Grants: per account, idempotent, listed, removed and audited.

use hbx_service_accounts::domain::{AuditAction, AuditDetail, CapabilityKey, Subject};
use uuid::Uuid;

use super::*;
use crate::common::Backend;
use crate::common::stores::open_store;

async fn grants_are_per_account_and_idempotent(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let other = account("other");
    store.create_account(&other).await.unwrap();
    let now = at("2030-01-01T00:00:00Z");
    let worker = Subject::ServiceAccount(sa.service_account.id);
    let user = Subject::User(Uuid::new_v4());

    assert!(
        store
            .capabilities(acme.id, worker)
            .await
            .unwrap()
            .is_empty()
    );
    let grant = |account_id, subject, capability: &str| Grant {
        account_id,
        subject,
        capability: CapabilityKey::parse(capability).unwrap(),
        created_at: now,
    };
    let keys = |keys: &[&str]| -> Vec<CapabilityKey> {
        keys.iter()
            .map(|k| CapabilityKey::parse(k).unwrap())
            .collect()
    };
    add_grant(&store, &grant(acme.id, worker, "auth.manage"))
        .await
        .unwrap();
    add_grant(&store, &grant(acme.id, worker, "auth.manage"))
        .await
        .unwrap();
    assert_eq!(
        store.capabilities(acme.id, worker).await.unwrap(),
        keys(&["auth.manage"])
    );

    add_grant(&store, &grant(other.id, user, "account_owner"))
        .await
        .unwrap();
    // Capabilities of other services are kept as they are.
    add_grant(&store, &grant(other.id, user, "billing.read"))
        .await
        .unwrap();
    let mut held = store.capabilities(other.id, user).await.unwrap();
    held.sort();
    assert_eq!(held, keys(&["account_owner", "billing.read"]));
    assert!(store.capabilities(acme.id, user).await.unwrap().is_empty());

    // A service account holds grants only in its own account.
    assert!(matches!(
        add_grant(&store, &grant(other.id, worker, "auth.manage")).await,
        Err(StoreError::ServiceAccountNotInAccount)
    ));
    assert!(matches!(
        add_grant(&store, &grant(Uuid::new_v4(), user, "auth.manage")).await,
        Err(StoreError::AccountNotFound)
    ));
}

/// Grants are listed by account, removed one at a time, and both changes are
/// audited; adding what is held or removing what is not changes nothing and
/// records nothing.
async fn grants_are_listed_removed_and_audited(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let now = at("2030-01-01T00:00:00Z");
    let worker = Subject::ServiceAccount(sa.service_account.id);
    let user = Subject::User(Uuid::new_v4());
    let grant = |subject, capability: &str| Grant {
        account_id: acme.id,
        subject,
        capability: CapabilityKey::parse(capability).unwrap(),
        created_at: now,
    };
    assert!(
        add_grant(&store, &grant(worker, "auth.manage"))
            .await
            .unwrap()
    );
    assert!(
        !add_grant(&store, &grant(worker, "auth.manage"))
            .await
            .unwrap()
    );
    assert!(
        add_grant(&store, &grant(user, "billing.read"))
            .await
            .unwrap()
    );
    let listed = store.grants_in(acme.id).await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.contains(&grant(worker, "auth.manage")));

    let removal = grant(worker, "auth.manage");
    let remove = grant_event(&removal, AuditAction::GrantRemove);
    assert!(store.remove_grant(&removal, &remove).await.unwrap());
    assert!(!store.remove_grant(&removal, &remove).await.unwrap());
    assert!(
        store
            .capabilities(acme.id, worker)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.grants_in(acme.id).await.unwrap(),
        vec![grant(user, "billing.read")]
    );

    let grant_events: Vec<(AuditAction, Option<AuditDetail>)> = store
        .audit_events(acme.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.detail.is_some())
        .map(|e| (e.action, e.detail))
        .collect();
    let detail = |subject, capability: &str| {
        Some(AuditDetail::Grant {
            subject,
            capability: CapabilityKey::parse(capability).unwrap(),
        })
    };
    assert_eq!(
        grant_events,
        vec![
            (AuditAction::GrantAdd, detail(worker, "auth.manage")),
            (AuditAction::GrantAdd, detail(user, "billing.read")),
            (AuditAction::GrantRemove, detail(worker, "auth.manage")),
        ]
    );
    let accounts = store.list_accounts().await.unwrap();
    assert_eq!(accounts, vec![acme]);
}

on_both_stores!(
    grants_are_per_account_and_idempotent,
    grants_are_listed_removed_and_audited,
);
