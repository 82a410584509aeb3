//! Who is calling. A credential becomes a [`Verified`] principal, or is
//! refused with a reason ([`principal`]). Bearer credentials go through one
//! [`Authenticator`] ([`authenticator`]), which asks each scheme
//! ([`scheme::AuthnScheme`]) in turn: service-account tokens
//! ([`service_account`], this server's prefix) and OAuth access tokens
//! ([`oauth`], JWTs from trusted issuers). Introspection clients
//! authenticate with HTTP Basic ([`introspection_client`]); secret-scanning
//! partners sign their reports ([`leaks`]); workloads present OIDC tokens to
//! the federation exchange ([`federation`]). Keys other parties publish
//! (issuers' JWKS, partners' keys) are fetched by one fetcher
//! ([`published`]).
//!
//! Auth reads the store only through narrow lookups (`TokenLookup`,
//! `GrantLookup`, `ClientLookup`, and `LastUseLog` to record uses); the
//! [`cache`] of verified credentials stands in front of them, and
//! [`last_use`] records `last_used_at` off the request path.

pub mod authenticator;
pub mod basic;
pub mod bearer;
pub mod cache;
pub mod federation;
pub mod introspection_client;
pub mod last_use;
pub mod leaks;
pub mod oauth;
pub mod principal;
pub mod published;
pub mod scheme;
pub mod service_account;

pub use authenticator::{Authentication, Authenticator};
pub use bearer::{BearerError, bearer_credential};
pub use principal::{AuthError, CredentialFacts, FederatedFacts, Principal, Refusal, Verified};
pub use scheme::{AuthnScheme, SchemeResult};
pub use service_account::ServiceAccountAuthenticator;
