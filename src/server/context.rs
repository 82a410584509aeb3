//! What every handler of the API can reach: the parts [`crate::app::App`]
//! assembles, and the frame ([`super::frame`]) every request goes through.

use std::sync::Arc;

use uuid::Uuid;

use super::frame::{Frame, Observed};
use super::rate_limit::RateLimiter;
use crate::auth::Authenticator;
use crate::auth::introspection_client::IntrospectionClientAuthenticator;
use crate::auth::leaks::SenderKeys;
use crate::config::TrustedProxy;
use crate::service::audit_events::AuditLog;
use crate::service::authorizations::Authorizations;
use crate::service::federation_rules::FederationRules;
use crate::service::idempotency::Idempotency;
use crate::service::identity_providers::IdentityProviders;
use crate::service::leaks::Leaks;
use crate::service::role_assignments::RoleAssignments;
use crate::service::token_exchange::TokenExchange;
use crate::service::verification::Identities;
use crate::service::webhooks::Webhooks;
use crate::service::{Authorizer, ServiceAccounts};
use crate::store::StoreHealth;

pub struct ApiContext {
    pub frame: Frame,
    pub authenticator: Authenticator,
    pub authorizer: Authorizer,
    pub authorizations: Authorizations,
    pub role_assignments: RoleAssignments,
    pub audit_log: AuditLog,
    pub introspection_clients: IntrospectionClientAuthenticator,
    pub service_accounts: ServiceAccounts,
    pub idempotency: Arc<Idempotency>,
    pub identities: Identities,
    pub health: Arc<dyn StoreHealth>,
    pub leaks: Leaks,
    pub github_keys: Arc<SenderKeys>,
    pub gitlab_keys: Arc<SenderKeys>,
    /// Bounds the public revocation endpoint, per client.
    pub public_revocations: RateLimiter,
    pub trusted_proxies: Vec<TrustedProxy>,
    /// IPv6 clients are limited by network: this many leading bits.
    pub public_revoke_ipv6_prefix: u8,
    pub identity_providers: IdentityProviders,
    pub federation_rules: FederationRules,
    pub token_exchange: TokenExchange,
    /// Bound the federation exchange, per client and per service account.
    pub exchanges_by_address: RateLimiter,
    pub exchanges_by_service_account: RateLimiter<Uuid>,
    /// Whether identity providers on plain http at a loopback address are
    /// taken (tests and development).
    pub federation_allow_loopback_issuers: bool,
    pub webhooks: Webhooks,
}

impl Observed for ApiContext {
    fn frame(&self) -> &Frame {
        &self.frame
    }
}
