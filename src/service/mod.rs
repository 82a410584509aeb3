//! What the API does, independent of HTTP: authorization against an account,
//! then the service-account operations (create, list, get, rotate, revoke).
//! Input arrives as plain values and is parsed into domain types here, once;
//! errors are typed ([`ServiceError`]) and mapped to HTTP elsewhere
//! (`server::error`).

pub mod admin;
pub mod idempotency;
pub mod identity;
pub mod leaks;

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, TimeDelta, Timelike, Utc};
use uuid::Uuid;

use crate::auth::Principal;
use crate::clock::{Clock, truncate_to_micros};
use crate::domain::{
    Actor, AuditAction, AuditEvent, Capability, CapabilityKey, RevocationReason, ServiceAccount,
    ServiceAccountName, TokenFacts, ValidationError,
};
use crate::store::{
    self, BoxError, EscalationGuard, GrantLookup, IdempotentCompletion, PageRequest, Revocation,
    Store, StoreError, StoredServiceAccount, TokenReplacement,
};
use crate::token::keyring::{TokenKeyring, TokenMac};
use crate::token::{self, PlaintextToken, TokenPrefix};

/// Largest page `list` returns, and its default size.
pub const LIST_LIMIT_MAX: u32 = 1000;

/// A failed operation, in the service's terms.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The account or service account does not exist, or the caller has no
    /// standing in it (the two are indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    /// The caller has standing in the account but lacks `needed`.
    #[error("the caller lacks the {needed} capability on this account")]
    Forbidden { needed: Capability },
    /// The operation would hand the caller a credential holding capabilities
    /// the caller does not hold itself.
    #[error("the service account holds capabilities the caller lacks: {missing:?}")]
    WouldEscalate { missing: Vec<String> },
    #[error("a service account named {name:?} already exists in this account")]
    NameConflict { name: String },
    #[error("the service account is revoked")]
    Revoked,
    #[error("the service account's token expired at {expired_at}")]
    Expired { expired_at: DateTime<Utc> },
    /// The idempotency key was used with a different request.
    #[error("the idempotency key was used with a different request")]
    IdempotencyKeyReused,
    /// A request with the same idempotency key is still running.
    #[error("a request with the same idempotency key is still running")]
    IdempotencyKeyInUse,
    /// The store cannot be reached; retrying later may work.
    #[error("the storage is unavailable")]
    Unavailable(#[source] StoreError),
    /// A bug or a corrupt database; the source says what, for the log only.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

impl From<StoreError> for ServiceError {
    /// The store's errors that need no context to be understood. Callers that
    /// expect a particular one (a name conflict, a paging cursor) match it
    /// first; reaching here with it is a bug, so it is internal.
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ServiceError::Unavailable(error),
            StoreError::AccountNotFound | StoreError::ServiceAccountNotInAccount => {
                ServiceError::NotFound
            }
            StoreError::IdempotencyLeaseLost => ServiceError::IdempotencyKeyInUse,
            StoreError::NameConflict
            | StoreError::CursorNotFound
            | StoreError::WouldEscalate { .. }
            | StoreError::Internal(_) => ServiceError::Internal(Box::new(error)),
        }
    }
}

/// The longest rotation grace period when not told otherwise: 7 days.
pub const DEFAULT_MAX_ROTATION_GRACE: TimeDelta = TimeDelta::days(7);

/// Server-wide rules for tokens, set by the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenPolicy {
    /// If set, every new service account must have an `expires_at`, at most
    /// this far in the future.
    pub max_lifetime: Option<TimeDelta>,
    /// The longest grace period a rotation may give the replaced token.
    pub max_rotation_grace: TimeDelta,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            max_lifetime: None,
            max_rotation_grace: DEFAULT_MAX_ROTATION_GRACE,
        }
    }
}

/// An authenticated principal making one request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// The API request, recorded in the audit log.
    pub request_id: Option<String>,
}

impl Caller {
    fn actor(&self) -> Actor {
        match self.principal {
            Principal::User { user_id } => Actor::User(user_id),
            Principal::ServiceAccount {
                service_account_id, ..
            } => Actor::ServiceAccount(service_account_id),
        }
    }
}

/// Proof that a caller may exercise a capability on an account: only
/// [`ServiceAccounts::authorize`] makes one, and every operation needs one.
#[derive(Debug, Clone)]
pub struct AccountAccess {
    caller: Caller,
    account_id: Uuid,
    /// What the caller holds on the account.
    held: Vec<CapabilityKey>,
}

impl AccountAccess {
    pub fn account_id(&self) -> Uuid {
        self.account_id
    }

    pub fn principal(&self) -> &Principal {
        &self.caller.principal
    }

    fn audit(
        &self,
        service_account_id: Uuid,
        action: AuditAction,
        at: DateTime<Utc>,
    ) -> AuditEvent {
        AuditEvent {
            occurred_at: at,
            account_id: self.account_id,
            service_account_id: Some(service_account_id),
            action,
            actor: self.caller.actor(),
            request_id: self.caller.request_id.clone(),
            detail: None,
        }
    }
}

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

