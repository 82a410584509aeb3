//! Federation rules: creating one for a service account (its conditions
//! checked against the rails of its provider's kind, its capabilities held
//! by the service account and by the caller, so that no rule escalates),
//! listing, deleting, and the dry run that shows, condition by condition,
//! why a token would or would not be taken. Every change is audited.

use std::sync::Arc;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::access::AccountAccess;
use super::error::ServiceError;
use crate::clock::Clock;
use crate::domain::audit::FederationTarget;
use crate::domain::federation_rules::{
    DEFAULT_TOKEN_TTL_SECONDS, MAX_CONDITIONS, check_rails, check_token_ttl, default_audience,
};
use crate::domain::{
    AuditAction, AuditDetail, CapabilityKey, Condition, ConditionOutcome, Effective,
    FederationRule, Subject, ValidationError,
};
use crate::store::{FederationRuleStore, GrantLookup, IdentityProviderStore, StoreError};

/// The longest audience and description accepted.
const MAX_AUDIENCE_CHARS: usize = 255;
const MAX_DESCRIPTION_CHARS: usize = 500;
/// The most capabilities a rule may give.
const MAX_CAPABILITIES: usize = 50;

/// A rule as a client asks for it, its parts checked one by one (the rails
/// need the provider, read when it is created).
#[derive(Debug, Clone)]
pub struct RuleRequest {
    pub identity_provider_id: Uuid,
    pub audience: Option<String>,
    pub conditions: Vec<Condition>,
    pub capabilities: Vec<CapabilityKey>,
    pub token_ttl_seconds: u32,
    pub description: Option<String>,
}

impl RuleRequest {
    /// Checks the parts that need nothing else: `conditions` already
    /// parsed, capability keys, lifetime, audience and description.
    pub fn parse(
        identity_provider_id: Uuid,
        audience: Option<String>,
        conditions: Vec<Condition>,
        capabilities: &[String],
        token_ttl_seconds: Option<u32>,
        description: Option<String>,
    ) -> Result<Self, ValidationError> {
        if conditions.len() > MAX_CONDITIONS {
            return Err(ValidationError::new(
                "conditions",
                format!("at most {MAX_CONDITIONS} conditions"),
            ));
        }
        if capabilities.is_empty() || capabilities.len() > MAX_CAPABILITIES {
            return Err(ValidationError::new(
                "capabilities",
                format!("list 1 to {MAX_CAPABILITIES} capability keys, such as auth.manage"),
            ));
        }
        let capabilities = capabilities
            .iter()
            .map(|key| {
                let key = CapabilityKey::parse(key)
                    .map_err(|e| ValidationError::new("capabilities", e.message))?;
                if key.as_str() == "account_owner" {
                    return Err(ValidationError::new(
                        "capabilities",
                        "ownership cannot be minted: list the capabilities the workload needs",
                    ));
                }
                Ok(key)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let text_ok = |text: &String, max: usize| {
            !text.is_empty() && text.chars().count() <= max && !text.chars().any(char::is_control)
        };
        if audience
            .as_ref()
            .is_some_and(|a| !text_ok(a, MAX_AUDIENCE_CHARS))
        {
            return Err(ValidationError::new(
                "audience",
                format!("must be 1 to {MAX_AUDIENCE_CHARS} characters without control characters"),
            ));
        }
        if description
            .as_ref()
            .is_some_and(|d| !text_ok(d, MAX_DESCRIPTION_CHARS))
        {
            return Err(ValidationError::new(
                "description",
                format!(
                    "must be 1 to {MAX_DESCRIPTION_CHARS} characters without control characters"
                ),
            ));
        }
        Ok(Self {
            identity_provider_id,
            audience,
            conditions,
            capabilities,
            token_ttl_seconds: check_token_ttl(
                token_ttl_seconds.unwrap_or(DEFAULT_TOKEN_TTL_SECONDS),
            )?,
            description,
        })
    }
}

/// A dry run's answer: the audience's outcome first, then each condition's.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRun {
    pub matched: bool,
    pub outcomes: Vec<ConditionOutcome>,
}

pub struct FederationRules {
    rules: Arc<dyn FederationRuleStore>,
    providers: Arc<dyn IdentityProviderStore>,
    grants: Arc<dyn GrantLookup>,
    clock: Arc<dyn Clock>,
}

impl FederationRules {
    pub fn new(
        rules: Arc<dyn FederationRuleStore>,
        providers: Arc<dyn IdentityProviderStore>,
        grants: Arc<dyn GrantLookup>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            rules,
            providers,
            grants,
            clock,
        }
    }

