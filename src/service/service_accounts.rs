//! The service-account operations of the public API (create, list, get,
//! rotate, retire the previous token, revoke), on an [`AccountAccess`] that
//! authorization made. Input arrives as plain values and is parsed into
//! domain types here, once.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::access::AccountAccess;
use super::error::{ServiceError, page_error};
use super::minter::TokenMinter;
use super::policy::{self, TokenPolicy};
use crate::clock::Clock;
use crate::domain::{
    AuditAction, AuditDetail, RevocationReason, ServiceAccount, ServiceAccountName, ValidationError,
};
use crate::store::{
    Complete, EscalationGuard, IdempotentCompletion, PageRequest, Replay, ReplayVerdict,
    Revocation, ServiceAccountStore, StoreError, TokenReplacement, TokenStore,
};
use crate::token::PlaintextToken;

/// Largest page `list` returns, and its default size.
pub const LIST_LIMIT_MAX: u32 = 1000;

/// A create request as it arrived (already decoded from JSON, not yet validated).
#[derive(Debug, Clone)]
pub struct CreateServiceAccount {
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A rotate request as it arrived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RotateServiceAccount {
    /// How long the replaced token keeps working, in seconds; none or 0: it
    /// stops at once.
    pub grace_period_seconds: Option<u64>,
}

/// Seals the response of an operation that issues a token, for idempotent
/// replays: called inside the operation's transaction with the service
/// account as committed (as the API shows it) and its new token.
pub type SealIssued =
    Box<dyn Fn(&ServiceAccount, &PlaintextToken) -> IdempotentCompletion + Send + Sync>;

/// A list request as it arrived.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListServiceAccounts {
    pub include_revoked: bool,
    /// 1 to [`LIST_LIMIT_MAX`]; none means the maximum.
    pub limit: Option<u32>,
    pub after: Option<Uuid>,
}

/// A service account together with its new plaintext token: the only moment
/// the token exists outside its owner's hands.
#[derive(Debug)]
pub struct IssuedServiceAccount {
    pub service_account: ServiceAccount,
    pub token: PlaintextToken,
}

/// What an idempotent replay is about to hand out again: the service
/// account and token its recorded response carries, and of which operation.
#[derive(Debug, Clone)]
pub struct ReplayedToken {
    pub service_account_id: Uuid,
    pub token_public_id: String,
    /// [`AuditAction::Create`] or [`AuditAction::Rotate`].
    pub of: AuditAction,
}

/// The service-account operations of the public API.
pub struct ServiceAccounts {
    service_accounts: Arc<dyn ServiceAccountStore>,
    tokens: Arc<dyn TokenStore>,
    minter: TokenMinter,
    clock: Arc<dyn Clock>,
    policy: TokenPolicy,
}

impl ServiceAccounts {
    pub fn new(
        service_accounts: Arc<dyn ServiceAccountStore>,
        tokens: Arc<dyn TokenStore>,
        minter: TokenMinter,
        clock: Arc<dyn Clock>,
        policy: TokenPolicy,
    ) -> Self {
        Self {
            service_accounts,
            tokens,
            minter,
            clock,
            policy,
        }
    }

