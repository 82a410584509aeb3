//! One behaviour suite for every [`Store`] implementation, run against real
//! databases: each behaviour is an async function over `Arc<dyn Store>`, and
//! `store_suite!` instantiates all of them for one store.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use hbx_service_accounts::domain::{Account, Capability, ServiceAccount, Subject, TokenFacts};
use hbx_service_accounts::store::{Grant, PageRequest, Store, StoreError, StoredServiceAccount};
use hbx_service_accounts::token::keyring::TokenMac;
use uuid::Uuid;

/// A store under test and whatever keeps its database alive.
pub struct StoreUnderTest {
    pub store: Arc<dyn Store>,
    _guard: Box<dyn std::any::Any + Send>,
}

async fn sqlite() -> StoreUnderTest {
    let dir = tempfile::tempdir().unwrap();
    let store = hbx_service_accounts::store::SqliteStore::open(
        &dir.path().join("store.sqlite3"),
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    StoreUnderTest {
        store: Arc::new(store),
        _guard: Box::new(dir),
    }
}

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

fn service_account(
    account_id: Uuid,
    name: &str,
    created_at: DateTime<Utc>,
) -> StoredServiceAccount {
    let public_id: String = Uuid::new_v4().simple().to_string()[..16].to_owned();
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
            token: TokenFacts {
                prefix: "hbxsa".into(),
                public_id,
                last4: "abcd".into(),
            },
        },
        mac: TokenMac {
            key_version: 3,
            digest: (0u8..32).collect(),
        },
    }
}

pub async fn accounts_round_trip(store: Arc<dyn Store>) {
    let acme = account("acme ✓");
    store.create_account(&acme).await.unwrap();
    assert_eq!(store.get_account(acme.id).await.unwrap(), Some(acme));
    assert_eq!(store.get_account(Uuid::new_v4()).await.unwrap(), None);
}

pub async fn service_accounts_round_trip_every_field(store: Arc<dyn Store>) {
    let acme = account("acme");
    store.create_account(&acme).await.unwrap();
    let mut new = service_account(acme.id, "all fields", at("2030-01-02T03:04:05.000001Z"));
    let sa = &mut new.service_account;
    sa.created_by_user_id = Some(Uuid::new_v4());
    sa.expires_at = Some(at("2031-12-31T23:59:59.999999Z"));
    sa.last_used_at = Some(at("2030-06-01T00:00:00Z"));
    sa.updated_at = at("2030-06-01T00:00:00.5Z");
    store.insert_service_account(&new).await.unwrap();
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
}

pub async fn names_are_unique_among_active_service_accounts(store: Arc<dyn Store>) {
    let acme = account("acme");
    let other = account("other");
    store.create_account(&acme).await.unwrap();
    store.create_account(&other).await.unwrap();
    let now = at("2030-01-01T00:00:00Z");
    store
        .insert_service_account(&service_account(acme.id, "deploy", now))
        .await
        .unwrap();
    assert!(matches!(
        store
            .insert_service_account(&service_account(acme.id, "deploy", now))
            .await,
        Err(StoreError::NameConflict)
    ));
    store
        .insert_service_account(&service_account(acme.id, "Deploy", now))
        .await
        .unwrap();
    store
        .insert_service_account(&service_account(other.id, "deploy", now))
        .await
        .unwrap();
    // A revoked one frees its name.
    let mut revoked = service_account(acme.id, "retired", now);
    revoked.service_account.revoked_at = Some(now);
    store.insert_service_account(&revoked).await.unwrap();
    store
        .insert_service_account(&service_account(acme.id, "retired", now))
        .await
        .unwrap();
}

pub async fn service_accounts_need_an_existing_account(store: Arc<dyn Store>) {
    let orphan = service_account(Uuid::new_v4(), "orphan", at("2030-01-01T00:00:00Z"));
    assert!(matches!(
        store.insert_service_account(&orphan).await,
        Err(StoreError::AccountNotFound)
    ));
}

