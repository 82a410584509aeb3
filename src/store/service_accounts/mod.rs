//! Service accounts and their tokens: the `service_accounts` table, its row
//! ([`row`]) and SQL ([`sql`]) described once for both databases, a service
//! account's life ([`lifecycle`]: create, read, list, revoke) and its
//! tokens' ([`tokens`]: look up, rotate, retire, leak, last use; [`replay`]:
//! a recorded token handed out again).

pub mod guard;
pub mod lifecycle;
pub mod replay;
pub mod row;
pub mod sql;
pub mod tokens;

pub use guard::EscalationGuard;
pub use lifecycle::{PageRequest, Revocation, ServiceAccountStore};
pub use replay::{Replay, ReplayVerdict};
pub use row::StoredServiceAccount;
pub use tokens::{LastUse, LastUseLog, LeakResponse, TokenLookup, TokenReplacement, TokenStore};
