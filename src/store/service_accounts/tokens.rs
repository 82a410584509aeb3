//! A service account's tokens: found by public id when one is presented,
//! replaced by a rotation (the replaced one kept through a grace period if
//! asked), the previous one retired, a leaked one put out of use, and uses
//! recorded as `last_used_at`. Each change is audited in its transaction and
//! told to the credential caches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::guard::{EscalationGuard, check_escalation, lock};
use super::lifecycle::{Revocation, revoke_query, select, token_changes};
use super::replay::{Replay, ReplayVerdict};
use super::row::{PublicIdRow, ServiceAccountRow, StoredServiceAccount};
use super::sql;
use crate::domain::{AuditDetail, AuditEvent, ServiceAccount, TokenFacts, TokenGeneration};
use crate::store::backend::{Arg, Backend, SqlQuery};
use crate::store::changes::CredentialChange;
use crate::store::columns::{Timestamp, stored_key_version};
use crate::store::error::StoreError;
use crate::store::idempotency::{self, Complete};
use crate::store::sql_store::{SqlStore, decode, execute, fetch_optional, query};
use crate::store::{audit_events, federated_tokens};
use crate::token::keyring::TokenMac;

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

/// What recording `last_used_at` asks of the store.
#[async_trait]
pub trait LastUseLog: Send + Sync + 'static {
    /// Records successful authentications (see [`LastUse`] for the conditions).
    async fn record_last_use(&self, uses: &[LastUse]) -> Result<(), StoreError>;
}

/// Replacing, retiring and revoking tokens.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
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

    /// Confirms that an idempotent replay may hand its recorded token out
    /// again, and audits it (see [`super::replay`]).
    async fn confirm_replay(&self, replay: &Replay<'_>) -> Result<ReplayVerdict, StoreError>;

    /// Turns service account `id`'s own token (and a previous one) off at
    /// `at` and records `event`, unless revoked or off already (`false`,
    /// nothing recorded). `None`: not found.
    async fn disable_static_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<(ServiceAccount, bool)>, StoreError>;
}

/// Ends the previous token's grace at `at`, if it is in one; a row only then.
fn retire_query<D: Backend>(account_id: Uuid, id: Uuid, at: DateTime<Utc>) -> SqlQuery<D> {
    query::<D>(sql::RETIRE_PREVIOUS_TOKEN)
        .arg(id)
        .arg(account_id)
        .arg(Timestamp(at))
}

/// The tokens a locked row held: what caches must forget once it changed.
fn held_tokens(before: PublicIdRow) -> Vec<CredentialChange> {
    std::iter::once(before.token_public_id)
        .chain(before.previous_token_public_id)
        .map(CredentialChange::Token)
        .collect()
}

#[async_trait]
impl<D: Backend> TokenLookup for SqlStore<D> {
    async fn find_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<StoredServiceAccount>, StoreError> {
        self.reading(async |connection| {
            let select = query::<D>(sql::SELECT_BY_PUBLIC_ID).arg(public_id);
            match fetch_optional(connection, select).await? {
                Some(row) => Ok(Some(decode::<D, ServiceAccountRow>(&row)?.into_stored()?)),
                // Not a service account's own: a federated token, or nothing.
                None => federated_tokens::find::<D>(connection, public_id).await,
            }
        })
        .await
    }
}

