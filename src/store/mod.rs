//! Durable state behind one trait, [`Store`], implemented once
//! ([`shared::SqlStore`]) for every SQL database: each table's rows are
//! described once ([`rows`]), the SQL is written once ([`sql`]), and a database
//! module ([`sqlite`], [`postgres`]) holds only what really differs. The service
//! layer talks only to the traits; one behaviour suite (tests/suite/store.rs)
//! runs against both databases.
//!
//! Authentication and authorization ask a few questions, so they depend on
//! narrow traits ([`TokenLookup`], [`GrantLookup`], [`ClientLookup`], and
//! [`LastUseLog`] to record uses), not on the whole store.
//!
//! Every method that returns `Ok` has made its change durable: a caller may
//! acknowledge it to a client.

pub mod backend;
pub mod changes;
pub mod postgres;
pub mod rows;
pub mod shared;
pub mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;
use slog::Logger;

use self::changes::ChangeHub;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::{
    Account, AuditEvent, CapabilityKey, IntrospectionClient, RevocationReason, ServiceAccount,
    Subject, TokenFacts, TokenGeneration,
};
use crate::token::keyring::TokenMac;

pub use postgres::{PostgresOptions, PostgresStore};
pub use shared::SqlStore;
pub use sqlite::SqliteStore;

/// A service account together with the MACs of its tokens: what the store
/// keeps, and what authentication needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredServiceAccount {
    pub service_account: ServiceAccount,
    pub mac: TokenMac,
    /// The MAC of `service_account.previous_token`, when there is one.
    pub previous_mac: Option<TokenMac>,
}

/// An introspection client together with the MAC of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIntrospectionClient {
    pub client: IntrospectionClient,
    pub secret: TokenMac,
}

/// A store's connections, failures and health, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreStats {
    pub pools: Vec<PoolStats>,
    /// Operations that failed because the database was unreachable or busy.
    pub unavailable_errors: u64,
    /// Operations that failed for any other reason.
    pub internal_errors: u64,
    /// The database is known to be unreachable (requests fail at once).
    pub down: bool,
}

/// One connection pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    /// Open connections.
    pub size: u32,
    /// Of which idle.
    pub idle: u32,
}

/// A grant of one capability on one account to one subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub account_id: Uuid,
    pub subject: Subject,
    pub capability: CapabilityKey,
    pub created_at: DateTime<Utc>,
}

/// A new token for an existing service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenReplacement {
    pub token: TokenFacts,
    pub mac: TokenMac,
    /// When the rotation happens: the new `updated_at`, and the instant at
    /// which the service account must not yet have expired.
    pub at: DateTime<Utc>,
    /// Until when the replaced token keeps working (capped by the service
    /// account's own `expires_at`); none: it stops at once. Either way, a
    /// previous token from an earlier rotation stops at once.
    pub previous_works_until: Option<DateTime<Utc>>,
}

/// Who may receive a rotated token: a caller holding `held`, unless it is
/// `exempt` (an owner, or the service account itself), must hold every
/// capability the service account holds when the rotation commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationGuard {
    pub held: Vec<CapabilityKey>,
    pub exempt: bool,
}

/// A revocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    pub at: DateTime<Utc>,
    /// The user who revoked it; none when a service account (or an outsider,
    /// for a leak) did.
    pub by_user_id: Option<Uuid>,
    pub reason: RevocationReason,
}

/// What to do about a leaked token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakResponse {
    /// The current token leaked: revoke the service account (unless it is
    /// revoked already).
    Revoke(Revocation),
    /// The previous token leaked in its grace period: retire it at this
    /// instant (the current token did not leak).
    RetirePrevious(DateTime<Utc>),
    /// Only record the report.
    Record,
}

/// A successful authentication to record as `last_used_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastUse {
    pub service_account_id: Uuid,
    /// The token that was used: a use of a token that has since been rotated
    /// away (or, for a previous token, retired) is not recorded.
    pub public_id: String,
    /// Whether it was the current or the previous token.
    pub generation: TokenGeneration,
    pub at: DateTime<Utc>,
    /// Only record if the stored `last_used_at` is null or not after this
    /// (the throttle: at most one write per token per interval, across every
    /// instance sharing the database).
    pub unless_recorded_after: DateTime<Utc>,
}

/// One page of an account's service accounts, in `(created_at, id)` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Include revoked service accounts.
    pub include_revoked: bool,
    /// At most this many.
    pub limit: u32,
    /// Start after this service account (the last of the previous page).
    pub after: Option<Uuid>,
}

/// What an idempotent request claims before it runs: its record, under the
/// MAC of its idempotency key (the key itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The key's MAC under each known server key version, current first:
    /// a record made under an older key is still found.
    pub keys: Vec<IdempotencyKeyMac>,
    /// The operation, for operators reading the table.
    pub operation: &'static str,
    pub at: DateTime<Utc>,
    /// When the record may be deleted (a repeat after that runs anew).
    pub expires_at: DateTime<Utc>,
    /// Identifies this attempt: only its holder may complete the record.
    pub lease: Uuid,
    /// After this, an attempt that never completed is taken to have died
    /// (its operation did not commit) and another may run.
    pub lease_expires_at: DateTime<Utc>,
}

