//! Accounts, and bootstrapping one with its owner: all or nothing.

use hbx_service_accounts::domain::{Actor, AuditAction, AuditEvent, Grants, Subject};
use uuid::Uuid;

use super::*;
use crate::common::Backend;
use crate::common::stores::open_store;

async fn accounts_round_trip(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let acme = account("acme ✓");
    store.create_account(&acme).await.unwrap();
    assert_eq!(store.get_account(acme.id).await.unwrap(), Some(acme));
    assert_eq!(store.get_account(Uuid::new_v4()).await.unwrap(), None);
}

async fn bootstrap_is_all_or_nothing(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let acme = account("acme");
    let owner = service_account(acme.id, "owner", acme.created_at);
    let created = AuditEvent {
        actor: Actor::Operator,
        id: uuid::Uuid::new_v4(),
        origin: hbx_service_accounts::domain::Origin::default(),
        token_public_id: None,
        ..event(&owner.service_account, AuditAction::Create, acme.created_at)
    };
    store.bootstrap(&acme, &owner, &created).await.unwrap();
    assert_eq!(
        store.get_account(acme.id).await.unwrap(),
        Some(acme.clone())
    );
    let held = store
        .holdings(&Subject::ServiceAccount(owner.service_account.id))
        .await
        .unwrap();
    let grants: Vec<&Grants> = held[&acme.id]
        .authorizations
        .iter()
        .map(|a| &a.grants)
        .collect();
    assert_eq!(grants, vec![&Grants::AccountOwner]);
    assert_eq!(held.len(), 1, "its own account only");
    assert_eq!(store.audit_events(acme.id).await.unwrap(), vec![created]);

    // The second bootstrap's service account collides on public id, so its
    // account must not be left behind.
    let second = account("second");
    let mut clash = service_account(second.id, "owner", second.created_at);
    clash.service_account.token.public_id = owner.service_account.token.public_id.clone();
    let clash_event = event(
        &clash.service_account,
        AuditAction::Create,
        second.created_at,
    );
    assert!(
        store
            .bootstrap(&second, &clash, &clash_event)
            .await
            .is_err()
    );
    assert_eq!(store.get_account(second.id).await.unwrap(), None);
    assert_eq!(store.audit_events(second.id).await.unwrap(), vec![]);
}

on_both_stores!(accounts_round_trip, bootstrap_is_all_or_nothing,);
