//! Handing a recorded token out again: an idempotent replay of a create or a
//! rotation. In one write transaction, with the service account's row
//! locked (as a rotation locks it), the replay is confirmed only while the
//! recorded token is still the service account's current one, the service
//! account is neither revoked nor expired, and the caller may still receive
//! it (the rotation's escalation check, against the grants as they are
//! then); and it is audited.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::guard::{EscalationGuard, check_escalation, lock};
use super::lifecycle::select;
use crate::domain::AuditEvent;
use crate::store::audit_events;
use crate::store::backend::Backend;
use crate::store::error::StoreError;
use crate::store::sql_store::SqlStore;

/// Whether a replay may hand its token out again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Yes: the token is still current (and the replay was audited).
    Confirmed,
    /// The service account is not there (or not in the account).
    NotFound,
    Revoked,
    Expired {
        at: DateTime<Utc>,
    },
    /// The token has since been rotated away.
    Superseded,
}

/// What a replay hands out, and who receives it.
#[derive(Debug, Clone)]
pub struct Replay<'a> {
    pub account_id: Uuid,
    pub service_account_id: Uuid,
    /// The recorded token's public id.
    pub token_public_id: &'a str,
    /// When the replay happens.
    pub at: DateTime<Utc>,
    /// The escalation check a rotation makes.
    pub guard: &'a EscalationGuard,
    /// The audit event recorded when the replay is confirmed.
    pub event: &'a AuditEvent,
}

/// Confirms (and audits) `replay`, or says why not; see the module.
pub(in crate::store) async fn confirm<D: Backend>(
    store: &SqlStore<D>,
    replay: &Replay<'_>,
) -> Result<ReplayVerdict, StoreError> {
    store
        .write(async |tx| {
            let (account_id, id) = (replay.account_id, replay.service_account_id);
            if lock::<D>(tx, account_id, id).await?.is_none() {
                return Ok(ReplayVerdict::NotFound);
            }
            let Some(current) = select::<D>(tx, account_id, id).await? else {
                return Ok(ReplayVerdict::NotFound);
            };
            if current.revoked_at.is_some() {
                return Ok(ReplayVerdict::Revoked);
            }
            if let Some(at) = current
                .expires_at
                .filter(|_| current.is_expired_at(replay.at))
            {
                return Ok(ReplayVerdict::Expired { at });
            }
            if current.token.public_id != replay.token_public_id {
                return Ok(ReplayVerdict::Superseded);
            }
            check_escalation::<D>(tx, account_id, id, replay.guard).await?;
            audit_events::insert::<D>(tx, replay.event).await?;
            Ok(ReplayVerdict::Confirmed)
        })
        .await
}