/// An idempotency key's MAC under one server key version, and the MAC of
/// the request made with it under the same version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKeyMac {
    pub key_version: u32,
    pub key_mac: Vec<u8>,
    pub request_mac: Vec<u8>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// Nothing recorded (or only an attempt that died): this attempt runs,
    /// under the current key version (the first of the claim's keys).
    Run,
    /// Answered already: the recorded response, sealed, and the key version
    /// it was recorded under.
    Done {
        key_version: u32,
        response: SealedResponse,
    },
    /// Another attempt with this key is running.
    InUse,
    /// The key was used with a different request.
    Reused,
}

/// A recorded response: its status and its sealed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedResponse {
    pub status: u16,
    pub sealed: Vec<u8>,
}

/// Completes an idempotency record: written in the same transaction as the
/// operation's change, so the two commit or fail together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentCompletion {
    pub key_mac: Vec<u8>,
    pub lease: Uuid,
    pub response: SealedResponse,
}

/// Builds the completion of an idempotent operation from the service account
/// it committed (called inside the transaction).
pub type Complete<'a> = &'a (dyn Fn(&ServiceAccount) -> IdempotentCompletion + Send + Sync);

/// A boxed error kept as the source of another, for the logs.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another non-revoked service account of the account has this name.
    #[error("a non-revoked service account with this name exists in the account")]
    NameConflict,
    #[error("the account does not exist")]
    AccountNotFound,
    /// A grant named a service account that is not in the grant's account.
    #[error("the service account does not exist in this account")]
    ServiceAccountNotInAccount,
    /// A rotation would hand the caller a token holding capabilities it does
    /// not hold itself.
    #[error("the service account holds capabilities the caller lacks: {missing:?}")]
    WouldEscalate { missing: Vec<String> },
    /// A page's `after` does not name a service account of the account.
    #[error("the paging cursor does not name a service account of this account")]
    CursorNotFound,
    /// An idempotent attempt outlived its lease and another took over: its
    /// change was not committed.
    #[error("another request with the same idempotency key took over")]
    IdempotencyLeaseLost,
    /// The database cannot be reached or is too busy; retrying later may work.
    #[error("the database is unavailable")]
    Unavailable(#[source] BoxError),
    /// Anything else: a bug or a corrupt database.
    #[error("the database failed")]
    Internal(#[source] BoxError),
}

/// What authenticating a service-account token asks of the store.
#[async_trait]
pub trait TokenLookup: Send + Sync + 'static {
    /// The service account whose current or previous token has `public_id`,
    /// if any (the caller compares `public_id` to tell which).
    async fn find_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<StoredServiceAccount>, StoreError>;
}

/// What authorization (and whoami) asks of the store: what a subject holds.
#[async_trait]
pub trait GrantLookup: Send + Sync + 'static {
    /// The capability keys `subject` holds on `account_id` (empty: no standing
    /// through grants).
    async fn capabilities(
        &self,
        account_id: Uuid,
        subject: Subject,
    ) -> Result<Vec<CapabilityKey>, StoreError>;

    /// Every grant `subject` holds, in every account, by account.
    async fn grants_of(&self, subject: Subject) -> Result<Vec<Grant>, StoreError>;
}

/// What authenticating an introspection client asks of the store.
#[async_trait]
pub trait ClientLookup: Send + Sync + 'static {
    /// The introspection client `client_id`, revoked or not, if it exists.
    async fn find_introspection_client(
        &self,
        client_id: &str,
    ) -> Result<Option<StoredIntrospectionClient>, StoreError>;
}

/// Every question verifying a credential asks: what a cache of verified
/// credentials stands in front of.
pub trait CredentialLookup: TokenLookup + GrantLookup + ClientLookup {}

impl<T: TokenLookup + GrantLookup + ClientLookup> CredentialLookup for T {}

/// What recording `last_used_at` asks of the store.
#[async_trait]
pub trait LastUseLog: Send + Sync + 'static {
    /// Records successful authentications (see [`LastUse`] for the conditions).
    async fn record_last_use(&self, uses: &[LastUse]) -> Result<(), StoreError>;
}

#[async_trait]
pub trait Store: CredentialLookup + LastUseLog {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;

    async fn get_account(&self, id: Uuid) -> Result<Option<Account>, StoreError>;

    /// Every account, oldest first.
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;

