//! One behaviour suite for the store, run against real databases: each
//! behaviour is an async function of the [`Backend`], run on SQLite and on
//! PostgreSQL by `on_both_stores!`.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use hbx_service_accounts::domain::{
    Account, Actor, AuditAction, AuditDetail, AuditEvent, Capability, CapabilityKey,
    RevocationReason, ServiceAccount, Subject, TokenFacts, TokenGeneration,
};
use hbx_service_accounts::store::{
    EscalationGuard, Grant, LastUse, PageRequest, Revocation, Store, StoreError,
    StoredServiceAccount, TokenReplacement,
};
use hbx_service_accounts::token::keyring::TokenMac;
use uuid::Uuid;

use crate::common::Backend;
use crate::common::stores::open_store;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn account(name: &str) -> Account {
    Account {
        id: Uuid::new_v4(),
        name: name.into(),
        created_at: at("2030-01-02T03:04:05.678901Z"),
    }
}

fn token_facts() -> TokenFacts {
    TokenFacts {
        prefix: "hbxsa".into(),
        public_id: Uuid::new_v4().simple().to_string()[..16].to_owned(),
        last4: "abcd".into(),
        issued_at: at("2030-01-01T00:00:00.000007Z"),
    }
}

fn service_account(
    account_id: Uuid,
    name: &str,
    created_at: DateTime<Utc>,
) -> StoredServiceAccount {
    StoredServiceAccount {
        service_account: ServiceAccount {
            id: Uuid::new_v4(),
            account_id,
            name: name.into(),
            created_at,
            updated_at: created_at,
            created_by_user_id: None,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            revoked_by_user_id: None,
            revoked_reason: None,
            token: token_facts(),
            previous_token: None,
        },
        mac: TokenMac {
            key_version: 3,
            digest: (0u8..32).collect(),
        },
        previous_mac: None,
    }
}

fn event(sa: &ServiceAccount, action: AuditAction, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        occurred_at: at,
        account_id: sa.account_id,
        service_account_id: Some(sa.id),
        action,
        actor: Actor::User(Uuid::from_u128(7)),
        request_id: Some(format!("request-{}", action.as_str())),
        detail: None,
    }
}

fn grant_event(grant: &Grant, action: AuditAction) -> AuditEvent {
    AuditEvent {
        occurred_at: grant.created_at,
        account_id: grant.account_id,
        service_account_id: None,
        action,
        actor: Actor::Operator,
        request_id: None,
        detail: Some(AuditDetail::Grant {
            subject: grant.subject,
            capability: grant.capability.clone(),
        }),
    }
}

/// Adds `grant` with its audit event.
async fn add_grant(store: &Arc<dyn Store>, grant: &Grant) -> Result<bool, StoreError> {
    store
        .add_grant(grant, &grant_event(grant, AuditAction::GrantAdd))
        .await
}

/// Inserts `new` with its creation event.
async fn insert(store: &Arc<dyn Store>, new: &StoredServiceAccount) -> Result<(), StoreError> {
    let created = event(
        &new.service_account,
        AuditAction::Create,
        new.service_account.created_at,
    );
    store.insert_service_account(new, &created, None).await
}

/// An account with one service account in it.
async fn account_with_one(store: &Arc<dyn Store>) -> (Account, StoredServiceAccount) {
    let acme = account("acme");
    store.create_account(&acme).await.unwrap();
    let sa = service_account(acme.id, "worker", at("2030-01-01T00:00:00Z"));
    insert(store, &sa).await.unwrap();
    (acme, sa)
}

/// A rotation by an owner: never refused for escalation.
fn exempt() -> EscalationGuard {
    EscalationGuard {
        held: vec![],
        exempt: true,
    }
}

fn replacement(at: DateTime<Utc>) -> TokenReplacement {
    TokenReplacement {
        token: token_facts(),
        mac: TokenMac {
            key_version: 4,
            digest: vec![9; 32],
        },
        at,
        previous_works_until: None,
    }
}

async fn accounts_round_trip(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let acme = account("acme ✓");
    store.create_account(&acme).await.unwrap();
    assert_eq!(store.get_account(acme.id).await.unwrap(), Some(acme));
    assert_eq!(store.get_account(Uuid::new_v4()).await.unwrap(), None);
}

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

