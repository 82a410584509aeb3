//! The service-account token scheme: format check, lookup by public id (of
//! the current token or of the previous one, during a rotation's grace
//! period), MAC check in constant time, then revocation and expiry.

use std::sync::Arc;

use super::last_use::LastUseRecorder;
use chrono::{DateTime, Utc};

use super::principal::{AuthError, CredentialFacts, FederatedFacts, Principal, Refusal, Verified};
use super::scheme::{AuthnScheme, SchemeResult};
use crate::clock::Clock;
use crate::domain::{FederatedToken, TokenGeneration};
use crate::store::{StoredServiceAccount, TokenLookup};
use crate::token::keyring::TokenKeyring;
use crate::token::{self, ParsedToken, TokenFormatError, TokenPrefix};

pub struct ServiceAccountAuthenticator {
    credentials: Arc<dyn TokenLookup>,
    keyring: Arc<TokenKeyring>,
    prefix: TokenPrefix,
    clock: Arc<dyn Clock>,
    last_use: Option<Arc<LastUseRecorder>>,
}

impl ServiceAccountAuthenticator {
    /// An authenticator that records each successful use with `last_use`
    /// (none: uses are not recorded).
    pub fn new(
        credentials: Arc<dyn TokenLookup>,
        keyring: Arc<TokenKeyring>,
        prefix: TokenPrefix,
        clock: Arc<dyn Clock>,
        last_use: Option<Arc<LastUseRecorder>>,
    ) -> Self {
        Self {
            credentials,
            keyring,
            prefix,
            clock,
            last_use,
        }
    }

    /// Whether `credential` has this scheme's form (our prefix). A credential
    /// that does not is for another scheme.
    pub fn recognizes(&self, credential: &str) -> bool {
        credential
            .strip_prefix(self.prefix.as_str())
            .is_some_and(|rest| rest.starts_with('_'))
    }

    async fn verify(&self, credential: &str) -> Result<Verified, AuthError> {
        // Everything that needs no database is checked first: a typo, a
        // truncated copy or a forged look-alike never costs a query.
        let parsed = token::parse(&self.prefix, credential).map_err(|e| match e {
            TokenFormatError::WrongPrefix => Refusal::WrongPrefix,
            TokenFormatError::Malformed => Refusal::Malformed,
            TokenFormatError::BadChecksum => Refusal::BadChecksum,
        })?;
        let stored = self
            .credentials
            .find_by_public_id(parsed.public_id())
            .await?;
        let Some(stored) = stored else {
            self.keyring.burn_equivalent_work(parsed.as_str());
            return Err(Refusal::UnknownPublicId.into());
        };
        let generation = token_of(&self.keyring, &stored, &parsed).map_err(|e| match e {
            TokenMismatch::UnknownPublicId => Refusal::UnknownPublicId,
            TokenMismatch::WrongSecret => Refusal::WrongSecret,
        })?;
        let service_account = stored.service_account;
        if service_account.revoked_at.is_some() {
            return Err(Refusal::Revoked.into());
        }
        let now = self.clock.now();
        if service_account.is_expired_at(now) {
            return Err(Refusal::Expired.into());
        }
        let token = match generation {
            TokenGeneration::Current => &service_account.token,
            TokenGeneration::Previous => {
                let previous = service_account.previous_token.as_ref();
                &previous.ok_or(Refusal::UnknownPublicId)?.token
            }
            TokenGeneration::Federated => {
                let (federated, _) = stored.federated.ok_or(Refusal::UnknownPublicId)?;
                return federated_verdict(federated, service_account.name, now);
            }
        };
        if service_account.static_token_disabled_at.is_some() {
            return Err(Refusal::StaticTokenDisabled.into());
        }
        let (expires_at, last_used_at) = match generation {
            TokenGeneration::Previous => {
                let previous = service_account
                    .live_previous_token(now)
                    .ok_or(Refusal::PreviousPastGrace)?;
                (Some(previous.expires_at), previous.last_used_at)
            }
            _ => (service_account.expires_at, service_account.last_used_at),
        };
        if let Some(last_use) = &self.last_use {
            last_use.note(service_account.id, generation, token, last_used_at);
        }
        Ok(Verified {
            principal: Principal::ServiceAccount {
                service_account_id: service_account.id,
                account_id: service_account.account_id,
            },
            credential: CredentialFacts::ServiceAccountToken {
                public_id: token.public_id.clone(),
                generation,
                issued_at: token.issued_at,
                expires_at,
                name: service_account.name,
            },
        })
    }
}

/// The verdict on a federated token whose MAC matched, and whose service
/// account is live: refused once revoked or past its own expiry.
fn federated_verdict(
    federated: FederatedToken,
    name: String,
    now: DateTime<Utc>,
) -> Result<Verified, AuthError> {
    if federated.revoked_at.is_some() {
        return Err(Refusal::Revoked.into());
    }
    if now >= federated.expires_at {
        return Err(Refusal::Expired.into());
    }
    Ok(Verified {
        principal: Principal::ServiceAccount {
            service_account_id: federated.service_account_id,
            account_id: federated.account_id,
        },
        credential: CredentialFacts::FederatedToken(Arc::new(FederatedFacts {
            name,
            token: federated,
        })),
    })
}

#[async_trait::async_trait]
impl AuthnScheme for ServiceAccountAuthenticator {
    fn kind(&self) -> &'static str {
        "service_account"
    }

    async fn authenticate(&self, credential: &str) -> SchemeResult {
        if !self.recognizes(credential) {
            return SchemeResult::NotMine;
        }
        self.verify(credential).await.into()
    }
}

/// Why a parsed token is not one of a stored service account's tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMismatch {
    /// The row holds no token with its public id (a previous token already
    /// retired, say).
    UnknownPublicId,
    /// The public id matches, the secret does not.
    WrongSecret,
}

/// Which of `stored`'s tokens `parsed` is (the row a lookup by its public id
/// found): the MAC of that token compared in constant time. A public id the
/// row no longer holds costs the same MAC work as a wrong secret. Nothing
/// about revocation, expiry or grace is decided here.
pub fn token_of(
    keyring: &TokenKeyring,
    stored: &StoredServiceAccount,
    parsed: &ParsedToken<'_>,
) -> Result<TokenGeneration, TokenMismatch> {
    let service_account = &stored.service_account;
    let federated = stored
        .federated
        .as_ref()
        .filter(|(token, _)| token.token.public_id == parsed.public_id());
    let used = if let Some((_, mac)) = federated {
        Some((TokenGeneration::Federated, mac))
    } else if service_account.token.public_id == parsed.public_id() {
        Some((TokenGeneration::Current, &stored.mac))
    } else {
        match (&service_account.previous_token, &stored.previous_mac) {
            (Some(previous), Some(mac)) if previous.token.public_id == parsed.public_id() => {
                Some((TokenGeneration::Previous, mac))
            }
            _ => None,
        }
    };
    let Some((generation, mac)) = used else {
        keyring.burn_equivalent_work(parsed.as_str());
        return Err(TokenMismatch::UnknownPublicId);
    };
    if keyring.verify(parsed.as_str(), mac) {
        Ok(generation)
    } else {
        Err(TokenMismatch::WrongSecret)
    }
}
