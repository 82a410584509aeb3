//! One behaviour suite for the store, run against real databases: each
//! behaviour is an async function of the [`Backend`], run on SQLite and on
//! PostgreSQL by `on_both_stores!`, in a module per resource (as `src/store/`
//! is laid out). This module holds their fixtures; `scale_out` and
//! `crash_safety` run whole servers on the stores.

mod accounts;
mod audit_events;
mod authorizations;
mod behind_pgbouncer;
mod crash_safety;
mod federation;
mod idempotency;
mod scale_out;
mod service_accounts;
mod tokens;
mod transaction_pooler;
mod webhook_crash_safety;
mod webhooks;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hbx_service_accounts::domain::{
    Account, Actor, AuditAction, AuditDetail, AuditEvent, Authorization, Effective, Grants,
    Resource, RoleTable, ServiceAccount, Subject, TokenFacts,
};
pub use hbx_service_accounts::store::{
    AccountStore, AuditEventStore, AuthorizationFilter, AuthorizationStore, EscalationGuard,
    GrantLookup, IdempotencyStore, LastUseLog, RoleAssignmentStore, RolePage, ServiceAccountStore,
    Store, StoreError, StoredServiceAccount, TokenLookup, TokenReplacement, TokenStore,
};
use hbx_service_accounts::token::keyring::TokenMac;
use uuid::Uuid;

pub(super) fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

pub(super) fn account(name: &str) -> Account {
    Account {
        id: Uuid::new_v4(),
        name: name.into(),
        created_at: at("2030-01-02T03:04:05.678901Z"),
    }
}

pub(super) fn token_facts() -> TokenFacts {
    TokenFacts {
        prefix: "hbxsa".into(),
        public_id: Uuid::new_v4().simple().to_string()[..16].to_owned(),
        last4: "abcd".into(),
        issued_at: at("2030-01-01T00:00:00.000007Z"),
    }
}

pub(super) fn service_account(
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
            static_token_disabled_at: None,
        },
        mac: TokenMac {
            key_version: 3,
            digest: (0u8..32).collect(),
        },
        previous_mac: None,
        federated: None,
    }
}

pub(super) fn event(sa: &ServiceAccount, action: AuditAction, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        occurred_at: at,
        account_id: sa.account_id,
        service_account_id: Some(sa.id),
        action,
        actor: Actor::User(Uuid::from_u128(7)),
        id: uuid::Uuid::new_v4(),
        origin: hbx_service_accounts::domain::Origin {
            request_id: Some(format!("request-{}", action.as_str())),
            ..Default::default()
        },
        token_public_id: None,
        detail: None,
    }
}

/// A live grant of `grants` to `subject` in `account_id`, made at `now`.
pub(super) fn authorization(
    account_id: Uuid,
    subject: Subject,
    grants: Grants,
    resource: Option<Resource>,
    now: DateTime<Utc>,
) -> Authorization {
    Authorization {
        id: Uuid::new_v4(),
        account_id,
        subject,
        grants,
        resource,
        created_at: now,
        revoked_at: None,
    }
}

/// The operator's audit event of a change to `grant`.
pub(super) fn grant_event(grant: &Authorization, action: AuditAction) -> AuditEvent {
    AuditEvent {
        occurred_at: grant.created_at,
        account_id: grant.account_id,
        service_account_id: None,
        action,
        actor: Actor::Operator,
        id: uuid::Uuid::new_v4(),
        origin: hbx_service_accounts::domain::Origin::default(),
        token_public_id: None,
        detail: Some(AuditDetail::Grant {
            authorization_id: Some(grant.id),
            subject: grant.subject.clone(),
            grants: grant.grants.clone(),
            resource: grant.resource,
        }),
    }
}

/// Adds `grant` with its audit event.
pub(super) async fn add_grant(
    store: &Arc<dyn Store>,
    grant: &Authorization,
) -> Result<(), StoreError> {
    store
        .create_authorization(grant, &grant_event(grant, AuditAction::GrantAdd), None)
        .await
}

/// Inserts `new` with its creation event.
pub(super) async fn insert(
    store: &Arc<dyn Store>,
    new: &StoredServiceAccount,
) -> Result<(), StoreError> {
    let created = event(
        &new.service_account,
        AuditAction::Create,
        new.service_account.created_at,
    );
    store.insert_service_account(new, &created, None).await
}

/// An account with one service account in it.
pub(super) async fn account_with_one(store: &Arc<dyn Store>) -> (Account, StoredServiceAccount) {
    let acme = account("acme");
    store.create_account(&acme).await.unwrap();
    let sa = service_account(acme.id, "worker", at("2030-01-01T00:00:00Z"));
    insert(store, &sa).await.unwrap();
    (acme, sa)
}

/// A rotation by an owner: never refused for escalation.
pub(super) fn exempt() -> EscalationGuard {
    EscalationGuard {
        caller: Effective::default(),
        roles: Arc::new(RoleTable::default_table()),
        exempt: true,
    }
}

pub(super) fn replacement(at: DateTime<Utc>) -> TokenReplacement {
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
