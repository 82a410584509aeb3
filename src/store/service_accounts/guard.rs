//! What every change that hands out a service account's token does first,
//! inside its write transaction: lock the service account's row, and check
//! that the caller may receive a token holding what the service account
//! holds (a rotation, and an idempotent replay of one).

use uuid::Uuid;

use super::row::PublicIdRow;
use super::sql;
use crate::domain::{CapabilityKey, Subject};
use crate::store::backend::{Arg, Backend};
use crate::store::error::StoreError;
use crate::store::grants;
use crate::store::sql_store::{decode, fetch_optional, query};

/// Who may receive a rotated token: a caller holding `held`, unless it is
/// `exempt` (an owner, or the service account itself), must hold every
/// capability the service account holds when the rotation commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationGuard {
    pub held: Vec<CapabilityKey>,
    pub exempt: bool,
}

/// Locks service account `id` of `account_id` for the transaction; its
/// tokens' public ids (none: not there).
pub(super) async fn lock<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<PublicIdRow>, StoreError> {
    let lock = query::<D>(sql::LOCK_SERVICE_ACCOUNT)
        .arg(id)
        .arg(account_id);
    fetch_optional(connection, lock)
        .await?
        .map(|row| decode::<D, PublicIdRow>(&row))
        .transpose()
}

/// Refuses a rotation whose new token would hold what the caller does not.
pub(super) async fn check_escalation<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    id: Uuid,
    guard: &EscalationGuard,
) -> Result<(), StoreError> {
    if guard.exempt {
        return Ok(());
    }
    let missing: Vec<String> =
        grants::held::<D>(connection, account_id, Subject::ServiceAccount(id))
            .await?
            .into_iter()
            .filter(|key| !guard.held.contains(key))
            .map(|key| key.as_str().to_owned())
            .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::WouldEscalate { missing })
    }
}
