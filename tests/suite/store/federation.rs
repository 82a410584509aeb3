//! Federation's store: identity providers (one per issuer and account, not
//! deleted while rules name them), federation rules read back in creation
//! order, and minted tokens: the `jti` used once in the minting transaction,
//! the token found by its public id with its service account, revoked on its
//! own or with the service account, and a service account's own token
//! turned off and back on by a rotation.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::TimeDelta;
use hbx_service_accounts::domain::{
    AuditAction, CapabilityKey, Condition, FederatedToken, FederationRule, IdentityProvider,
    Issuer, OperatorName, Provenance, ProviderKeys, ProviderKind, RevocationReason,
    TokenGeneration,
};
use hbx_service_accounts::store::{Revocation, UsedJti};
use hbx_service_accounts::token::keyring::TokenMac;
use uuid::Uuid;

use super::{Store, StoreError, account_with_one, at, event, exempt, replacement, token_facts};
use crate::common::Backend;
use crate::common::stores::open_store;

fn provider(account_id: Uuid, issuer: &str, keys: ProviderKeys) -> IdentityProvider {
    IdentityProvider {
        id: Uuid::new_v4(),
        account_id,
        name: OperatorName::parse("GitHub Actions".into()).unwrap(),
        issuer: Issuer::parse(issuer, false).unwrap(),
        kind: ProviderKind::GithubActions,
        keys,
        max_subject_token_lifetime_seconds: 3600,
        created_at: at("2030-01-01T00:00:01Z"),
    }
}

fn rule(sa_account: Uuid, sa: Uuid, provider: Uuid, seconds: i64) -> FederationRule {
    FederationRule {
        id: Uuid::new_v4(),
        account_id: sa_account,
        service_account_id: sa,
        identity_provider_id: provider,
        audience: format!("https://api.hybridbox.io/accounts/{sa_account}"),
        conditions: vec![
            Condition::parse("repository_owner_id", "eq", Some("42".into()), None).unwrap(),
            Condition::parse("ref", "glob", Some("refs/heads/*".into()), None).unwrap(),
            Condition::parse("environment", "in", None, Some(vec!["prod".into()])).unwrap(),
        ],
        capabilities: vec![CapabilityKey::parse("auth.manage").unwrap()],
        token_ttl_seconds: 900,
        description: Some("deploys".into()),
        created_at: at("2030-01-01T00:00:00Z") + TimeDelta::seconds(seconds),
    }
}

fn some_event(
    store_sa: &hbx_service_accounts::domain::ServiceAccount,
) -> hbx_service_accounts::domain::AuditEvent {
    event(store_sa, AuditAction::Create, at("2030-01-01T00:00:02Z"))
}

fn minted(
    sa: &hbx_service_accounts::domain::ServiceAccount,
    rule: &FederationRule,
) -> FederatedToken {
    FederatedToken {
        token: token_facts(),
        account_id: sa.account_id,
        service_account_id: sa.id,
        capabilities: rule.capabilities.clone(),
        provenance: Provenance {
            federation_rule_id: rule.id,
            identity_provider_id: rule.identity_provider_id,
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:acme/api:ref:refs/heads/main".into(),
            claims: BTreeMap::from([("run_id".to_owned(), "7".to_owned())]),
        },
        expires_at: at("2030-01-01T00:15:00Z"),
        revoked_at: None,
        revoked_reason: None,
    }
}

fn mac() -> TokenMac {
    TokenMac {
        key_version: 2,
        digest: vec![5; 32],
    }
}

fn jti(text: &str) -> UsedJti {
    UsedJti {
        issuer: "https://token.actions.githubusercontent.com".into(),
        jti: text.into(),
        expires_at: at("2030-01-01T00:10:00Z"),
    }
}