#[async_trait]
impl<D: Backend> LastUseLog for SqlStore<D> {
    async fn record_last_use(&self, uses: &[LastUse]) -> Result<(), StoreError> {
        self.write(async |tx| {
            for last_use in uses {
                let sql = match last_use.generation {
                    TokenGeneration::Current => sql::RECORD_LAST_USE,
                    TokenGeneration::Previous => sql::RECORD_PREVIOUS_LAST_USE,
                    // A federated token's uses are not recorded: it lives
                    // minutes, and its exchange is in the audit log.
                    TokenGeneration::Federated => continue,
                };
                let update = query::<D>(sql)
                    .arg(last_use.service_account_id)
                    .arg(last_use.public_id.as_str())
                    .arg(Timestamp(last_use.at))
                    .arg(Timestamp(last_use.unless_recorded_after));
                execute(tx, update).await?;
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl<D: Backend> TokenStore for SqlStore<D> {
    async fn confirm_replay(&self, replay: &Replay<'_>) -> Result<ReplayVerdict, StoreError> {
        super::replay::confirm(self, replay).await
    }

    async fn rotate_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        replacement: &TokenReplacement,
        event: &AuditEvent,
        guard: &EscalationGuard,
        complete: Option<Complete<'_>>,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        let key_version = stored_key_version(replacement.mac.key_version)?;
        self.write_changing(async |tx| {
            // Locked first, so that no grant to it commits between the check
            // below and this rotation's commit.
            let Some(old) = lock::<D>(tx, account_id, id).await? else {
                return Ok((None, vec![]));
            };
            check_escalation::<D>(tx, account_id, id, guard).await?;
            let update = query::<D>(sql::ROTATE_TOKEN)
                .arg(id)
                .arg(account_id)
                .arg(replacement.token.prefix.as_str())
                .arg(replacement.token.public_id.as_str())
                .arg(replacement.token.last4.as_str())
                .arg(replacement.mac.digest.as_slice())
                .arg(key_version)
                .arg(Timestamp(replacement.at))
                .arg(Timestamp(replacement.token.issued_at))
                .arg(replacement.previous_works_until.map(Timestamp));
            let Some(row) = fetch_optional(tx, update).await? else {
                return Ok((None, vec![]));
            };
            let rotated = decode::<D, ServiceAccountRow>(&row)?.into_service_account()?;
            let mut event = event.clone();
            if let Some(previous) = &rotated.previous_token {
                event.detail = Some(AuditDetail::Grace {
                    previous_token_public_id: previous.token.public_id.clone(),
                    until: previous.expires_at,
                });
            }
            audit_events::insert::<D>(tx, &event).await?;
            if let Some(complete) = complete {
                idempotency::complete::<D>(tx, &complete(&rotated)).await?;
            }
            let mut changes = held_tokens(old);
            changes.extend(token_changes(&rotated));
            Ok((Some(rotated), changes))
        })
        .await
    }

    async fn retire_previous_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<(ServiceAccount, bool)>, StoreError> {
        self.write_changing(async |tx| {
            let Some(ids) = lock::<D>(tx, account_id, id).await? else {
                return Ok((None, vec![]));
            };
            let update = retire_query::<D>(account_id, id, at);
            match (
                fetch_optional(tx, update).await?,
                ids.previous_token_public_id,
            ) {
                (Some(row), Some(retired)) => {
                    let service_account =
                        decode::<D, ServiceAccountRow>(&row)?.into_service_account()?;
                    let event =
                        event
                            .clone()
                            .about_token(&retired)
                            .with_detail(AuditDetail::Retired {
                                previous_token_public_id: retired.clone(),
                            });
                    audit_events::insert::<D>(tx, &event).await?;
                    Ok((
                        Some((service_account, true)),
                        vec![CredentialChange::Token(retired)],
                    ))
                }
                // No previous token in its grace period: nothing to do.
                _ => Ok((
                    select::<D>(tx, account_id, id)
                        .await?
                        .map(|service_account| (service_account, false)),
                    vec![],
                )),
            }
        })
        .await
    }

    async fn disable_static_token(
        &self,
        account_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<(ServiceAccount, bool)>, StoreError> {
        self.write_changing(async |tx| {
            let Some(before) = lock::<D>(tx, account_id, id).await? else {
                return Ok((None, vec![]));
            };
            let disable = query::<D>(sql::DISABLE_STATIC_TOKEN)
                .arg(id)
                .arg(account_id)
                .arg(Timestamp(at));
            match fetch_optional(tx, disable).await? {
                Some(row) => {
                    audit_events::insert::<D>(tx, event).await?;
                    let changed = decode::<D, ServiceAccountRow>(&row)?.into_service_account()?;
                    Ok((Some((changed, true)), held_tokens(before)))
                }
                None => {
                    let found = select::<D>(tx, account_id, id).await?;
                    Ok((
                        found.map(|service_account| (service_account, false)),
                        vec![],
                    ))
                }
            }
        })
        .await
    }

    async fn record_leak(
        &self,
        account_id: Uuid,
        id: Uuid,
        response: LeakResponse,
        event: &AuditEvent,
    ) -> Result<Option<(ServiceAccount, bool)>, StoreError> {
        self.write_changing(async |tx| {
            let Some(before) = lock::<D>(tx, account_id, id).await? else {
                return Ok((None, vec![]));
            };
            let changed = match response {
                LeakResponse::Revoke(revocation) => {
                    fetch_optional(tx, revoke_query::<D>(account_id, id, &revocation)).await?
                }
                LeakResponse::RetirePrevious(at) => {
                    fetch_optional(tx, retire_query::<D>(account_id, id, at)).await?
                }
                LeakResponse::Record => None,
            };
            let (service_account, put_out) = match changed {
                Some(row) => (
                    decode::<D, ServiceAccountRow>(&row)?.into_service_account()?,
                    true,
                ),
                None => (
                    select::<D>(tx, account_id, id)
                        .await?
                        .ok_or(StoreError::Internal(
                            "a locked service account vanished".into(),
                        ))?,
                    false,
                ),
            };
            let mut event = event.clone();
            if let Some(AuditDetail::Leak { revoked, .. }) = &mut event.detail {
                *revoked = put_out;
            }
            audit_events::insert::<D>(tx, &event).await?;
            let mut changes = if put_out { held_tokens(before) } else { vec![] };
            if let (true, LeakResponse::Revoke(revocation)) = (put_out, response) {
                changes.extend(
                    federated_tokens::revoke_all_of::<D>(tx, id, revocation.at, revocation.reason)
                        .await?,
                );
            }
            Ok((Some((service_account, put_out)), changes))
        })
        .await
    }
}
