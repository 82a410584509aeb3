//! Durable state, one resource per module: [`accounts`], [`service_accounts`]
//! (and their tokens), [`authorizations`] and [`role_assignments`] (read
//! together as a subject's [`holdings`]), [`idempotency`] records,
//! [`introspection_clients`], [`audit_events`], federation's
//! [`identity_providers`], [`federation_rules`] and [`federated_tokens`],
//! lifecycle [`webhooks`] with their outbox ([`webhook_events`]) and
//! delivery log ([`webhook_deliveries`]) and expiry scan ([`webhook_scan`]),
//! and the store's [`health`].
//! Each module holds its resource's rows, SQL and a narrow trait, implemented
//! once for every SQL database by [`SqlStore`] ([`sql_store`]); a database
//! module ([`sqlite`], [`postgres`]) holds only what really differs, and
//! [`backend`] says what a database must provide. One behaviour suite
//! (`tests/suite/store/`) runs every resource against both databases.
//!
//! Services hold the narrow traits they use, not the whole store;
//! authentication depends on the lookups alone ([`TokenLookup`],
//! [`GrantLookup`], [`ClientLookup`], and [`LastUseLog`] to record uses),
//! which the credential cache also implements.
//!
//! Every method that returns `Ok` has made its change durable: a caller may
//! acknowledge it to a client.

pub mod accounts;
pub mod audit_events;
pub mod authorizations;
pub mod backend;
pub mod breaker;
pub mod change_listener;
pub mod changes;
pub mod columns;
pub mod error;
pub mod federated_tokens;
pub mod federation_rules;
pub mod health;
pub mod holdings;
pub mod idempotency;
pub mod identity_providers;
pub mod introspection_clients;
mod keyset;
pub mod postgres;
pub mod refusal;
pub mod role_assignments;
pub mod service_accounts;
pub mod sessions;
pub mod sql_store;
pub mod sqlite;
pub mod transaction_pooler;
pub mod webhook_deliveries;
pub mod webhook_events;
mod webhook_outbox;
pub mod webhook_scan;
pub mod webhooks;

pub use accounts::AccountStore;
pub use audit_events::{AuditEventStore, AuditFilter};
pub use authorizations::{AuthorizationFilter, AuthorizationStore};
pub use changes::{ChangeHub, CredentialChange, CredentialChanges};
pub use error::{BoxError, StoreError};
pub use federated_tokens::{FederatedTokenStore, UsedJti};
pub use federation_rules::FederationRuleStore;
pub use health::{PoolStats, StoreHealth, StoreStats};
pub use holdings::GrantLookup;
pub use idempotency::{
    Claimed, Complete, IdempotencyClaim, IdempotencyKeyMac, IdempotencyStore, IdempotentCompletion,
    SealedResponse,
};
pub use identity_providers::IdentityProviderStore;
pub use introspection_clients::{
    ClientLookup, IntrospectionClientStore, StoredIntrospectionClient,
};
pub use postgres::{PostgresOptions, PostgresStore};
pub use role_assignments::{RoleAssignmentStore, RolePage};
pub use service_accounts::{
    EscalationGuard, LastUse, LastUseLog, LeakResponse, PageRequest, Replay, ReplayVerdict,
    Revocation, ServiceAccountStore, StoredServiceAccount, TokenLookup, TokenReplacement,
    TokenStore,
};
pub use sql_store::SqlStore;
pub use sqlite::SqliteStore;
pub use webhook_deliveries::{DeliveryFilter, WebhookDeliveryLog};
pub use webhook_events::{Attempt, AttemptOutcome, Backlog, DueEvent, NextStep, WebhookQueue};
pub use webhook_scan::{EndingToken, WebhookScanSource};
pub use webhooks::{SealedSecret, StoredWebhook, WebhookStore};

/// Every question verifying a credential asks: what a cache of verified
/// credentials stands in front of.
pub trait CredentialLookup: TokenLookup + GrantLookup + ClientLookup {}

impl<T: TokenLookup + GrantLookup + ClientLookup> CredentialLookup for T {}

/// A whole store: every resource on one database. Only the wiring (`App`)
/// and the store's own tests hold one; everything else takes the narrow
/// traits above (a `dyn Store` converts into any of them).
pub trait Store:
    AccountStore
    + ServiceAccountStore
    + TokenStore
    + AuthorizationStore
    + RoleAssignmentStore
    + IdempotencyStore
    + IntrospectionClientStore
    + AuditEventStore
    + IdentityProviderStore
    + FederationRuleStore
    + FederatedTokenStore
    + WebhookStore
    + WebhookQueue
    + WebhookDeliveryLog
    + WebhookScanSource
    + StoreHealth
    + CredentialChanges
    + CredentialLookup
    + LastUseLog
{
}

impl<T> Store for T where
    T: AccountStore
        + ServiceAccountStore
        + TokenStore
        + AuthorizationStore
        + RoleAssignmentStore
        + IdempotencyStore
        + IntrospectionClientStore
        + AuditEventStore
        + IdentityProviderStore
        + FederationRuleStore
        + FederatedTokenStore
        + WebhookStore
        + WebhookQueue
        + WebhookDeliveryLog
        + WebhookScanSource
        + StoreHealth
        + CredentialChanges
        + CredentialLookup
        + LastUseLog
{
}
