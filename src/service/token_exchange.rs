//! The federation exchange (RFC 8693): a workload's OIDC token becomes a
//! short-lived token of a service account. The checks, in order: the token's
//! issuer is one of the account's identity providers; its signature (under
//! that provider's keys, algorithm bound to the key); `exp`, `nbf` and `iat`
//! with 60 s of skew; its lifetime (`exp − iat`) within the provider's
//! maximum; a `jti`; then the service account's rules for that provider in
//! creation order, the first whose audience and every condition hold wins;
//! `scope` within that rule's capabilities. The `jti` is recorded in the
//! transaction that mints, so a token is exchanged once, on any instance.
//!
//! Refusals are coarse ([`ExchangeError`] carries a reason word, never a
//! claim value); a refused exchange that names a live service account is
//! audited for its administrators with the failed conditions and the values
//! presented, at most once per service account and reason a minute.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::auth::federation::{FederationKeys, SubjectTokenError, unverified_issuer};
use crate::clock::Clock;
use crate::domain::audit::FailedCondition;
use crate::domain::federation_rules::{claim_text, provenance_claims};
use crate::domain::{
    Actor, AuditAction, AuditDetail, AuditEvent, CapabilityKey, FederatedToken, FederationRule,
    IdentityProvider, Origin, Provenance,
};
use crate::store::{
    AuditEventStore, FederatedTokenStore, FederationRuleStore, IdentityProviderStore,
    ServiceAccountStore, StoreError, UsedJti,
};
use crate::token::PlaintextToken;

use super::minter::TokenMinter;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const SKEW: TimeDelta = TimeDelta::seconds(60);
/// The longest `jti` accepted.
const MAX_JTI_CHARS: usize = 255;
/// At most one audited refusal per service account and reason this often.
const DENIAL_AUDIT_INTERVAL: Duration = Duration::from_secs(60);

/// An exchange as a client asks for it, its form already checked.
#[derive(Debug, Clone)]
pub struct ExchangeRequest {
    pub account_id: Uuid,
    pub service_account_id: Uuid,
    pub subject_token: String,
    /// The capabilities asked for (none: all the rule gives).
    pub scope: Option<Vec<CapabilityKey>>,
}

/// A refused or failed exchange.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The presented token or the request does not get a token; `reason`
    /// is a coarse word for the client (`signature`, `expired`, `audience`,
    /// `replayed`, `no_matching_rule` ...), never a claim value.
    #[error("the grant is refused: {reason}")]
    InvalidGrant { reason: &'static str },
    /// `scope` asks for a capability the matching rule does not give.
    #[error("the scope asks for more than the rule gives")]
    InvalidScope,
    /// The issuer's keys cannot be had, or the store is unavailable.
    #[error("the exchange cannot be made now")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for ExchangeError {
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            ExchangeError::Unavailable(Box::new(error))
        } else {
            ExchangeError::Internal(error)
        }
    }
}

fn refused(reason: &'static str) -> ExchangeError {
    ExchangeError::InvalidGrant { reason }
}

/// A minted token: its plaintext (for the response only), lifetime and
/// capabilities.
pub struct Exchanged {
    pub token: PlaintextToken,
    pub expires_in: u32,
    pub minted: FederatedToken,
}

/// The stores the exchange reads and writes.
pub struct ExchangeStores {
    pub providers: Arc<dyn IdentityProviderStore>,
    pub rules: Arc<dyn FederationRuleStore>,
    pub tokens: Arc<dyn FederatedTokenStore>,
    pub service_accounts: Arc<dyn ServiceAccountStore>,
    pub audit: Arc<dyn AuditEventStore>,
}

pub struct TokenExchange {
    stores: ExchangeStores,
    keys: FederationKeys,
    minter: TokenMinter,
    clock: Arc<dyn Clock>,
    /// The refusals audited lately, by service account and reason.
    denials: moka::sync::Cache<(Uuid, &'static str), ()>,
}

/// The checked claims of a presented token.
struct Presented {
    claims: Map<String, Value>,
    expires_at: DateTime<Utc>,
    jti: String,
    subject: String,
}

impl TokenExchange {
    pub fn new(
        stores: ExchangeStores,
        keys: FederationKeys,
        minter: TokenMinter,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            stores,
            keys,
            minter,
            clock,
            denials: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(DENIAL_AUDIT_INTERVAL)
                .build(),
        }
    }

