//! Leaked tokens (contract §10): reports from secret-scanning partners, and
//! tokens sent to the public revocation endpoint by whoever holds them. A
//! reported string is ours only if it has our form, a valid checksum, and
//! matches a stored MAC (compared in constant time); then the token that
//! leaked is put out of use: the current token by revoking the service
//! account, a previous token in its grace period by retiring it (the current
//! one did not leak). Every match is audited, with who reported it and where
//! it was found.

use std::net::IpAddr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::error::ServiceError;
use crate::auth::service_account::token_of;
use crate::clock::Clock;
use crate::domain::{
    Actor, AuditAction, AuditDetail, AuditEvent, RevocationReason, TokenGeneration,
};
use crate::store::{LeakResponse, Revocation, StoredServiceAccount, TokenLookup, TokenStore};
use crate::token::{self, TokenPrefix, keyring::TokenKeyring};

/// Most tokens one report or one public revocation may carry.
pub const MAX_TOKENS_PER_REQUEST: usize = 1000;

/// What the server does with a partner's report of a live token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LeakAction {
    /// Put the leaked token out of use (the default).
    #[default]
    Revoke,
    /// Only record the report in the audit log.
    Notify,
}

/// Who says a token leaked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reporter {
    /// A secret-scanning partner (`github`, `gitlab`), which found it at
    /// `url` in `source`.
    Partner {
        name: &'static str,
        source: Option<String>,
        url: Option<String>,
    },
    /// Someone who sent it to the public revocation endpoint, from `address`.
    Holder { address: IpAddr },
}

/// Whether a reported string was one of our tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    TruePositive,
    FalsePositive,
}

/// SHA-256 of a token, in hex: how a partner's feedback names it.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub struct Leaks {
    lookup: Arc<dyn TokenLookup>,
    tokens: Arc<dyn TokenStore>,
    keyring: Arc<TokenKeyring>,
    prefix: TokenPrefix,
    clock: Arc<dyn Clock>,
    action: LeakAction,
}

/// A stored service account a token matched, and which of its tokens.
struct Match {
    stored: StoredServiceAccount,
    previous: bool,
}

impl Leaks {
    /// `lookup` finds the service account a reported token belongs to;
    /// `tokens` puts the token out of use.
    pub fn new(
        lookup: Arc<dyn TokenLookup>,
        tokens: Arc<dyn TokenStore>,
        keyring: Arc<TokenKeyring>,
        prefix: TokenPrefix,
        clock: Arc<dyn Clock>,
        action: LeakAction,
    ) -> Self {
        Self {
            lookup,
            tokens,
            keyring,
            prefix,
            clock,
            action,
        }
    }

    /// The service account `candidate` is a token of, if any: our form and
    /// checksum (else no storage is read), a stored public id, and a MAC that
    /// matches; an unknown public id costs the MAC work of a wrong one.
    async fn owner_of(&self, candidate: &str) -> Result<Option<Match>, ServiceError> {
        let Ok(parsed) = token::parse(&self.prefix, candidate.trim()) else {
            return Ok(None);
        };
        let Some(stored) = self.lookup.find_by_public_id(parsed.public_id()).await? else {
            self.keyring.burn_equivalent_work(parsed.as_str());
            return Ok(None);
        };
        Ok(token_of(&self.keyring, &stored, &parsed)
            .ok()
            .map(|generation| Match {
                stored,
                previous: generation == TokenGeneration::Previous,
            }))
    }

    /// Handles one reported token: its label, having done what the server's
    /// action and the token's state call for, and audited it (with the API
    /// request that brought it).
    pub async fn report(
        &self,
        candidate: &str,
        by: &Reporter,
        request_id: &str,
    ) -> Result<Label, ServiceError> {
        let Some(found) = self.owner_of(candidate).await? else {
            return Ok(Label::FalsePositive);
        };
        let now = self.clock.now();
        let service_account = &found.stored.service_account;
        // Only a token that still works is put out of use: a previous token
        // past its grace (or of a revoked or expired service account) has
        // nothing left to stop.
        let works = if found.previous {
            service_account.live_previous_token(now).is_some()
        } else {
            service_account.revoked_at.is_none() && !service_account.is_expired_at(now)
        };
        // Who, the reason and audit action that go with them, whether the
        // server acts on it (holding a token is the authority to revoke
        // it), and where it was found.
        let (reporter, reason, action, act, source, url) = match by {
            Reporter::Partner { name, source, url } => (
                (*name).to_owned(),
                RevocationReason::Leaked,
                AuditAction::LeakReport,
                self.action == LeakAction::Revoke,
                source.clone(),
                url.clone(),
            ),
            Reporter::Holder { address } => (
                "public".to_owned(),
                RevocationReason::Reported,
                AuditAction::PublicRevocation,
                true,
                Some(address.to_string()),
                None,
            ),
        };
        let response = match (act && works, found.previous) {
            (false, _) => LeakResponse::Record,
            (true, true) => LeakResponse::RetirePrevious(now),
            (true, false) => LeakResponse::Revoke(Revocation {
                at: now,
                by_user_id: None,
                reason,
            }),
        };
        let leaked = if found.previous {
            service_account.previous_token.as_ref().map(|p| &p.token)
        } else {
            Some(&service_account.token)
        };
        let event = AuditEvent {
            occurred_at: now,
            account_id: service_account.account_id,
            service_account_id: Some(service_account.id),
            action,
            actor: Actor::Reporter,
            request_id: Some(request_id.to_owned()),
            detail: Some(AuditDetail::Leak {
                reporter,
                token_public_id: leaked.map(|t| t.public_id.clone()).unwrap_or_default(),
                source,
                url,
                revoked: false,
            }),
        };
        self.tokens
            .record_leak(
                service_account.account_id,
                service_account.id,
                response,
                &event,
            )
            .await?;
        Ok(Label::TruePositive)
    }
}