/// Mints service-account tokens: their prefix and the keys that MAC them.
/// (Not to be confused with an OAuth issuer, which vouches for users.)
#[derive(Clone)]
pub struct TokenMinter {
    pub prefix: TokenPrefix,
    pub keyring: Arc<TokenKeyring>,
}

impl TokenMinter {
    /// A new token issued at `at`, the facts about it that are shown, and the
    /// MAC that is stored.
    pub fn issue(&self, at: DateTime<Utc>) -> (PlaintextToken, TokenFacts, TokenMac) {
        let generated = token::generate(&self.prefix);
        let mac = self.keyring.mac(generated.plaintext.expose());
        let facts = TokenFacts {
            prefix: self.prefix.as_str().to_owned(),
            public_id: generated.public_id,
            last4: generated.last4,
            issued_at: at,
        };
        (generated.plaintext, facts, mac)
    }

    /// A new service account, not yet stored, with a fresh token.
    pub fn new_service_account(
        &self,
        account_id: Uuid,
        name: &ServiceAccountName,
        created_by_user_id: Option<Uuid>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> (StoredServiceAccount, PlaintextToken) {
        let (token, facts, mac) = self.issue(now);
        let service_account = ServiceAccount {
            id: Uuid::new_v4(),
            account_id,
            name: name.as_str().to_owned(),
            created_at: now,
            updated_at: now,
            created_by_user_id,
            expires_at,
            last_used_at: None,
            revoked_at: None,
            revoked_by_user_id: None,
            revoked_reason: None,
            token: facts,
            previous_token: None,
        };
        (
            StoredServiceAccount {
                service_account,
                mac,
                previous_mac: None,
            },
            token,
        )
    }
}

/// The service-account operations of the public API.
pub struct ServiceAccounts {
    store: Arc<dyn Store>,
    grants: Arc<dyn GrantLookup>,
    minter: TokenMinter,
    clock: Arc<dyn Clock>,
    policy: TokenPolicy,
}

impl ServiceAccounts {
    /// `grants` answers the authorization questions (it may be a cache in
    /// front of `store`).
    pub fn new(
        store: Arc<dyn Store>,
        grants: Arc<dyn GrantLookup>,
        minter: TokenMinter,
        clock: Arc<dyn Clock>,
        policy: TokenPolicy,
    ) -> Self {
        Self {
            store,
            grants,
            minter,
            clock,
            policy,
        }
    }

