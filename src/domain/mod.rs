//! The service's vocabulary, as types that can only hold valid values: names
//! ([`names`]), accounts and capabilities ([`accounts`]), who holds what
//! ([`authorizations`], [`roles`], and what it adds up to: [`effective`]),
//! service accounts and their tokens ([`service_accounts`]), workload identity
//! federation ([`identity_providers`], [`federation_rules`]), and the audit
//! log ([`audit`]). Input is parsed into these once, at the edge; everything
//! past that point can trust them.

pub mod accounts;
// First: it declares the `words!` enums the modules after it use.
#[macro_use]
pub mod authorizations;
pub mod audit;
pub mod audit_detail;
pub mod effective;
pub mod federation_rules;
pub mod identity_providers;
pub mod names;
pub mod roles;
pub mod service_accounts;
pub mod webhook_events;
pub mod webhooks;

pub use accounts::{Account, Capability, CapabilityKey};
pub use audit::{Actor, ActorType, AuditAction, AuditDetail, AuditEvent, Origin};
pub use authorizations::{
    Authorization, GrantKind, Grants, Resource, ResourceType, Subject, SubjectType,
};
pub use effective::{Effective, Holdings, HoldingsByAccount, ScopedCapability};
pub use federation_rules::{
    Condition, ConditionOutcome, ConditionTest, FederationRule, Provenance, RailBroken,
};
pub use identity_providers::{IdentityProvider, Issuer, ProviderKeys, ProviderKind};
pub use names::{NAME_MAX_CHARS, OperatorName, ServiceAccountName, ValidationError};
pub use roles::{RoleAssignment, RoleKey, RoleTable};
pub use service_accounts::{
    FederatedToken, IntrospectionClient, PreviousToken, RevocationReason, ServiceAccount,
    TokenFacts, TokenGeneration,
};
pub use webhook_events::{LifecycleEvent, lifecycle_events};
pub use webhooks::{
    DisabledReason, EventTypeFilter, ExpiryWarning, SigningSecret, Webhook, WebhookEventType,
};
