//! Identity providers: registering an OIDC issuer in an account (its issuer
//! URL, kind, where its keys are, the longest a token it issues may live),
//! reading and deleting it. Every change is audited with who made it.

use std::sync::Arc;

use uuid::Uuid;

use super::access::AccountAccess;
use super::error::ServiceError;
use crate::auth::oauth::keys::parse_jwks;
use crate::clock::Clock;
use crate::domain::audit::FederationTarget;
use crate::domain::identity_providers::{
    DEFAULT_MAX_SUBJECT_TOKEN_LIFETIME_SECONDS, check_max_lifetime, check_url,
};
use crate::domain::{
    AuditAction, AuditDetail, IdentityProvider, Issuer, OperatorName, ProviderKeys, ProviderKind,
    ValidationError,
};
use crate::store::IdentityProviderStore;

/// The largest inline JWKS accepted.
pub const MAX_INLINE_JWKS_BYTES: usize = 64 * 1024;

/// An identity provider as a client asks for it, checked whole.
#[derive(Debug, Clone)]
pub struct ProviderRequest {
    pub name: OperatorName,
    pub issuer: Issuer,
    pub kind: ProviderKind,
    pub keys: ProviderKeys,
    pub max_subject_token_lifetime_seconds: u32,
}

impl ProviderRequest {
    /// Checks what a client sent; `inline_jwks` is the JSON text of an
    /// inline key set. Plain http issuers and key URLs on a loopback address
    /// are taken only when `allow_loopback_http` (tests and development).
    pub fn parse(
        name: String,
        issuer: &str,
        kind: ProviderKind,
        keys: Option<ProviderKeys>,
        max_lifetime: Option<u32>,
        allow_loopback_http: bool,
    ) -> Result<Self, ValidationError> {
        let keys = keys.unwrap_or(ProviderKeys::Discovery);
        match &keys {
            ProviderKeys::Discovery => {}
            ProviderKeys::JwksUrl(url) => check_url("keys.url", url, allow_loopback_http)?,
            ProviderKeys::Inline(text) => {
                if text.len() > MAX_INLINE_JWKS_BYTES {
                    return Err(ValidationError::new(
                        "keys.jwks",
                        "must be at most 64 KiB: publish a large key set at a URL instead",
                    ));
                }
                let usable = parse_jwks(text).map_err(|_| {
                    ValidationError::new("keys.jwks", "must be a JWKS: {\"keys\": [...]}")
                })?;
                if usable.keys.is_empty() {
                    return Err(ValidationError::new(
                        "keys.jwks",
                        "holds no signing key: RSA, EC P-256 or Ed25519 public keys are used",
                    ));
                }
            }
        }
        Ok(Self {
            name: OperatorName::parse(name)?,
            issuer: Issuer::parse(issuer, allow_loopback_http)?,
            kind,
            keys,
            max_subject_token_lifetime_seconds: check_max_lifetime(
                max_lifetime.unwrap_or(DEFAULT_MAX_SUBJECT_TOKEN_LIFETIME_SECONDS),
            )?,
        })
    }
}

fn target(provider: &IdentityProvider) -> AuditDetail {
    AuditDetail::Federation(FederationTarget {
        identity_provider_id: provider.id,
        issuer: provider.issuer.as_str().to_owned(),
        federation_rule_id: None,
    })
}

pub struct IdentityProviders {
    store: Arc<dyn IdentityProviderStore>,
    clock: Arc<dyn Clock>,
}

impl IdentityProviders {
    pub fn new(store: Arc<dyn IdentityProviderStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    /// Registers `request` in the caller's account.
    pub async fn create(
        &self,
        access: &AccountAccess,
        request: ProviderRequest,
    ) -> Result<IdentityProvider, ServiceError> {
        let now = self.clock.now();
        let provider = IdentityProvider {
            id: Uuid::new_v4(),
            account_id: access.account_id(),
            name: request.name,
            issuer: request.issuer,
            kind: request.kind,
            keys: request.keys,
            max_subject_token_lifetime_seconds: request.max_subject_token_lifetime_seconds,
            created_at: now,
        };
        let event = access
            .audit_account(AuditAction::IdentityProviderCreate, now)
            .with_detail(target(&provider));
        self.store
            .create_identity_provider(&provider, &event)
            .await?;
        Ok(provider)
    }

    pub async fn list(
        &self,
        access: &AccountAccess,
    ) -> Result<Vec<IdentityProvider>, ServiceError> {
        Ok(self
            .store
            .list_identity_providers(access.account_id())
            .await?)
    }

    pub async fn get(
        &self,
        access: &AccountAccess,
        id: Uuid,
    ) -> Result<IdentityProvider, ServiceError> {
        self.store
            .get_identity_provider(access.account_id(), id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    /// Deletes provider `id`, unless rules still name it.
    pub async fn delete(&self, access: &AccountAccess, id: Uuid) -> Result<(), ServiceError> {
        let found = self.get(access, id).await?;
        let event = access
            .audit_account(AuditAction::IdentityProviderDelete, self.clock.now())
            .with_detail(target(&found));
        self.store
            .delete_identity_provider(access.account_id(), id, &event)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(())
    }
}