async fn providers_are_one_per_issuer_and_kept_while_rules_name_them(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let sa = &sa.service_account;
    let github = provider(
        acme.id,
        "https://token.actions.githubusercontent.com",
        ProviderKeys::Discovery,
    );
    store
        .create_identity_provider(&github, &some_event(sa))
        .await
        .unwrap();
    let inline = ProviderKeys::Inline("{\"keys\": []}".into());
    let again = provider(
        acme.id,
        "https://token.actions.githubusercontent.com",
        inline.clone(),
    );
    assert!(matches!(
        store
            .create_identity_provider(&again, &some_event(sa))
            .await,
        Err(StoreError::IdentityProviderExists)
    ));
    let mut gitlab = provider(acme.id, "https://gitlab.example.com", inline);
    gitlab.created_at = at("2030-01-01T00:00:02Z");
    store
        .create_identity_provider(&gitlab, &some_event(sa))
        .await
        .unwrap();
    let listed = store.list_identity_providers(acme.id).await.unwrap();
    assert_eq!(listed, vec![github.clone(), gitlab.clone()]);
    let found = store
        .identity_provider_by_issuer(acme.id, "https://token.actions.githubusercontent.com")
        .await
        .unwrap();
    assert_eq!(found, Some(github.clone()));
    assert_eq!(
        store
            .identity_provider_by_issuer(Uuid::new_v4(), github.issuer.as_str())
            .await
            .unwrap(),
        None,
        "another account's issuer is not this one's"
    );
    let r = rule(acme.id, sa.id, github.id, 0);
    store
        .create_federation_rule(&r, &some_event(sa))
        .await
        .unwrap();
    assert!(matches!(
        store
            .delete_identity_provider(acme.id, github.id, &some_event(sa))
            .await,
        Err(StoreError::IdentityProviderInUse)
    ));
    let deleted = store
        .delete_identity_provider(acme.id, gitlab.id, &some_event(sa))
        .await;
    assert_eq!(deleted.unwrap(), Some(gitlab.clone()));
    assert_eq!(
        store
            .get_identity_provider(acme.id, gitlab.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .delete_identity_provider(acme.id, gitlab.id, &some_event(sa))
            .await
            .unwrap(),
        None
    );
}

async fn rules_read_back_in_creation_order_for_live_service_accounts(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, sa) = account_with_one(&store).await;
    let sa = &sa.service_account;
    let github = provider(
        acme.id,
        "https://token.actions.githubusercontent.com",
        ProviderKeys::Discovery,
    );
    store
        .create_identity_provider(&github, &some_event(sa))
        .await
        .unwrap();
    let (second, first) = (
        rule(acme.id, sa.id, github.id, 5),
        rule(acme.id, sa.id, github.id, 1),
    );
    store
        .create_federation_rule(&second, &some_event(sa))
        .await
        .unwrap();
    store
        .create_federation_rule(&first, &some_event(sa))
        .await
        .unwrap();
    let rules = store.federation_rules_of(acme.id, sa.id).await.unwrap();
    assert_eq!(rules, vec![first.clone(), second.clone()]);
    // Unknown provider, another account's service account: nothing written.
    let stray = rule(acme.id, sa.id, Uuid::new_v4(), 9);
    assert!(matches!(
        store.create_federation_rule(&stray, &some_event(sa)).await,
        Err(StoreError::IdentityProviderNotFound)
    ));
    let elsewhere = rule(acme.id, Uuid::new_v4(), github.id, 9);
    assert!(matches!(
        store
            .create_federation_rule(&elsewhere, &some_event(sa))
            .await,
        Err(StoreError::ServiceAccountNotInAccount)
    ));
    assert_eq!(
        store
            .federation_rules_of(acme.id, sa.id)
            .await
            .unwrap()
            .len(),
        2
    );
    let gone = store
        .delete_federation_rule(acme.id, sa.id, first.id, &some_event(sa))
        .await;
    assert_eq!(gone.unwrap(), Some(first.clone()));
    assert_eq!(
        store
            .get_federation_rule(acme.id, sa.id, first.id)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.federation_rules_of(acme.id, sa.id).await.unwrap(),
        vec![second]
    );
}