    /// Creates a service account in the authorized account and issues its
    /// token; with `seal`, the response is recorded for idempotent replays in
    /// the same transaction.
    pub async fn create(
        &self,
        access: &AccountAccess,
        request: CreateServiceAccount,
        seal: Option<SealIssued>,
    ) -> Result<IssuedServiceAccount, ServiceError> {
        access.require_current_token("create service accounts")?;
        let now = self.clock.now();
        let name = ServiceAccountName::parse(request.name)?;
        let expires_at = self.parse_expiry(request.expires_at, now)?;
        let (stored, token) = self.minter.new_service_account(
            access.account_id(),
            &name,
            access.principal().user_id(),
            expires_at,
            now,
        );
        let event = access
            .audit(stored.service_account.id, AuditAction::Create, now)
            .about_token(&stored.service_account.token.public_id);
        let issued = &token;
        let complete = seal.map(|seal| move |sa: &ServiceAccount| seal(sa, issued));
        self.service_accounts
            .insert_service_account(
                &stored,
                &event,
                complete.as_ref().map(|c| c as Complete<'_>),
            )
            .await
            .map_err(|e| match e {
                StoreError::NameConflict => ServiceError::NameConflict {
                    name: name.as_str().to_owned(),
                },
                other => other.into(),
            })?;
        Ok(IssuedServiceAccount {
            service_account: stored.service_account,
            token,
        })
    }

    /// A page of the account's service accounts, oldest first.
    pub async fn list(
        &self,
        access: &AccountAccess,
        request: ListServiceAccounts,
    ) -> Result<Vec<ServiceAccount>, ServiceError> {
        let limit = match request.limit {
            None => LIST_LIMIT_MAX,
            Some(limit @ 1..=LIST_LIMIT_MAX) => limit,
            Some(other) => {
                return Err(ValidationError::new(
                    "limit",
                    format!("must be between 1 and {LIST_LIMIT_MAX} (got {other})"),
                )
                .into());
            }
        };
        let page = PageRequest {
            include_revoked: request.include_revoked,
            limit,
            after: request.after,
        };
        let now = self.clock.now();
        self.service_accounts
            .list_service_accounts(access.account_id(), page)
            .await
            .map(|page| page.into_iter().map(|sa| sa.seen_at(now)).collect())
            .map_err(page_error("after", "service account"))
    }

    pub async fn get(
        &self,
        access: &AccountAccess,
        id: Uuid,
    ) -> Result<ServiceAccount, ServiceError> {
        self.service_accounts
            .get_service_account(access.account_id(), id)
            .await?
            .map(|sa| sa.seen_at(self.clock.now()))
            .ok_or(ServiceError::NotFound)
    }

    /// Issues a new token. The old one stops working at once, or at the end
    /// of the grace period asked for (at most the server's maximum); a
    /// previous token from an earlier rotation stops at once. A revoked or
    /// expired service account cannot be rotated, nor one holding capabilities
    /// the caller lacks (the new token would hand them over). With `seal`, the
    /// response is recorded for idempotent replays in the same transaction.
    pub async fn rotate(
        &self,
        access: &AccountAccess,
        id: Uuid,
        request: RotateServiceAccount,
        seal: Option<SealIssued>,
    ) -> Result<IssuedServiceAccount, ServiceError> {
        access.require_current_token("rotate a service account's token")?;
        access.require_own_credential("rotate a service account's token")?;
        let grace = self.parse_grace(request.grace_period_seconds)?;
        let guard = Self::escalation_guard(access, id);
        let now = self.clock.now();
        let (token, facts, mac) = self.minter.issue(now);
        let replacement = TokenReplacement {
            token: facts,
            mac,
            at: now,
            previous_works_until: grace.map(|grace| now + grace),
        };
        let event = access
            .audit(id, AuditAction::Rotate, now)
            .about_token(&replacement.token.public_id);
        let issued = &token;
        let complete =
            seal.map(|seal| move |sa: &ServiceAccount| seal(&sa.clone().seen_at(now), issued));
        match self
            .tokens
            .rotate_token(
                access.account_id(),
                id,
                &replacement,
                &event,
                &guard,
                complete.as_ref().map(|c| c as Complete<'_>),
            )
            .await
            .map_err(|e| match e {
                StoreError::WouldEscalate { missing } => ServiceError::WouldEscalate { missing },
                other => other.into(),
            })? {
            Some(service_account) => Ok(IssuedServiceAccount {
                service_account: service_account.seen_at(now),
                token,
            }),
            // Nothing changed: say why.
            None => match self
                .service_accounts
                .get_service_account(access.account_id(), id)
                .await?
            {
                None => Err(ServiceError::NotFound),
                Some(current) if current.revoked_at.is_some() => Err(ServiceError::Revoked),
                Some(current) => match current.expires_at {
                    Some(expired_at) if current.is_expired_at(now) => {
                        Err(ServiceError::Expired { expired_at })
                    }
                    _ => Err(ServiceError::Internal(
                        format!(
                            "rotation of {id} changed nothing, yet it is neither revoked nor \
                             expired"
                        )
                        .into(),
                    )),
                },
            },
        }
    }

    /// Lets an idempotent replay hand `replayed`'s token out again: the
    /// authorization the original request ran is run again (a current token;
    /// the escalation check, which for a replayed create also covers grants
    /// made since), the token must still be the service account's current
    /// one (not rotated away, not revoked, not expired), and the replay is
    /// audited; all against the store as it is in one transaction.
    pub async fn confirm_replay(
        &self,
        access: &AccountAccess,
        replayed: ReplayedToken,
    ) -> Result<(), ServiceError> {
        access.require_current_token(match replayed.of {
            AuditAction::Create => "create service accounts",
            _ => "rotate a service account's token",
        })?;
        let id = replayed.service_account_id;
        let guard = Self::escalation_guard(access, id);
        let now = self.clock.now();
        let event = access
            .audit(id, AuditAction::IdempotentReplay, now)
            .about_token(&replayed.token_public_id)
            .with_detail(AuditDetail::Replay {
                of: replayed.of,
                token_public_id: replayed.token_public_id.clone(),
            });
        let verdict = self
            .tokens
            .confirm_replay(&Replay {
                account_id: access.account_id(),
                service_account_id: id,
                token_public_id: &replayed.token_public_id,
                at: now,
                guard: &guard,
                event: &event,
            })
            .await
            .map_err(|e| match e {
                StoreError::WouldEscalate { missing } => ServiceError::WouldEscalate { missing },
                other => other.into(),
            })?;
        match verdict {
            ReplayVerdict::Confirmed => Ok(()),
            ReplayVerdict::NotFound => Err(ServiceError::NotFound),
            ReplayVerdict::Revoked => Err(ServiceError::Revoked),
            ReplayVerdict::Expired { at } => Err(ServiceError::Expired { expired_at: at }),
            ReplayVerdict::Superseded => Err(ServiceError::ReplaySuperseded),
        }
    }

    /// A token of service account `id` may only go to a caller who holds every
    /// capability it holds (an owner holds them all); a service account may
    /// always rotate itself. Otherwise `auth.manage` alone would be enough to
    /// take over the account owner's credential. The store checks it inside
    /// the rotation's transaction, against the grants as they are then.
    fn escalation_guard(access: &AccountAccess, id: Uuid) -> EscalationGuard {
        EscalationGuard {
            exempt: access.is_service_account(id) || access.effective().owner,
            caller: access.effective().clone(),
            roles: access.roles.clone(),
        }
    }

    /// Ends the previous token's grace period now: only the current token
    /// works from then on. Without a previous token in its grace period this
    /// changes nothing (and records nothing).
    pub async fn retire_previous_token(
        &self,
        access: &AccountAccess,
        id: Uuid,
    ) -> Result<ServiceAccount, ServiceError> {
        access.require_current_token("retire a previous token")?;
        access.require_own_credential("retire a previous token")?;
        let now = self.clock.now();
        let event = access.audit(id, AuditAction::RetirePreviousToken, now);
        let (service_account, _retired) = self
            .tokens
            .retire_previous_token(access.account_id(), id, now, &event)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(service_account.seen_at(now))
    }

    /// Turns the service account's own token (and a previous one) off now,
    /// leaving only federated tokens; a later rotation turns a new one on.
    /// Turning it off again changes nothing (and records nothing).
    pub async fn disable_static_token(
        &self,
        access: &AccountAccess,
        id: Uuid,
    ) -> Result<ServiceAccount, ServiceError> {
        access.require_current_token("turn a token off")?;
        access.require_own_credential("turn a token off")?;
        let now = self.clock.now();
        let event = access.audit(id, AuditAction::DisableStaticToken, now);
        let (service_account, _changed) = self
            .tokens
            .disable_static_token(access.account_id(), id, now, &event)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(service_account.seen_at(now))
    }

    fn parse_grace(
        &self,
        seconds: Option<u64>,
    ) -> Result<Option<chrono::TimeDelta>, ValidationError> {
        policy::parse_grace(seconds, &self.policy)
    }

    /// Revokes the service account; its tokens (the current one and any
    /// previous one) stop working at once. Revoking again changes nothing and
    /// returns the first revocation.
    pub async fn revoke(
        &self,
        access: &AccountAccess,
        id: Uuid,
    ) -> Result<ServiceAccount, ServiceError> {
        // A previous token may still revoke its own service account (what
        // whoever holds a leaked token may do anyway, publicly); not others.
        if !access.is_service_account(id) {
            access.require_current_token("revoke other service accounts")?;
        }
        let now = self.clock.now();
        let revocation = Revocation {
            at: now,
            by_user_id: access.principal().user_id(),
            reason: RevocationReason::Requested,
        };
        let event = access.audit(id, AuditAction::Revoke, now);
        self.service_accounts
            .revoke(access.account_id(), id, revocation, &event)
            .await?
            .map(|sa| sa.seen_at(now))
            .ok_or(ServiceError::NotFound)
    }

    /// `expires_at` must lie in the future, and within the maximum lifetime if
    /// the server has one (which also makes it required).
    fn parse_expiry(
        &self,
        requested: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, ValidationError> {
        policy::parse_expiry(requested, now, &self.policy)
    }
}