async fn bootstrap_is_all_or_nothing(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let acme = account("acme");
    let owner = service_account(acme.id, "owner", acme.created_at);
    let created = AuditEvent {
        actor: Actor::Operator,
        request_id: None,
        ..event(&owner.service_account, AuditAction::Create, acme.created_at)
    };
    store.bootstrap(&acme, &owner, &created).await.unwrap();
    assert_eq!(
        store.get_account(acme.id).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(
        store
            .capabilities(acme.id, Subject::ServiceAccount(owner.service_account.id))
            .await
            .unwrap(),
        vec![CapabilityKey::from(Capability::AccountOwner)]
    );
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

async fn rotation_replaces_the_token_and_keeps_the_rest(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, mut sa) = account_with_one(&store).await;
    sa.service_account.last_used_at = Some(at("2030-01-05T00:00:00Z"));
    let used = LastUse {
        service_account_id: sa.service_account.id,
        public_id: sa.service_account.token.public_id.clone(),
        generation: TokenGeneration::Current,
        at: at("2030-01-05T00:00:00Z"),
        unless_recorded_after: at("2030-01-04T23:59:00Z"),
    };
    store.record_last_use(&[used]).await.unwrap();

    let now = at("2030-02-01T00:00:00.123456Z");
    let new_token = replacement(now);
    let rotate = event(&sa.service_account, AuditAction::Rotate, now);
    let rotated = store
        .rotate_token(
            acme.id,
            sa.service_account.id,
            &new_token,
            &rotate,
            &exempt(),
            None,
        )
        .await
        .unwrap()
        .expect("rotated");
    let expected = ServiceAccount {
        token: new_token.token.clone(),
        updated_at: now,
        last_used_at: None,
        ..sa.service_account.clone()
    };
    assert_eq!(rotated, expected);
    // The old public id is gone; the new one finds the new MAC.
    assert_eq!(
        store
            .find_by_public_id(&sa.service_account.token.public_id)
            .await
            .unwrap(),
        None
    );
    let found = store
        .find_by_public_id(&new_token.token.public_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.mac, new_token.mac);
    assert_eq!(
        store.audit_events(acme.id).await.unwrap().last(),
        Some(&rotate)
    );
}

async fn revoked_and_expired_service_accounts_are_not_rotated(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let id = sa.service_account.id;
    let now = at("2030-02-01T00:00:00Z");

    // Expires exactly now: no longer rotatable.
    let mut expiring = service_account(acme.id, "expiring", at("2030-01-01T00:00:00Z"));
    expiring.service_account.expires_at = Some(now);
    insert(&store, &expiring).await.unwrap();
    let rotate = event(&expiring.service_account, AuditAction::Rotate, now);
    let refused = store
        .rotate_token(
            acme.id,
            expiring.service_account.id,
            &replacement(now),
            &rotate,
            &exempt(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(refused, None);
    let just_before = now - TimeDelta::microseconds(1);
    let rotated = store
        .rotate_token(
            acme.id,
            expiring.service_account.id,
            &replacement(just_before),
            &rotate,
            &exempt(),
            None,
        )
        .await
        .unwrap();
    assert!(rotated.is_some(), "rotatable until the last microsecond");

    let revocation = Revocation {
        at: now,
        by_user_id: Some(Uuid::from_u128(9)),
        reason: RevocationReason::Requested,
    };
    let revoke = event(&sa.service_account, AuditAction::Revoke, now);
    store
        .revoke(acme.id, id, revocation, &revoke)
        .await
        .unwrap();
    let rotate = event(&sa.service_account, AuditAction::Rotate, now);
    assert_eq!(
        store
            .rotate_token(acme.id, id, &replacement(now), &rotate, &exempt(), None)
            .await
            .unwrap(),
        None
    );
    let actions: Vec<AuditAction> = store
        .audit_events(acme.id)
        .await
        .unwrap()
        .iter()
        .map(|e| e.action)
        .collect();
    use AuditAction::*;
    assert_eq!(
        actions,
        vec![Create, Create, Rotate, Revoke],
        "refusals record nothing"
    );
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

async fn last_use_is_throttled_and_follows_the_current_token(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let id = sa.service_account.id;
    let public_id = sa.service_account.token.public_id.clone();
    let interval = TimeDelta::seconds(60);
    let use_at = |t: DateTime<Utc>, public_id: &str| LastUse {
        service_account_id: id,
        public_id: public_id.to_owned(),
        generation: TokenGeneration::Current,
        at: t,
        unless_recorded_after: t - interval,
    };
    let last_used = |store: Arc<dyn Store>| async move {
        store
            .get_service_account(acme.id, id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at
    };

    let t0 = at("2030-01-01T00:00:00Z");
    store
        .record_last_use(&[use_at(t0, &public_id)])
        .await
        .unwrap();
    assert_eq!(last_used(store.clone()).await, Some(t0));
    // Within the interval: not rewritten. At the interval: rewritten.
    store
        .record_last_use(&[use_at(
            t0 + interval - TimeDelta::microseconds(1),
            &public_id,
        )])
        .await
        .unwrap();
    assert_eq!(last_used(store.clone()).await, Some(t0));
    store
        .record_last_use(&[use_at(t0 + interval, &public_id)])
        .await
        .unwrap();
    assert_eq!(last_used(store.clone()).await, Some(t0 + interval));

    // A use of a token that has been rotated away is not recorded.
    let rotated_at = t0 + interval * 2;
    let new_token = replacement(rotated_at);
    store
        .rotate_token(
            acme.id,
            id,
            &new_token,
            &event(&sa.service_account, AuditAction::Rotate, rotated_at),
            &exempt(),
            None,
        )
        .await
        .unwrap();
    store
        .record_last_use(&[use_at(rotated_at, &public_id)])
        .await
        .unwrap();
    assert_eq!(last_used(store.clone()).await, None);
    store
        .record_last_use(&[use_at(rotated_at, &new_token.token.public_id)])
        .await
        .unwrap();
    assert_eq!(last_used(store.clone()).await, Some(rotated_at));
    // Nothing to record is fine.
    store.record_last_use(&[]).await.unwrap();
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
    assert!(
        page.iter()
            .all(|sa| (sa.created_at, sa.id) > (revoked_cursor.created_at, revoked_cursor.id))
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

/// A rotation with a grace period keeps the replaced token as the previous
/// one (its facts, MAC and last use), found by its public id; a rotation
/// without one leaves none; uses of each token are recorded separately.
async fn a_grace_keeps_the_previous_token_until_the_next_rotation(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let id = sa.service_account.id;
    let used_at = at("2030-01-05T00:00:00Z");
    let use_of = |public_id: &str, generation, at_: DateTime<Utc>| LastUse {
        service_account_id: id,
        public_id: public_id.to_owned(),
        generation,
        at: at_,
        unless_recorded_after: at_ - TimeDelta::minutes(1),
    };
    store
        .record_last_use(&[use_of(
            &sa.service_account.token.public_id,
            TokenGeneration::Current,
            used_at,
        )])
        .await
        .unwrap();
    let now = at("2030-02-01T00:00:00Z");
    let until = now + TimeDelta::hours(1);
    let with_grace = with_grace_at(now, until);
    let rotate = event(&sa.service_account, AuditAction::Rotate, now);
    let rotated = store
        .rotate_token(acme.id, id, &with_grace, &rotate, &exempt(), None)
        .await
        .unwrap()
        .expect("rotated");
    let previous = rotated.previous_token.clone().expect("a previous token");
    assert_eq!(previous.token, sa.service_account.token);
    assert_eq!(previous.expires_at, until);
    assert_eq!(previous.last_used_at, Some(used_at));
    assert_eq!(rotated.token, with_grace.token);
    assert_eq!(rotated.last_used_at, None);
    // Either public id finds the row; the previous one with its own MAC.
    let by_old = store
        .find_by_public_id(&sa.service_account.token.public_id)
        .await
        .unwrap()
        .expect("the previous token is found");
    assert_eq!(by_old.previous_mac.as_ref(), Some(&sa.mac));
    assert_eq!(by_old.mac, with_grace.mac);
    assert_eq!(by_old.service_account, rotated);
    // The audit event says until when.
    let logged = store.audit_events(acme.id).await.unwrap();
    assert_eq!(
        logged.last().unwrap().detail,
        Some(AuditDetail::Grace {
            previous_token_public_id: sa.service_account.token.public_id.clone(),
            until,
        })
    );

    // Uses: each token's own column.
    let later = now + TimeDelta::minutes(10);
    store
        .record_last_use(&[use_of(
            &sa.service_account.token.public_id,
            TokenGeneration::Previous,
            later,
        )])
        .await
        .unwrap();
    let seen = store
        .get_service_account(acme.id, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen.previous_token.as_ref().unwrap().last_used_at,
        Some(later)
    );
    assert_eq!(seen.last_used_at, None);

    // The next rotation, without a grace: no previous token at all.
    let plain = replacement(later);
    let again = store
        .rotate_token(
            acme.id,
            id,
            &plain,
            &event(&seen, AuditAction::Rotate, later),
            &exempt(),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.previous_token, None);
    for gone in [
        &sa.service_account.token.public_id,
        &with_grace.token.public_id,
    ] {
        assert_eq!(store.find_by_public_id(gone).await.unwrap(), None);
    }
    // A grace beyond the service account's expiry ends with it.
    let acme2 = account("acme 2");
    store.create_account(&acme2).await.unwrap();
    let mut expiring = service_account(acme2.id, "expiring", at("2030-01-01T00:00:00Z"));
    let expires_at = now + TimeDelta::minutes(5);
    expiring.service_account.expires_at = Some(expires_at);
    insert(&store, &expiring).await.unwrap();
    let capped = store
        .rotate_token(
            acme2.id,
            expiring.service_account.id,
            &with_grace_at(now, until),
            &event(&expiring.service_account, AuditAction::Rotate, now),
            &exempt(),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(capped.previous_token.unwrap().expires_at, expires_at);
}

fn with_grace_at(now: DateTime<Utc>, until: DateTime<Utc>) -> TokenReplacement {
    TokenReplacement {
        previous_works_until: Some(until),
        ..replacement(now)
    }
}

/// Retiring ends the grace once: the second time changes and records
/// nothing; a service account without a previous token is left alone.
async fn retiring_the_previous_token_happens_once(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let id = sa.service_account.id;
    let now = at("2030-02-01T00:00:00Z");
    let (untouched, retired) = store
        .retire_previous_token(
            acme.id,
            id,
            now,
            &event(&sa.service_account, AuditAction::RetirePreviousToken, now),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!retired);
    assert_eq!(untouched, sa.service_account);
    store
        .rotate_token(
            acme.id,
            id,
            &with_grace_at(now, now + TimeDelta::hours(1)),
            &event(&sa.service_account, AuditAction::Rotate, now),
            &exempt(),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    let later = now + TimeDelta::minutes(1);
    let retire = event(&sa.service_account, AuditAction::RetirePreviousToken, later);
    let (first, retired) = store
        .retire_previous_token(acme.id, id, later, &retire)
        .await
        .unwrap()
        .unwrap();
    assert!(retired);
    assert_eq!(first.previous_token, None);
    assert_eq!(first.updated_at, later);
    assert_eq!(
        store
            .find_by_public_id(&sa.service_account.token.public_id)
            .await
            .unwrap(),
        None,
        "the retired token is not found any more"
    );
    let (second, retired) = store
        .retire_previous_token(acme.id, id, later + TimeDelta::minutes(1), &retire)
        .await
        .unwrap()
        .unwrap();
    assert!(!retired);
    assert_eq!(second, first);
    let retirements = store
        .audit_events(acme.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::RetirePreviousToken)
        .count();
    assert_eq!(retirements, 1);
    assert_eq!(
        store
            .retire_previous_token(acme.id, Uuid::new_v4(), later, &retire)
            .await
            .unwrap(),
        None
    );
}

fn claim(
    key: &[u8],
    request: &[u8],
    at_: DateTime<Utc>,
    lease: Uuid,
) -> hbx_service_accounts::store::IdempotencyClaim {
    use hbx_service_accounts::store::{IdempotencyClaim, IdempotencyKeyMac};
    IdempotencyClaim {
        keys: vec![IdempotencyKeyMac {
            key_version: 2,
            key_mac: key.to_vec(),
            request_mac: request.to_vec(),
        }],
        operation: "create_service_account",
        at: at_,
        expires_at: at_ + TimeDelta::hours(24),
        lease,
        lease_expires_at: at_ + TimeDelta::minutes(1),
    }
}

/// An idempotency record: the first claim runs, a second waits (in use) or
/// is refused (another request), a completed one answers, an attempt that
/// outlived its lease is taken over (and cannot complete any more), a
/// released one runs again, and expired ones are deleted.
async fn idempotency_records_run_once(backend: Backend) {
    use hbx_service_accounts::store::{Claimed, IdempotentCompletion, SealedResponse};
    let (store, _guard) = open_store(backend).await;
    let now = at("2030-03-01T00:00:00Z");
    let (key, request) = (b"key-mac-1".as_slice(), b"request-mac-1".as_slice());
    let first = Uuid::new_v4();
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, request, now, first))
            .await
            .unwrap(),
        Claimed::Run
    );
    let second = Uuid::new_v4();
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, request, now + TimeDelta::seconds(1), second))
            .await
            .unwrap(),
        Claimed::InUse
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, b"another request", now, second))
            .await
            .unwrap(),
        Claimed::Reused
    );
    let response = SealedResponse {
        status: 201,
        sealed: vec![1, 2, 3],
    };
    let completion = |lease| IdempotentCompletion {
        key_mac: key.to_vec(),
        lease,
        response: response.clone(),
    };
    assert!(
        !store
            .complete_idempotency_key(&completion(second))
            .await
            .unwrap(),
        "not its lease"
    );
    assert!(
        store
            .complete_idempotency_key(&completion(first))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, request, now + TimeDelta::hours(1), second))
            .await
            .unwrap(),
        Claimed::Done {
            key_version: 2,
            response: response.clone()
        }
    );
    assert!(
        !store
            .complete_idempotency_key(&completion(first))
            .await
            .unwrap(),
        "once"
    );

    // An attempt that died: after its lease, another takes over.
    let (dead_key, dead) = (b"key-mac-2".as_slice(), Uuid::new_v4());
    assert_eq!(
        store
            .claim_idempotency_key(&claim(dead_key, request, now, dead))
            .await
            .unwrap(),
        Claimed::Run
    );
    let heir = Uuid::new_v4();
    assert_eq!(
        store
            .claim_idempotency_key(&claim(dead_key, request, now + TimeDelta::minutes(2), heir))
            .await
            .unwrap(),
        Claimed::Run
    );
    let late = IdempotentCompletion {
        key_mac: dead_key.to_vec(),
        ..completion(dead)
    };
    assert!(
        !store.complete_idempotency_key(&late).await.unwrap(),
        "the dead lease lost"
    );
    let heirs = IdempotentCompletion {
        key_mac: dead_key.to_vec(),
        ..completion(heir)
    };
    assert!(store.complete_idempotency_key(&heirs).await.unwrap());

    // Released (a 5xx): the next claim runs.
    let (released_key, lease) = (b"key-mac-3".as_slice(), Uuid::new_v4());
    store
        .claim_idempotency_key(&claim(released_key, request, now, lease))
        .await
        .unwrap();
    store
        .release_idempotency_key(released_key, lease)
        .await
        .unwrap();
    assert_eq!(
        store
            .claim_idempotency_key(&claim(released_key, request, now, Uuid::new_v4()))
            .await
            .unwrap(),
        Claimed::Run
    );

    // Past the retention: gone, and the key runs anew.
    assert_eq!(store.delete_expired_idempotency_keys(now).await.unwrap(), 0);
    let after = now + TimeDelta::hours(25);
    assert_eq!(
        store.delete_expired_idempotency_keys(after).await.unwrap(),
        3
    );
    assert_eq!(
        store
            .claim_idempotency_key(&claim(key, request, after, Uuid::new_v4()))
            .await
            .unwrap(),
        Claimed::Run
    );
}