async fn a_minted_token_is_found_used_once_and_revoked_with_its_service_account(backend: Backend) {
    let (store, _guard) = open_store(backend).await;
    let (acme, stored) = account_with_one(&store).await;
    let sa = &stored.service_account;
    let github = provider(
        acme.id,
        "https://token.actions.githubusercontent.com",
        ProviderKeys::Discovery,
    );
    store
        .create_identity_provider(&github, &some_event(sa))
        .await
        .unwrap();
    let r = rule(acme.id, sa.id, github.id, 0);
    store
        .create_federation_rule(&r, &some_event(sa))
        .await
        .unwrap();
    let token = minted(sa, &r);
    store
        .mint_federated_token(&token, &mac(), &jti("run-7-1"), &some_event(sa))
        .await
        .unwrap();
    // The same jti again: refused, and no second token is written.
    let replay = minted(sa, &r);
    assert!(matches!(
        store
            .mint_federated_token(&replay, &mac(), &jti("run-7-1"), &some_event(sa))
            .await,
        Err(StoreError::JtiReplayed)
    ));
    assert_eq!(
        store
            .find_by_public_id(&replay.token.public_id)
            .await
            .unwrap(),
        None
    );
    let found = store
        .find_by_public_id(&token.token.public_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.service_account, *sa);
    assert_eq!(found.federated, Some((token.clone(), mac())));
    // Revoked on its own: the service account's own token keeps working.
    let revoked = store
        .revoke_federated_token(
            &token.token.public_id,
            at("2030-01-01T00:05:00Z"),
            RevocationReason::Reported,
            &some_event(sa),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(revoked.1);
    assert_eq!(revoked.0.revoked_reason, Some(RevocationReason::Reported));
    let again = store
        .revoke_federated_token(
            &token.token.public_id,
            at("2030-01-01T00:06:00Z"),
            RevocationReason::Reported,
            &some_event(sa),
        )
        .await
        .unwrap()
        .unwrap();
    assert!(!again.1, "revoked already");
    assert_eq!(again.0.revoked_at, Some(at("2030-01-01T00:05:00Z")));
    // Revoking the service account revokes its live federated tokens.
    let other = minted(sa, &r);
    store
        .mint_federated_token(&other, &mac(), &jti("run-7-2"), &some_event(sa))
        .await
        .unwrap();
    let revocation = Revocation {
        at: at("2030-01-01T00:07:00Z"),
        by_user_id: None,
        reason: RevocationReason::Requested,
    };
    store
        .revoke(acme.id, sa.id, revocation, &some_event(sa))
        .await
        .unwrap();
    let (after, _) = store
        .find_by_public_id(&other.token.public_id)
        .await
        .unwrap()
        .unwrap()
        .federated
        .unwrap();
    assert_eq!(after.revoked_at, Some(at("2030-01-01T00:07:00Z")));
    assert_eq!(after.revoked_reason, Some(RevocationReason::Requested));
    // A revoked service account mints nothing.
    let late = minted(sa, &r);
    assert!(matches!(
        store
            .mint_federated_token(&late, &mac(), &jti("run-7-3"), &some_event(sa))
            .await,
        Err(StoreError::ServiceAccountNotInAccount)
    ));
    let _ = TokenGeneration::Federated;
}

async fn the_own_token_is_turned_off_and_back_on_by_a_rotation(backend: Backend) {
    let (store, _guard): (Arc<dyn Store>, _) = open_store(backend).await;
    let (acme, stored) = account_with_one(&store).await;
    let sa = &stored.service_account;
    let when = at("2030-01-01T00:01:00Z");
    let (off, changed) = store
        .disable_static_token(acme.id, sa.id, when, &some_event(sa))
        .await
        .unwrap()
        .unwrap();
    assert!(changed);
    assert_eq!(off.static_token_disabled_at, Some(when));
    let (_, again) = store
        .disable_static_token(acme.id, sa.id, at("2030-01-01T00:02:00Z"), &some_event(sa))
        .await
        .unwrap()
        .unwrap();
    assert!(!again, "off already");
    let found = store
        .find_by_public_id(&sa.token.public_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.service_account.static_token_disabled_at, Some(when));
    // A rotation with a grace period turns a new token on, and the one that
    // was off does not come back as the previous token.
    let mut rotation = replacement(at("2030-01-01T00:03:00Z"));
    rotation.previous_works_until = Some(at("2030-01-01T01:00:00Z"));
    let rotated = store
        .rotate_token(acme.id, sa.id, &rotation, &some_event(sa), &exempt(), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.static_token_disabled_at, None);
    assert_eq!(rotated.previous_token, None);
    assert_eq!(
        store.find_by_public_id(&sa.token.public_id).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .disable_static_token(acme.id, Uuid::new_v4(), when, &some_event(sa))
            .await
            .unwrap(),
        None
    );
}

on_both_stores!(
    providers_are_one_per_issuer_and_kept_while_rules_name_them,
    rules_read_back_in_creation_order_for_live_service_accounts,
    a_minted_token_is_found_used_once_and_revoked_with_its_service_account,
    the_own_token_is_turned_off_and_back_on_by_a_rotation,
);
