//! Service accounts: every field kept, visible only in their account, names unique among active ones, revoked once, listed a page at a time.

use chrono::TimeDelta;
use hbx_service_accounts::domain::{
    Actor, AuditAction, AuditEvent, RevocationReason, ServiceAccount,
};
use hbx_service_accounts::store::{PageRequest, Revocation};
use uuid::Uuid;

use super::*;
use crate::common::Backend;
use crate::common::stores::open_store;

async fn service_accounts_round_trip_every_field(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let acme = account("acme");
    store.create_account(&acme).await.unwrap();
    let mut new = service_account(acme.id, "all fields", at("2030-01-02T03:04:05.000001Z"));
    let sa = &mut new.service_account;
    sa.created_by_user_id = Some(Uuid::new_v4());
    sa.expires_at = Some(at("2031-12-31T23:59:59.999999Z"));
    sa.last_used_at = Some(at("2030-06-01T00:00:00Z"));
    sa.updated_at = at("2030-06-01T00:00:00.5Z");
    insert(&store, &new).await.unwrap();
    let found = store
        .find_by_public_id(&new.service_account.token.public_id)
        .await
        .unwrap()
        .expect("found by public id");
    assert_eq!(found, new, "every field, to the microsecond, and the MAC");
    assert_eq!(
        store.find_by_public_id("0000000000000000").await.unwrap(),
        None
    );
    let got = store
        .get_service_account(acme.id, new.service_account.id)
        .await
        .unwrap();
    assert_eq!(got, Some(new.service_account.clone()));
}