    /// Exchanges `request`'s token, for a request from `origin`.
    pub async fn exchange(
        &self,
        request: &ExchangeRequest,
        origin: &Origin,
    ) -> Result<Exchanged, ExchangeError> {
        let issuer = unverified_issuer(&request.subject_token).ok_or(refused("malformed"))?;
        let provider = self
            .stores
            .providers
            .identity_provider_by_issuer(request.account_id, &issuer)
            .await?
            .ok_or(refused("issuer_not_registered"))?;
        let claims = match self.keys.verify(&provider, &request.subject_token).await {
            Ok(claims) => claims,
            Err(SubjectTokenError::Refused(refusal)) => return Err(refused(refusal.as_str())),
            Err(SubjectTokenError::KeysUnavailable(cause)) => {
                return Err(ExchangeError::Unavailable(Box::new(cause)));
            }
        };
        let now = self.clock.now();
        let presented = check_claims(&provider, claims, now)?;
        let rules: Vec<FederationRule> = self
            .stores
            .rules
            .federation_rules_of(request.account_id, request.service_account_id)
            .await?
            .into_iter()
            .filter(|rule| rule.identity_provider_id == provider.id)
            .collect();
        let Some(rule) = rules.iter().find(|rule| matches(rule, &presented.claims)) else {
            let reason = if rules.is_empty() {
                "no_rule_for_issuer"
            } else {
                "no_matching_rule"
            };
            self.audit_denial(request, &provider, &presented, &rules, reason, origin, now)
                .await;
            return Err(refused("no_matching_rule"));
        };
        let capabilities = match &request.scope {
            None => rule.capabilities.clone(),
            Some(asked) if asked.iter().all(|key| rule.capabilities.contains(key)) => asked.clone(),
            Some(_) => return Err(ExchangeError::InvalidScope),
        };
        let service_account = self
            .stores
            .service_accounts
            .get_service_account(request.account_id, request.service_account_id)
            .await?
            .filter(|sa| sa.revoked_at.is_none() && !sa.is_expired_at(now))
            .ok_or(refused("service_account"))?;
        // Never beyond the service account's own expiry.
        let mut expires_at = now + TimeDelta::seconds(i64::from(rule.token_ttl_seconds));
        if let Some(end) = service_account.expires_at {
            expires_at = expires_at.min(end);
        }
        let (token, facts, mac) = self.minter.issue(now);
        let minted = FederatedToken {
            account_id: request.account_id,
            service_account_id: request.service_account_id,
            capabilities,
            provenance: Provenance {
                federation_rule_id: rule.id,
                identity_provider_id: provider.id,
                issuer: provider.issuer.as_str().to_owned(),
                subject: presented.subject.clone(),
                claims: useful_claims(&provider, &presented.claims),
            },
            expires_at,
            revoked_at: None,
            revoked_reason: None,
            token: facts,
        };
        let jti = UsedJti {
            issuer: provider.issuer.as_str().to_owned(),
            jti: presented.jti.clone(),
            expires_at: presented.expires_at + SKEW,
        };
        let event = AuditEvent::new(
            now,
            request.account_id,
            Some(request.service_account_id),
            AuditAction::TokenExchange,
            Actor::ServiceAccount(request.service_account_id),
            Origin {
                actor_token_public_id: Some(minted.token.public_id.clone()),
                actor_federation: Some(minted.provenance.clone()),
                ..origin.clone()
            },
        )
        .about_token(&minted.token.public_id)
        .with_detail(AuditDetail::Exchange {
            identity_provider_id: provider.id,
            issuer: provider.issuer.as_str().to_owned(),
            subject: presented.subject.clone(),
            federation_rule_id: Some(rule.id),
            reason: None,
            failed: vec![],
        });
        self.stores
            .tokens
            .mint_federated_token(&minted, &mac, &jti, &event)
            .await
            .map_err(|error| match error {
                StoreError::JtiReplayed => refused("replayed"),
                StoreError::ServiceAccountNotInAccount => refused("service_account"),
                other => other.into(),
            })?;
        let expires_in = u32::try_from((expires_at - now).num_seconds().max(0)).unwrap_or(0);
        Ok(Exchanged {
            token,
            expires_in,
            minted,
        })
    }

