//! What every change that hands out a service account's token does first,
//! inside its write transaction: lock the service account's row, and check
//! that the caller may receive a token holding what the service account
//! holds (a rotation, and an idempotent replay of one).

use std::sync::Arc;

use uuid::Uuid;

use super::row::PublicIdRow;
use super::sql;
use crate::domain::{Effective, RoleTable, Subject};
use crate::store::backend::{Arg, Backend};
use crate::store::error::StoreError;
use crate::store::holdings;
use crate::store::sql_store::{decode, fetch_optional, query};

/// Who may receive a rotated token: a caller holding `caller`, unless it is
/// `exempt` (an owner, or the service account itself), must hold every
/// capability the service account holds when the rotation commits (its
/// roles expanded through `roles`).
#[derive(Debug, Clone)]
pub struct EscalationGuard {
    pub caller: Effective,
    pub roles: Arc<RoleTable>,
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
    let held = holdings::of_subject::<D>(connection, &Subject::ServiceAccount(id)).await?;
    let service_account = Effective::of(account_id, held.get(&account_id), &guard.roles);
    let caller = &guard.caller;
    let mut missing: Vec<String> = Vec::new();
    if service_account.owner && !caller.owner {
        missing.push("account_owner".to_owned());
    }
    missing.extend(
        service_account
            .capabilities
            .iter()
            .filter(|key| !caller.holds(key, None))
            .map(|key| key.as_str().to_owned()),
    );
    missing.extend(
        service_account
            .scoped
            .iter()
            .filter(|s| !caller.holds(&s.capability_key, Some(s.resource)))
            .map(|s| {
                format!(
                    "{} on {} {}",
                    s.capability_key.as_str(),
                    s.resource.kind,
                    s.resource.id
                )
            }),
    );
    if missing.is_empty() {
        Ok(())
    } else {
        Err(StoreError::WouldEscalate { missing })
    }
}