/// A record made under an older server key version is still found (and
/// answered under that version) when the claim lists the current key first.
async fn an_idempotency_record_survives_a_key_rotation(backend: Backend) {
    use hbx_service_accounts::store::{
        Claimed, IdempotencyKeyMac, IdempotentCompletion, SealedResponse,
    };
    let (store, _guard) = open_store(backend).await;
    let now = at("2030-03-01T00:00:00Z");
    let lease = Uuid::new_v4();
    let old = claim(b"under-v2", b"request-under-v2", now, lease);
    store.claim_idempotency_key(&old).await.unwrap();
    let response = SealedResponse {
        status: 200,
        sealed: vec![7; 40],
    };
    assert!(
        store
            .complete_idempotency_key(&IdempotentCompletion {
                key_mac: b"under-v2".to_vec(),
                lease,
                response: response.clone(),
            })
            .await
            .unwrap()
    );
    let mut rotated = claim(b"under-v3", b"request-under-v3", now, Uuid::new_v4());
    rotated.keys[0].key_version = 3;
    rotated.keys.push(IdempotencyKeyMac {
        key_version: 2,
        key_mac: b"under-v2".to_vec(),
        request_mac: b"request-under-v2".to_vec(),
    });
    assert_eq!(
        store.claim_idempotency_key(&rotated).await.unwrap(),
        Claimed::Done {
            key_version: 2,
            response
        }
    );
}

on_both_stores!(
    accounts_round_trip,
    service_accounts_round_trip_every_field,
    service_accounts_are_only_visible_in_their_account,
    names_are_unique_among_active_service_accounts,
    service_accounts_need_an_existing_account,
    grants_are_per_account_and_idempotent,
    grants_are_listed_removed_and_audited,
    bootstrap_is_all_or_nothing,
    rotation_replaces_the_token_and_keeps_the_rest,
    revoked_and_expired_service_accounts_are_not_rotated,
    revocation_happens_once,
    concurrent_revocations_all_answer_the_one_that_won,
    only_the_active_name_index_is_a_name_conflict,
    key_versions_are_32_bit_on_both_stores,
    last_use_is_throttled_and_follows_the_current_token,
    pages_follow_creation_order,
    a_grace_keeps_the_previous_token_until_the_next_rotation,
    retiring_the_previous_token_happens_once,
    idempotency_records_run_once,
    an_idempotency_record_survives_a_key_rotation,
);
