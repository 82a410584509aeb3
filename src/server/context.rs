//! What every handler of the API can reach: the parts [`crate::app::App`]
//! assembles, and the frame ([`super::frame`]) every request goes through.

use std::sync::Arc;

use super::frame::{Frame, Observed};
use super::rate_limit::RateLimiter;
use crate::auth::Authenticator;
use crate::auth::introspection_client::IntrospectionClientAuthenticator;
use crate::auth::leaks::SenderKeys;
use crate::config::TrustedProxy;
use crate::service::audit_events::AuditLog;
use crate::service::authorizations::Authorizations;
use crate::service::idempotency::Idempotency;
use crate::service::leaks::Leaks;
use crate::service::role_assignments::RoleAssignments;
use crate::service::verification::Identities;
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
}

impl Observed for ApiContext {
    fn frame(&self) -> &Frame {
        &self.frame
    }
}