    /// Audits a refusal for the service account's administrators (at most
    /// once a minute per service account and reason); a failure to record
    /// it does not change the answer.
    #[allow(clippy::too_many_arguments)]
    async fn audit_denial(
        &self,
        request: &ExchangeRequest,
        provider: &IdentityProvider,
        presented: &Presented,
        rules: &[FederationRule],
        reason: &'static str,
        origin: &Origin,
        now: DateTime<Utc>,
    ) {
        let key = (request.service_account_id, reason);
        if self.denials.contains_key(&key) {
            return;
        }
        self.denials.insert(key, ());
        let Ok(Some(_)) = self
            .stores
            .service_accounts
            .get_service_account(request.account_id, request.service_account_id)
            .await
        else {
            return;
        };
        let failed = rules
            .iter()
            .flat_map(|rule| failed_conditions(rule, &presented.claims))
            .collect();
        let event = AuditEvent::new(
            now,
            request.account_id,
            Some(request.service_account_id),
            AuditAction::TokenExchangeDenied,
            Actor::Reporter,
            origin.clone(),
        )
        .with_detail(AuditDetail::Exchange {
            identity_provider_id: provider.id,
            issuer: provider.issuer.as_str().to_owned(),
            subject: presented.subject.clone(),
            federation_rule_id: None,
            reason: Some(reason.to_owned()),
            failed,
        });
        let _ = self.stores.audit.record_audit_event(&event).await;
    }
}

/// Whether `rule` lets `claims` in: its audience, then every condition.
fn matches(rule: &FederationRule, claims: &Map<String, Value>) -> bool {
    audience_is(claims, &rule.audience) && rule.evaluate(claims).iter().all(|o| o.pass)
}

/// Whether `aud` is `audience`, or an array holding only it.
fn audience_is(claims: &Map<String, Value>, audience: &str) -> bool {
    match claims.get("aud") {
        Some(Value::String(aud)) => aud == audience,
        Some(Value::Array(auds)) => auds.len() == 1 && auds[0].as_str() == Some(audience),
        _ => false,
    }
}

/// What `rule` found wrong with `claims`, the audience included.
fn failed_conditions(rule: &FederationRule, claims: &Map<String, Value>) -> Vec<FailedCondition> {
    let mut failed = Vec::new();
    if !audience_is(claims, &rule.audience) {
        failed.push(FailedCondition {
            federation_rule_id: rule.id,
            claim: "aud".to_owned(),
            op: "eq".to_owned(),
            expected: Value::from(rule.audience.as_str()).to_string(),
            presented: claims.get("aud").map(Value::to_string),
        });
    }
    failed.extend(
        rule.evaluate(claims)
            .into_iter()
            .filter(|outcome| !outcome.pass)
            .map(|outcome| FailedCondition {
                federation_rule_id: rule.id,
                claim: outcome.claim,
                op: outcome.op.to_owned(),
                expected: outcome.expected.to_string(),
                presented: outcome.presented,
            }),
    );
    failed
}

/// The provider kind's useful claims, as text.
fn useful_claims(
    provider: &IdentityProvider,
    claims: &Map<String, Value>,
) -> BTreeMap<String, String> {
    provenance_claims(provider.kind)
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), claim_text(claims.get(*name)?)?)))
        .collect()
}

/// A NumericDate claim (RFC 7519 §2), as an instant.
fn numeric_date(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let seconds = value?.as_f64()?;
    if !seconds.is_finite() {
        return None;
    }
    DateTime::from_timestamp(seconds.floor() as i64, 0)
}

/// The signed claims' issuer, times, lifetime, `jti` and `sub`.
fn check_claims(
    provider: &IdentityProvider,
    claims: Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Presented, ExchangeError> {
    if claims.get("iss").and_then(Value::as_str) != Some(provider.issuer.as_str()) {
        return Err(refused("issuer"));
    }
    let expires_at = numeric_date(claims.get("exp")).ok_or(refused("expiry"))?;
    let issued_at = numeric_date(claims.get("iat")).ok_or(refused("issued_at"))?;
    if now >= expires_at + SKEW {
        return Err(refused("expired"));
    }
    if issued_at > now + SKEW {
        return Err(refused("issued_in_future"));
    }
    if let Some(nbf) = claims.get("nbf") {
        let not_before = numeric_date(Some(nbf)).ok_or(refused("not_before"))?;
        if not_before > now + SKEW {
            return Err(refused("not_yet_valid"));
        }
    }
    let lifetime = expires_at - issued_at;
    if lifetime > TimeDelta::seconds(i64::from(provider.max_subject_token_lifetime_seconds)) {
        return Err(refused("lifetime"));
    }
    let jti = claims
        .get("jti")
        .and_then(Value::as_str)
        .filter(|jti| !jti.is_empty() && jti.chars().count() <= MAX_JTI_CHARS)
        .ok_or(refused("jti"))?
        .to_owned();
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or(refused("subject"))?
        .to_owned();
    Ok(Presented {
        claims,
        expires_at,
        jti,
        subject,
    })
}
