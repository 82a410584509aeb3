//! Service accounts' tokens: rotation, grace periods and retiring the previous token, and recording last uses.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use hbx_service_accounts::domain::{
    AuditAction, AuditDetail, RevocationReason, ServiceAccount, TokenGeneration,
};
use hbx_service_accounts::store::{LastUse, Revocation};
use uuid::Uuid;

use super::*;
use crate::common::Backend;
use crate::common::stores::open_store;

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

on_every_store!(
    rotation_replaces_the_token_and_keeps_the_rest,
    revoked_and_expired_service_accounts_are_not_rotated,
    last_use_is_throttled_and_follows_the_current_token,
    a_grace_keeps_the_previous_token_until_the_next_rotation,
    retiring_the_previous_token_happens_once,
);