async fn service_accounts_are_only_visible_in_their_account(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (_, sa) = account_with_one(&store).await;
    let other = account("other");
    store.create_account(&other).await.unwrap();
    let id = sa.service_account.id;
    let now = at("2030-02-01T00:00:00Z");
    assert_eq!(store.get_service_account(other.id, id).await.unwrap(), None);
    let rotate = event(&sa.service_account, AuditAction::Rotate, now);
    assert_eq!(
        store
            .rotate_token(other.id, id, &replacement(now), &rotate, &exempt(), None)
            .await
            .unwrap(),
        None
    );
    let revocation = Revocation {
        at: now,
        by_user_id: None,
        reason: RevocationReason::Requested,
    };
    let revoke = event(&sa.service_account, AuditAction::Revoke, now);
    assert_eq!(
        store
            .revoke(other.id, id, revocation, &revoke)
            .await
            .unwrap(),
        None
    );
    // Nothing happened to it, and nothing was recorded in either account.
    let unchanged = store
        .get_service_account(sa.service_account.account_id, id)
        .await
        .unwrap();
    assert_eq!(unchanged, Some(sa.service_account.clone()));
    assert_eq!(store.audit_events(other.id).await.unwrap(), vec![]);
    assert_eq!(
        store
            .audit_events(sa.service_account.account_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn names_are_unique_among_active_service_accounts(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let acme = account("acme");
    let other = account("other");
    store.create_account(&acme).await.unwrap();
    store.create_account(&other).await.unwrap();
    let now = at("2030-01-01T00:00:00Z");
    insert(&store, &service_account(acme.id, "deploy", now))
        .await
        .unwrap();
    assert!(matches!(
        insert(&store, &service_account(acme.id, "deploy", now)).await,
        Err(StoreError::NameConflict)
    ));
    insert(&store, &service_account(acme.id, "Deploy", now))
        .await
        .unwrap();
    insert(&store, &service_account(other.id, "deploy", now))
        .await
        .unwrap();
    // Revoking one frees its name.
    let retired = service_account(acme.id, "retired", now);
    insert(&store, &retired).await.unwrap();
    let revoke = event(&retired.service_account, AuditAction::Revoke, now);
    store
        .revoke(
            acme.id,
            retired.service_account.id,
            Revocation {
                at: now,
                by_user_id: None,
                reason: RevocationReason::Requested,
            },
            &revoke,
        )
        .await
        .unwrap();
    insert(&store, &service_account(acme.id, "retired", now))
        .await
        .unwrap();
    // Only the successful inserts and the revocation were recorded.
    assert_eq!(store.audit_events(acme.id).await.unwrap().len(), 5);
}

async fn service_accounts_need_an_existing_account(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let orphan = service_account(Uuid::new_v4(), "orphan", at("2030-01-01T00:00:00Z"));
    assert!(matches!(
        insert(&store, &orphan).await,
        Err(StoreError::AccountNotFound)
    ));
}

/// Only the unique index on active names is a name conflict; any other
/// uniqueness failure (a public id that already exists) is not, on either
/// database. (SQLite does not name the violated index, so each database
/// recognises its own; they must agree.)
async fn only_the_active_name_index_is_a_name_conflict(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let now = at("2030-01-01T00:00:00Z");
    let same_name = service_account(acme.id, &sa.service_account.name, now);
    assert!(matches!(
        insert(&store, &same_name).await,
        Err(StoreError::NameConflict)
    ));
    let mut same_public_id = service_account(acme.id, "another name", now);
    same_public_id.service_account.token.public_id = sa.service_account.token.public_id.clone();
    match insert(&store, &same_public_id).await {
        Err(StoreError::Internal(_)) => {}
        other => panic!("a public id clash is not a name conflict: {other:?}"),
    }
    assert_eq!(store.audit_events(acme.id).await.unwrap().len(), 1);
}

async fn revocation_happens_once(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let id = sa.service_account.id;
    let first = Revocation {
        at: at("2030-03-01T00:00:00Z"),
        by_user_id: Some(Uuid::from_u128(1)),
        reason: RevocationReason::Requested,
    };
    let revoke = event(&sa.service_account, AuditAction::Revoke, first.at);
    let revoked = store
        .revoke(acme.id, id, first, &revoke)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(first.at));
    assert_eq!(revoked.revoked_by_user_id, first.by_user_id);
    assert_eq!(revoked.updated_at, first.at);

    let second = Revocation {
        at: at("2030-04-01T00:00:00Z"),
        by_user_id: None,
        reason: RevocationReason::Requested,
    };
    let again = store
        .revoke(
            acme.id,
            id,
            second,
            &event(&sa.service_account, AuditAction::Revoke, second.at),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, revoked, "the first revocation stands");
    assert_eq!(
        store.audit_events(acme.id).await.unwrap().len(),
        2,
        "create and one revoke"
    );

    let unknown = store
        .revoke(
            acme.id,
            Uuid::new_v4(),
            second,
            &event(&sa.service_account, AuditAction::Revoke, second.at),
        )
        .await
        .unwrap();
    assert_eq!(unknown, None);
}

/// Revocation answers with the row its own transaction wrote: racing callers
/// all see the one revocation that won (its time, its user), which is what the
/// store keeps and what the single audit event records. (The two stores once
/// differed here: one read the row back after committing.)
async fn concurrent_revocations_all_answer_the_one_that_won(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let id = sa.service_account.id;
    let attempts = (1..=8u128).map(|n| {
        let store = store.clone();
        let revocation = Revocation {
            at: at("2030-03-01T00:00:00Z") + TimeDelta::seconds(n as i64),
            by_user_id: Some(Uuid::from_u128(n)),
            reason: RevocationReason::Requested,
        };
        let revoke = AuditEvent {
            actor: Actor::User(Uuid::from_u128(n)),
            ..event(&sa.service_account, AuditAction::Revoke, revocation.at)
        };
        tokio::spawn(async move { store.revoke(acme.id, id, revocation, &revoke).await })
    });
    let answers: Vec<ServiceAccount> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|joined| joined.unwrap().unwrap().expect("found"))
        .collect();
    let stored = store
        .get_service_account(acme.id, id)
        .await
        .unwrap()
        .unwrap();
    for answer in &answers {
        assert_eq!(
            answer, &stored,
            "every caller sees the committed revocation"
        );
    }
    let revocations: Vec<AuditEvent> = store
        .audit_events(acme.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::Revoke)
        .collect();
    assert_eq!(revocations.len(), 1, "one revocation happened");
    assert_eq!(Some(revocations[0].occurred_at), stored.revoked_at);
    assert_eq!(revocations[0].actor.id(), stored.revoked_by_user_id);
}

/// Key versions are 32-bit signed integers in both databases: the largest one
/// the key file allows round-trips, a larger one is refused by both alike
/// before anything is written.
async fn key_versions_are_32_bit_on_both_stores(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let acme = account("acme");
    store.create_account(&acme).await.unwrap();
    let now = at("2030-01-01T00:00:00Z");
    let mut largest = service_account(acme.id, "largest", now);
    largest.mac.key_version = i32::MAX as u32;
    insert(&store, &largest).await.unwrap();
    let found = store
        .find_by_public_id(&largest.service_account.token.public_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.mac.key_version, i32::MAX as u32);

    let mut too_large = service_account(acme.id, "too large", now);
    too_large.mac.key_version = i32::MAX as u32 + 1;
    assert!(matches!(
        insert(&store, &too_large).await,
        Err(StoreError::Internal(_))
    ));
    let rotate = event(&largest.service_account, AuditAction::Rotate, now);
    let mut replacement = replacement(now);
    replacement.mac.key_version = u32::MAX;
    assert!(matches!(
        store
            .rotate_token(
                acme.id,
                largest.service_account.id,
                &replacement,
                &rotate,
                &exempt(),
                None
            )
            .await,
        Err(StoreError::Internal(_))
    ));
    assert_eq!(
        store
            .find_by_public_id(&largest.service_account.token.public_id)
            .await
            .unwrap(),
        Some(found),
        "nothing changed"
    );
    assert_eq!(store.audit_events(acme.id).await.unwrap().len(), 1);
}

async fn pages_follow_creation_order(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let acme = account("acme");
    store.create_account(&acme).await.unwrap();
    let start = at("2030-01-01T00:00:00Z");
    let mut expected = Vec::new();
    for i in 0..25 {
        // Pairs share a created_at, so ties are broken by id.
        let sa = service_account(
            acme.id,
            &format!("sa {i}"),
            start + TimeDelta::seconds(i / 2),
        );
        insert(&store, &sa).await.unwrap();
        let mut sa = sa.service_account;
        if i % 5 == 0 {
            let revocation = Revocation {
                at: start,
                by_user_id: None,
                reason: RevocationReason::Requested,
            };
            sa = store
                .revoke(
                    acme.id,
                    sa.id,
                    revocation,
                    &event(&sa, AuditAction::Revoke, start),
                )
                .await
                .unwrap()
                .unwrap();
        }
        expected.push(sa);
    }
    expected.sort_by_key(|sa| (sa.created_at, sa.id));

    for include_revoked in [false, true] {
        let wanted: Vec<ServiceAccount> = expected
            .iter()
            .filter(|sa| include_revoked || sa.revoked_at.is_none())
            .cloned()
            .collect();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .list_service_accounts(
                    acme.id,
                    PageRequest {
                        include_revoked,
                        limit: 4,
                        after,
                    },
                )
                .await
                .unwrap();
            assert!(page.len() <= 4);
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            seen.extend(page);
        }
        assert_eq!(seen, wanted, "include_revoked = {include_revoked}");
    }

    // A revoked service account still works as a cursor for the active list.
    let revoked_cursor = expected.iter().find(|sa| sa.revoked_at.is_some()).unwrap();
    let page = store
        .list_service_accounts(
            acme.id,
            PageRequest {
                include_revoked: false,
                limit: 1000,
                after: Some(revoked_cursor.id),
            },
        )
        .await
        .unwrap();
    let after_cursor: Vec<ServiceAccount> = expected
        .iter()
        .filter(|sa| sa.revoked_at.is_none())
        .filter(|sa| (sa.created_at, sa.id) > (revoked_cursor.created_at, revoked_cursor.id))
        .cloned()
        .collect();
    assert!(!after_cursor.is_empty(), "the cursor leaves some to list");
    assert_eq!(
        page, after_cursor,
        "exactly the active ones after the cursor"
    );

    // A cursor from another account (or nowhere) is refused.
    let (_, elsewhere) = account_with_one(&store).await;
    for cursor in [Uuid::new_v4(), elsewhere.service_account.id] {
        assert!(matches!(
            store
                .list_service_accounts(
                    acme.id,
                    PageRequest {
                        include_revoked: true,
                        limit: 10,
                        after: Some(cursor)
                    }
                )
                .await,
            Err(StoreError::CursorNotFound)
        ));
    }
}

on_every_store!(
    service_accounts_round_trip_every_field,
    service_accounts_are_only_visible_in_their_account,
    names_are_unique_among_active_service_accounts,
    service_accounts_need_an_existing_account,
    only_the_active_name_index_is_a_name_conflict,
    revocation_happens_once,
    concurrent_revocations_all_answer_the_one_that_won,
    key_versions_are_32_bit_on_both_stores,
    pages_follow_creation_order,
);
