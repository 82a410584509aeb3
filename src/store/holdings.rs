//! What a subject holds, in every account: its live authorizations and role
//! assignments. This is what authorization, whoami and introspection read
//! ([`GrantLookup`], also through the credential cache, which forgets a
//! subject's entry whenever one of its grants or roles changes).

use std::sync::Arc;

use async_trait::async_trait;

use super::authorizations::AuthorizationRow;
use super::backend::{Arg, Backend};
use super::error::StoreError;
use super::role_assignments::RoleAssignmentRow;
use super::sql_store::{SqlStore, decode, fetch_all, query};
use crate::domain::{HoldingsByAccount, Subject};

/// What authorization asks of the store.
#[async_trait]
pub trait GrantLookup: Send + Sync + 'static {
    /// Every live grant and role of `subject`, by account (no entry: no
    /// standing there through `subject`).
    async fn holdings(&self, subject: &Subject) -> Result<Arc<HoldingsByAccount>, StoreError>;
}

const LIVE_AUTHORIZATIONS: &str = "SELECT id, account_id, grant_kind, subject_type, \
    subject_id, capability_key, resource_type, resource_id, created_at, revoked_at \
    FROM authorizations WHERE subject_type = $1 AND subject_id = $2 AND revoked_at IS NULL";

const LIVE_ROLES: &str = "SELECT id, account_id, role_key, subject_type, subject_id, \
    resource_type, resource_id, created_at, revoked_at \
    FROM role_assignments WHERE subject_type = $1 AND subject_id = $2 AND revoked_at IS NULL";

/// What `subject` holds, as `connection` sees it (inside a transaction: as
/// the transaction sees it).
pub(super) async fn of_subject<D: Backend>(
    connection: &mut D::Connection,
    subject: &Subject,
) -> Result<HoldingsByAccount, StoreError> {
    let kind = subject.kind().as_str();
    let id = subject.id();
    let mut by_account = HoldingsByAccount::new();
    let grants = query::<D>(LIVE_AUTHORIZATIONS).arg(kind).arg(id.as_str());
    for row in fetch_all(connection, grants).await? {
        let grant = decode::<D, AuthorizationRow>(&row)?.into_authorization()?;
        by_account
            .entry(grant.account_id)
            .or_default()
            .authorizations
            .push(grant);
    }
    let roles = query::<D>(LIVE_ROLES).arg(kind).arg(id.as_str());
    for row in fetch_all(connection, roles).await? {
        let role = decode::<D, RoleAssignmentRow>(&row)?.into_assignment()?;
        by_account
            .entry(role.account_id)
            .or_default()
            .roles
            .push(role);
    }
    Ok(by_account)
}

#[async_trait]
impl<D: Backend> GrantLookup for SqlStore<D> {
    async fn holdings(&self, subject: &Subject) -> Result<Arc<HoldingsByAccount>, StoreError> {
        self.reading(async |connection| Ok(Arc::new(of_subject::<D>(connection, subject).await?)))
            .await
    }
}
