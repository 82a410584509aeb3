//! The service's vocabulary, as types that can only hold valid values: names
//! ([`names`]), accounts and capabilities ([`accounts`]), service accounts
//! and their tokens ([`service_accounts`]), and the audit log ([`audit`]).
//! Input is parsed into these once, at the edge; everything past that point
//! can trust them.

pub mod accounts;
pub mod audit;
pub mod names;
pub mod service_accounts;

pub use accounts::{Account, Capability, CapabilityKey, Subject};
pub use audit::{Actor, AuditAction, AuditDetail, AuditEvent};
pub use names::{NAME_MAX_CHARS, OperatorName, ServiceAccountName, ValidationError};
pub use service_accounts::{
    IntrospectionClient, PreviousToken, RevocationReason, ServiceAccount, TokenFacts,
    TokenGeneration,
};
