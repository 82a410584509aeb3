//! What the API does, independent of HTTP: authorization against an account
//! ([`access`]), who holds what ([`authorizations`], [`role_assignments`],
//! under the rules of [`escalation`]), the service-account operations ([`service_accounts`]) with
//! the token rules they follow ([`policy`]) and the tokens they mint
//! ([`minter`]), safe retries ([`idempotency`]), who a verified credential
//! is ([`verification`]), leaked tokens ([`leaks`]), the federation
//! exchange ([`token_exchange`]) with the [`identity_providers`] and
//! [`federation_rules`] it follows, lifecycle [`webhooks`] (checked by
//! [`webhook_guard`], signed with secrets sealed by [`webhook_secrets`],
//! sent by [`webhook_delivery`], with the expiry warnings of
//! [`webhook_expiry`]), and the operator's actions ([`admin`]). Input arrives as plain values and is parsed into
//! domain types here, once; errors are typed ([`ServiceError`]) and mapped to
//! HTTP elsewhere (`server::error`).

pub mod access;
pub mod admin;
pub mod audit_events;
pub mod authorizations;
pub mod error;
pub mod escalation;
pub mod federation_rules;
pub mod idempotency;
pub mod identity_providers;
pub mod leaks;
pub mod minter;
pub mod policy;
pub mod role_assignments;
pub mod service_accounts;
pub mod token_exchange;
pub mod verification;
pub mod webhook_delivery;
pub mod webhook_expiry;
pub mod webhook_guard;
pub mod webhook_secrets;
pub mod webhooks;

pub use access::{AccountAccess, Authorizer, Caller};
pub use error::ServiceError;
pub use minter::TokenMinter;
pub use policy::TokenPolicy;
pub use service_accounts::{
    CreateServiceAccount, IssuedServiceAccount, ListServiceAccounts, ReplayedToken,
    RotateServiceAccount, SealIssued, ServiceAccounts,
};