pub async fn grants_are_per_account_and_idempotent(store: Arc<dyn Store>) {
    let acme = account("acme");
    let other = account("other");
    store.create_account(&acme).await.unwrap();
    store.create_account(&other).await.unwrap();
    let now = at("2030-01-01T00:00:00Z");
    let sa = service_account(acme.id, "worker", now);
    store.insert_service_account(&sa).await.unwrap();
    let worker = Subject::ServiceAccount(sa.service_account.id);
    let user = Subject::User(Uuid::new_v4());

    assert!(
        store
            .capabilities(acme.id, worker)
            .await
            .unwrap()
            .is_empty()
    );
    let grant = |account_id, subject, capability| Grant {
        account_id,
        subject,
        capability,
        created_at: now,
    };
    store
        .add_grant(&grant(acme.id, worker, Capability::AuthManage))
        .await
        .unwrap();
    store
        .add_grant(&grant(acme.id, worker, Capability::AuthManage))
        .await
        .unwrap();
    assert_eq!(
        store.capabilities(acme.id, worker).await.unwrap(),
        vec![Capability::AuthManage]
    );

    store
        .add_grant(&grant(other.id, user, Capability::AccountOwner))
        .await
        .unwrap();
    assert_eq!(
        store.capabilities(other.id, user).await.unwrap(),
        vec![Capability::AccountOwner]
    );
    assert!(store.capabilities(acme.id, user).await.unwrap().is_empty());

    // A service account holds grants only in its own account.
    assert!(matches!(
        store
            .add_grant(&grant(other.id, worker, Capability::AuthManage))
            .await,
        Err(StoreError::ServiceAccountNotInAccount)
    ));
    assert!(matches!(
        store
            .add_grant(&grant(Uuid::new_v4(), user, Capability::AuthManage))
            .await,
        Err(StoreError::AccountNotFound)
    ));
}

pub async fn bootstrap_is_all_or_nothing(store: Arc<dyn Store>) {
    let acme = account("acme");
    let owner = service_account(acme.id, "owner", acme.created_at);
    store.bootstrap(&acme, &owner).await.unwrap();
    assert_eq!(
        store.get_account(acme.id).await.unwrap(),
        Some(acme.clone())
    );
    assert_eq!(
        store
            .capabilities(acme.id, Subject::ServiceAccount(owner.service_account.id))
            .await
            .unwrap(),
        vec![Capability::AccountOwner]
    );

    // The second bootstrap's service account collides on public id, so its
    // account must not be left behind.
    let second = account("second");
    let mut clash = service_account(second.id, "owner", second.created_at);
    clash.service_account.token.public_id = owner.service_account.token.public_id.clone();
    assert!(store.bootstrap(&second, &clash).await.is_err());
    assert_eq!(store.get_account(second.id).await.unwrap(), None);
}

pub async fn pages_follow_creation_order(store: Arc<dyn Store>) {
    let acme = account("acme");
    store.create_account(&acme).await.unwrap();
    let start = at("2030-01-01T00:00:00Z");
    let mut expected = Vec::new();
    for i in 0..25 {
        // Pairs share a created_at, so ties are broken by id.
        let mut sa = service_account(
            acme.id,
            &format!("sa {i}"),
            start + TimeDelta::seconds(i / 2),
        );
        if i % 5 == 0 {
            sa.service_account.revoked_at = Some(start);
        }
        store.insert_service_account(&sa).await.unwrap();
        expected.push(sa.service_account);
    }
    expected.sort_by_key(|sa| (sa.created_at, sa.id));

    for include_revoked in [false, true] {
        let wanted: Vec<Uuid> = expected
            .iter()
            .filter(|sa| include_revoked || sa.revoked_at.is_none())
            .map(|sa| sa.id)
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
            seen.extend(page.iter().map(|sa| sa.id));
        }
        assert_eq!(seen, wanted, "include_revoked = {include_revoked}");
    }

    // A cursor from another account (or nowhere) is refused.
    assert!(matches!(
        store
            .list_service_accounts(
                acme.id,
                PageRequest {
                    include_revoked: true,
                    limit: 10,
                    after: Some(Uuid::new_v4())
                }
            )
            .await,
        Err(StoreError::CursorNotFound)
    ));
}

macro_rules! store_suite {
    ($store:ident: $($behaviour:ident),+ $(,)?) => {
        mod $store {
            $(
                #[tokio::test]
                async fn $behaviour() {
                    let under_test = super::$store().await;
                    super::$behaviour(under_test.store.clone()).await;
                }
            )+
        }
    };
}

store_suite!(sqlite:
    accounts_round_trip,
    service_accounts_round_trip_every_field,
    names_are_unique_among_active_service_accounts,
    service_accounts_need_an_existing_account,
    grants_are_per_account_and_idempotent,
    bootstrap_is_all_or_nothing,
    pages_follow_creation_order,
);