    /// Creates `request` for service account `service_account_id`, if its
    /// conditions keep to the rails and both the service account and the
    /// caller hold every capability it gives.
    pub async fn create(
        &self,
        access: &AccountAccess,
        service_account_id: Uuid,
        request: RuleRequest,
    ) -> Result<FederationRule, ServiceError> {
        access.require_current_token("create federation rules")?;
        access.require_own_credential("create federation rules")?;
        let account_id = access.account_id();
        let provider = self
            .providers
            .get_identity_provider(account_id, request.identity_provider_id)
            .await?
            .ok_or_else(|| {
                ValidationError::new(
                    "identity_provider_id",
                    "names no identity provider of this account: register it first",
                )
            })?;
        check_rails(provider.kind, &request.conditions)?;
        let missing: Vec<String> = request
            .capabilities
            .iter()
            .filter(|key| !access.effective().holds(key, None))
            .map(|key| key.as_str().to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(ServiceError::NotPermitted {
                reason: format!(
                    "a rule minting {} would give a workload capabilities you do not hold",
                    missing.join(", ")
                ),
                required: missing,
            });
        }
        let subject = Subject::ServiceAccount(service_account_id);
        let holdings = self.grants.holdings(&subject).await?;
        let held = Effective::of(account_id, holdings.get(&account_id), &access.roles);
        let not_held: Vec<&str> = request
            .capabilities
            .iter()
            .filter(|key| !held.holds(key, None))
            .map(CapabilityKey::as_str)
            .collect();
        if !not_held.is_empty() {
            return Err(ValidationError::new(
                "capabilities",
                format!(
                    "the service account does not hold {}: grant it first (a minted token has \
                     at most what its service account holds)",
                    not_held.join(", ")
                ),
            )
            .into());
        }
        let now = self.clock.now();
        let rule = FederationRule {
            id: Uuid::new_v4(),
            account_id,
            service_account_id,
            identity_provider_id: provider.id,
            audience: request
                .audience
                .unwrap_or_else(|| default_audience(account_id)),
            conditions: request.conditions,
            capabilities: request.capabilities,
            token_ttl_seconds: request.token_ttl_seconds,
            description: request.description,
            created_at: now,
        };
        let event = access
            .audit(service_account_id, AuditAction::FederationRuleCreate, now)
            .with_detail(target(&rule, provider.issuer.as_str()));
        self.rules
            .create_federation_rule(&rule, &event)
            .await
            .map_err(|error| match error {
                StoreError::ServiceAccountNotInAccount => ServiceError::NotFound,
                other => other.into(),
            })?;
        Ok(rule)
    }

    pub async fn list(
        &self,
        access: &AccountAccess,
        service_account_id: Uuid,
    ) -> Result<Vec<FederationRule>, ServiceError> {
        Ok(self
            .rules
            .federation_rules_of(access.account_id(), service_account_id)
            .await?)
    }

    async fn get(
        &self,
        access: &AccountAccess,
        service_account_id: Uuid,
        id: Uuid,
    ) -> Result<FederationRule, ServiceError> {
        self.rules
            .get_federation_rule(access.account_id(), service_account_id, id)
            .await?
            .ok_or(ServiceError::NotFound)
    }

    pub async fn delete(
        &self,
        access: &AccountAccess,
        service_account_id: Uuid,
        id: Uuid,
    ) -> Result<(), ServiceError> {
        access.require_own_credential("delete federation rules")?;
        let rule = self.get(access, service_account_id, id).await?;
        let issuer = self
            .providers
            .get_identity_provider(access.account_id(), rule.identity_provider_id)
            .await?
            .map(|provider| provider.issuer.as_str().to_owned())
            .unwrap_or_default();
        let now = self.clock.now();
        let event = access
            .audit(service_account_id, AuditAction::FederationRuleDelete, now)
            .with_detail(target(&rule, &issuer));
        self.rules
            .delete_federation_rule(access.account_id(), service_account_id, id, &event)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(())
    }

    /// What rule `id` finds in `claims`, or in the claims of `subject_token`
    /// (read without checking its signature: nothing is minted).
    pub async fn dry_run(
        &self,
        access: &AccountAccess,
        service_account_id: Uuid,
        id: Uuid,
        claims: Option<Map<String, Value>>,
        subject_token: Option<&str>,
    ) -> Result<DryRun, ServiceError> {
        let claims = match (claims, subject_token) {
            (Some(claims), None) => claims,
            (None, Some(token)) => {
                jsonwebtoken::dangerous::insecure_decode_claims::<Map<String, Value>>(token)
                    .map_err(|_| {
                        ValidationError::new(
                            "subject_token",
                            "is not a JWT whose payload is a JSON object",
                        )
                    })?
            }
            _ => {
                return Err(ValidationError::new(
                    "claims",
                    "send exactly one of `claims` and `subject_token`",
                )
                .into());
            }
        };
        let rule = self.get(access, service_account_id, id).await?;
        let audience = Condition::parse("aud", "eq", Some(rule.audience.clone()), None)?;
        let mut audience_outcome = audience.evaluate(&claims);
        // `aud` may be the audience alone in an array.
        if let Some(Value::Array(auds)) = claims.get("aud") {
            audience_outcome.presented = Some(Value::from(auds.clone()).to_string());
            audience_outcome.pass = auds.len() == 1 && auds[0].as_str() == Some(&rule.audience);
        }
        let outcomes: Vec<ConditionOutcome> = std::iter::once(audience_outcome)
            .chain(rule.evaluate(&claims))
            .collect();
        Ok(DryRun {
            matched: outcomes.iter().all(|o| o.pass),
            outcomes,
        })
    }
}

fn target(rule: &FederationRule, issuer: &str) -> AuditDetail {
    AuditDetail::Federation(FederationTarget {
        identity_provider_id: rule.identity_provider_id,
        issuer: issuer.to_owned(),
        federation_rule_id: Some(rule.id),
    })
}