    /// Checks that the caller may exercise `needed` on `account_id`.
    ///
    /// No standing in the account (including an account that does not exist)
    /// is [`ServiceError::NotFound`]; standing without the capability is
    /// [`ServiceError::Forbidden`]. A service account has standing in its own
    /// account only; a user wherever they hold a grant.
    pub async fn authorize(
        &self,
        caller: Caller,
        account_id: Uuid,
        needed: Capability,
    ) -> Result<AccountAccess, ServiceError> {
        if let Principal::ServiceAccount {
            account_id: home, ..
        } = caller.principal
            && home != account_id
        {
            return Err(ServiceError::NotFound);
        }
        let held = self
            .grants
            .capabilities(account_id, caller.principal.subject())
            .await?;
        if held.is_empty() && matches!(caller.principal, Principal::User { .. }) {
            return Err(ServiceError::NotFound);
        }
        if !held
            .iter()
            .filter_map(CapabilityKey::known)
            .any(|c| c.satisfies(needed))
        {
            return Err(ServiceError::Forbidden { needed });
        }
        Ok(AccountAccess {
            caller,
            account_id,
            held,
        })
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
        let now = self.clock.now();
        let name = ServiceAccountName::parse(request.name)?;
        let expires_at = self.parse_expiry(request.expires_at, now)?;
        let (stored, token) = self.minter.new_service_account(
            access.account_id,
            &name,
            access.principal().user_id(),
            expires_at,
            now,
        );
        let event = access.audit(stored.service_account.id, AuditAction::Create, now);
        let issued = &token;
        let complete = seal.map(|seal| move |sa: &ServiceAccount| seal(sa, issued));
        self.store
            .insert_service_account(
                &stored,
                &event,
                complete.as_ref().map(|c| c as store::Complete<'_>),
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
        self.store
            .list_service_accounts(access.account_id, page)
            .await
            .map(|page| page.into_iter().map(|sa| sa.seen_at(now)).collect())
            .map_err(|e| match e {
                StoreError::CursorNotFound => ValidationError::new(
                    "after",
                    "names no service account of this account: pass the `id` of the last \
                     service account of the previous page",
                )
                .into(),
                other => other.into(),
            })
    }

    pub async fn get(
        &self,
        access: &AccountAccess,
        id: Uuid,
    ) -> Result<ServiceAccount, ServiceError> {
        self.store
            .get_service_account(access.account_id, id)
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
        let event = access.audit(id, AuditAction::Rotate, now);
        let issued = &token;
        let complete =
            seal.map(|seal| move |sa: &ServiceAccount| seal(&sa.clone().seen_at(now), issued));
        match self
            .store
            .rotate_token(
                access.account_id,
                id,
                &replacement,
                &event,
                &guard,
                complete.as_ref().map(|c| c as store::Complete<'_>),
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
                .store
                .get_service_account(access.account_id, id)
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

    /// A token of service account `id` may only go to a caller who holds every
    /// capability it holds (an owner holds them all); a service account may
    /// always rotate itself. Otherwise `auth.manage` alone would be enough to
    /// take over the account owner's credential. The store checks it inside
    /// the rotation's transaction, against the grants as they are then.
    fn escalation_guard(access: &AccountAccess, id: Uuid) -> EscalationGuard {
        let is_self = matches!(access.caller.principal,
            Principal::ServiceAccount { service_account_id, .. } if service_account_id == id);
        let is_owner = access
            .held
            .iter()
            .any(|key| key.known() == Some(Capability::AccountOwner));
        EscalationGuard {
            exempt: is_self || is_owner,
            held: access.held.clone(),
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
        let now = self.clock.now();
        let event = access.audit(id, AuditAction::RetirePreviousToken, now);
        let (service_account, _retired) = self
            .store
            .retire_previous_token(access.account_id, id, now, &event)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(service_account.seen_at(now))
    }

    /// A grace period asked for, in whole seconds, within the server's
    /// maximum; none for 0 (the old token stops at once).
    fn parse_grace(&self, seconds: Option<u64>) -> Result<Option<TimeDelta>, ValidationError> {
        let max = self.policy.max_rotation_grace;
        match seconds {
            None | Some(0) => Ok(None),
            // `try_seconds`: a count past what a duration can hold is refused
            // like any other count over the maximum, not a panic.
            Some(seconds) => i64::try_from(seconds)
                .ok()
                .and_then(TimeDelta::try_seconds)
                .filter(|grace| *grace <= max)
                .map(Some)
                .ok_or_else(|| {
                    ValidationError::new(
                        "grace_period_seconds",
                        format!(
                            "must be at most {} ({} seconds, this server's \
                             --max-rotation-grace); got {seconds}",
                            describe(max),
                            max.num_seconds()
                        ),
                    )
                }),
        }
    }

    /// Revokes the service account; its tokens (the current one and any
    /// previous one) stop working at once. Revoking again changes nothing and
    /// returns the first revocation.
    pub async fn revoke(
        &self,
        access: &AccountAccess,
        id: Uuid,
    ) -> Result<ServiceAccount, ServiceError> {
        let now = self.clock.now();
        let revocation = Revocation {
            at: now,
            by_user_id: access.principal().user_id(),
            reason: RevocationReason::Requested,
        };
        let event = access.audit(id, AuditAction::Revoke, now);
        self.store
            .revoke(access.account_id, id, revocation, &event)
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
        parse_expiry(requested, now, &self.policy)
    }
}

/// A requested `expires_at`, checked at `now` against `policy`: in the
/// future, no leap second, readable by every RFC 3339 parser, within the
/// maximum lifetime (and present if there is one); truncated to microseconds.
pub fn parse_expiry(
    requested: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    policy: &TokenPolicy,
) -> Result<Option<DateTime<Utc>>, ValidationError> {
    if let Some(requested) = requested {
        // chrono keeps a leap second as a nanosecond count past 10^9.
        if requested.nanosecond() >= 1_000_000_000 {
            return Err(ValidationError::new(
                "expires_at",
                "must not be a leap second (:60): use the next second",
            ));
        }
        if requested > latest_expiry() {
            return Err(ValidationError::new(
                "expires_at",
                "must be no later than 9999-12-31T23:59:59Z (a four-digit year, which \
                 every RFC 3339 parser can read back)",
            ));
        }
    }
    let requested = requested.map(truncate_to_micros);
    let Some(expires_at) = requested else {
        return match policy.max_lifetime {
            None => Ok(None),
            Some(max) => Err(ValidationError::new(
                "expires_at",
                format!(
                    "is required by this server: tokens may live at most {}",
                    describe(max)
                ),
            )),
        };
    };
    if expires_at <= now {
        return Err(ValidationError::new(
            "expires_at",
            format!(
                "must be in the future (got {}, the server's time is {})",
                rfc3339(expires_at),
                rfc3339(now)
            ),
        ));
    }
    if let Some(max) = policy.max_lifetime
        && let Some(latest) = now.checked_add_signed(max)
        && expires_at > latest
    {
        return Err(ValidationError::new(
            "expires_at",
            format!(
                "must be at most {} from now, that is no later than {}",
                describe(max),
                rfc3339(latest)
            ),
        ));
    }
    Ok(Some(expires_at))
}

/// The latest `expires_at` accepted: RFC 3339 has four-digit years, and
/// clients' parsers (Python's, JavaScript's) refuse anything later.
pub fn latest_expiry() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z")
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A lifetime in the largest whole unit that expresses it.
fn describe(lifetime: TimeDelta) -> String {
    let seconds = lifetime.num_seconds();
    let (value, unit) = match seconds {
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{value} {unit}{}", if value == 1 { "" } else { "s" })
}