    /// Adds a grant and records `event`; adding one that exists already
    /// changes nothing and records nothing (`false`). A service account can
    /// only be granted capabilities in its own account.
    async fn add_grant(&self, grant: &Grant, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Removes the grant of `grant.capability` on `grant.account_id` to
    /// `grant.subject` and records `event`; `false` (and nothing recorded) if
    /// there was none.
    async fn remove_grant(&self, grant: &Grant, event: &AuditEvent) -> Result<bool, StoreError>;

    /// Every grant on an account, by subject.
    async fn grants_in(&self, account_id: Uuid) -> Result<Vec<Grant>, StoreError>;

    /// Inserts a new service account and its audit event, and completes an
    /// idempotency record with `complete` if given. Fails with
    /// [`StoreError::NameConflict`] if a non-revoked one in the same account has
    /// the same name.
    async fn insert_service_account(
        &self,
        new: &StoredServiceAccount,
        event: &AuditEvent,
        complete: Option<Complete<'_>>,
    ) -> Result<(), StoreError>;

    /// Creates an account, its first service account and that service account's
    /// ownership grant, with the audit event, all or nothing.
    async fn bootstrap(
        &self,
        account: &Account,
        owner: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    /// The service account `id` of `account_id` (none if it is in another account).
    async fn get_service_account(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<ServiceAccount>, StoreError>;

    /// Replaces the token of service account `id` of `account_id` (resetting
    /// `last_used_at`) and records `event`, provided it is neither revoked nor
    /// expired at `replacement.at`; the replaced token becomes the previous
    /// one if `replacement.previous_works_until` says so. Completes an
    /// idempotency record with `complete` if given. Returns the updated
    /// service account, or `None` when nothing was changed (not found, revoked
    /// or expired): the caller reads it again to say which.
    async fn rotate_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        replacement: &TokenReplacement,
        event: &AuditEvent,
        guard: &EscalationGuard,
        complete: Option<Complete<'_>>,
    ) -> Result<Option<ServiceAccount>, StoreError>;

    /// Ends the grace period of service account `id`'s previous token at
    /// `at` and records `event` (its detail filled in here), if there is a
    /// previous token still in its grace period; otherwise changes nothing.
    /// Returns the service account as it then stands and whether a token was
    /// retired; `None` if not found.
    async fn retire_previous_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<(ServiceAccount, bool)>, StoreError>;

    /// Revokes service account `id` of `account_id` and records `event`, unless
    /// it is revoked already (then nothing changes and nothing is recorded).
    /// Returns the service account as the revoking transaction left it; `None`
    /// if not found.
    async fn revoke(
        &self,
        account_id: Uuid,
        id: Uuid,
        revocation: Revocation,
        event: &AuditEvent,
    ) -> Result<Option<ServiceAccount>, StoreError>;

    /// Records `event` (a leak report, a public revocation) about service
    /// account `id` of `account_id`, and does what `response` says to the
    /// token that leaked: all in one transaction. Returns the service account
    /// as it then stands and whether the leaked token was put out of use by
    /// this call (the detail's `revoked` is set to that); `None` if not found
    /// (then nothing is recorded).
    async fn record_leak(
        &self,
        account_id: Uuid,
        id: Uuid,
        response: LeakResponse,
        event: &AuditEvent,
    ) -> Result<Option<(ServiceAccount, bool)>, StoreError>;

    /// Looks for the idempotency record of `claim`'s key and, if there is
    /// none to answer with, records this attempt as running.
    async fn claim_idempotency_key(&self, claim: &IdempotencyClaim) -> Result<Claimed, StoreError>;

    /// Completes an idempotency record on its own (for a refusal, which
    /// changed nothing). `false` if the lease was lost.
    async fn complete_idempotency_key(
        &self,
        completion: &IdempotentCompletion,
    ) -> Result<bool, StoreError>;

    /// Drops a running attempt's record (it failed in a way not to be
    /// replayed), so that a retry runs anew.
    async fn release_idempotency_key(&self, key_mac: &[u8], lease: Uuid) -> Result<(), StoreError>;

    /// Deletes the idempotency records that expired before `now`; returns
    /// how many.
    async fn delete_expired_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Adds an introspection client.
    async fn insert_introspection_client(
        &self,
        new: &StoredIntrospectionClient,
    ) -> Result<(), StoreError>;

    /// Every introspection client, revoked ones included, oldest first.
    async fn list_introspection_clients(&self) -> Result<Vec<IntrospectionClient>, StoreError>;

    /// Revokes introspection client `client_id` at `at` unless it is revoked
    /// already; returns it as it now stands (`None`: no such client).
    async fn revoke_introspection_client(
        &self,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<IntrospectionClient>, StoreError>;

    /// The account's audit log, oldest first.
    async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, StoreError>;

    /// A page of the account's service accounts. `page.after` must name a
    /// service account of this account ([`StoreError::CursorNotFound`] if not).
    async fn list_service_accounts(
        &self,
        account_id: Uuid,
        page: PageRequest,
    ) -> Result<Vec<ServiceAccount>, StoreError>;

    /// Whether the database is reachable and its schema up to date.
    async fn check_ready(&self) -> Result<(), StoreError>;

    /// How many service accounts are not revoked, in every account.
    async fn count_active_service_accounts(&self) -> Result<u64, StoreError>;

    /// Connections, failures and health, for metrics.
    fn stats(&self) -> StoreStats;

    /// This process's subscribers to credential changes: every change this
    /// store commits is published to them before the call returns.
    fn changes(&self) -> &Arc<ChangeHub>;

    /// Publishes to [`Store::changes`] what other processes change (other
    /// servers, commands run beside this one), until the store closes. Spawn it.
    fn watch_other_writers(&self, log: Logger) -> BoxFuture<'static, ()>;

    /// Closes every connection, after which every call fails. For shutdown.
    async fn close(&self);
}
