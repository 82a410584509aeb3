//! One row of the `service_accounts` table, described once for both
//! databases: what the SQL reads and writes, and its one conversion into and
//! out of the domain's [`ServiceAccount`] with the MACs of its tokens.

use uuid::Uuid;

use crate::domain::{FederatedToken, PreviousToken, RevocationReason, ServiceAccount, TokenFacts};
use crate::store::backend::{Arg, Backend, Columns, FromColumns, SqlQuery};
use crate::store::columns::{Timestamp, corrupt, read_key_version, stored_key_version};
use crate::store::error::StoreError;
use crate::token::keyring::TokenMac;

/// A service account together with the MACs of its tokens: what the store
/// keeps, and what authentication needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredServiceAccount {
    pub service_account: ServiceAccount,
    pub mac: TokenMac,
    /// The MAC of `service_account.previous_token`, when there is one.
    pub previous_mac: Option<TokenMac>,
    /// The federated token a lookup by its public id found, with its MAC
    /// (none when the lookup was for one of the service account's own).
    pub federated: Option<(FederatedToken, TokenMac)>,
}

/// The `service_accounts` table: a service account and the MAC of its token.
pub struct ServiceAccountRow {
    pub id: Uuid,
    pub account_id: Uuid,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub created_by_user_id: Option<Uuid>,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub revoked_by_user_id: Option<Uuid>,
    pub revoked_reason: Option<String>,
    pub token_prefix: String,
    pub token_public_id: String,
    pub token_last4: String,
    pub token_issued_at: Timestamp,
    pub token_mac: Vec<u8>,
    pub token_key_version: i32,
    /// The previous token (all null when there is none): what the current
    /// token's columns held before a rotation with a grace period.
    pub previous_token_prefix: Option<String>,
    pub previous_token_public_id: Option<String>,
    pub previous_token_last4: Option<String>,
    pub previous_token_issued_at: Option<Timestamp>,
    pub previous_token_expires_at: Option<Timestamp>,
    pub previous_token_last_used_at: Option<Timestamp>,
    pub previous_token_mac: Option<Vec<u8>>,
    pub previous_token_key_version: Option<i32>,
    pub static_token_disabled_at: Option<Timestamp>,
}

impl FromColumns for ServiceAccountRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            account_id: columns.get("account_id")?,
            name: columns.get("name")?,
            created_at: columns.get("created_at")?,
            updated_at: columns.get("updated_at")?,
            created_by_user_id: columns.get("created_by_user_id")?,
            expires_at: columns.get("expires_at")?,
            last_used_at: columns.get("last_used_at")?,
            revoked_at: columns.get("revoked_at")?,
            revoked_by_user_id: columns.get("revoked_by_user_id")?,
            revoked_reason: columns.get("revoked_reason")?,
            token_prefix: columns.get("token_prefix")?,
            token_public_id: columns.get("token_public_id")?,
            token_last4: columns.get("token_last4")?,
            token_issued_at: columns.get("token_issued_at")?,
            token_mac: columns.get("token_mac")?,
            token_key_version: columns.get("token_key_version")?,
            previous_token_prefix: columns.get("previous_token_prefix")?,
            previous_token_public_id: columns.get("previous_token_public_id")?,
            previous_token_last4: columns.get("previous_token_last4")?,
            previous_token_issued_at: columns.get("previous_token_issued_at")?,
            previous_token_expires_at: columns.get("previous_token_expires_at")?,
            previous_token_last_used_at: columns.get("previous_token_last_used_at")?,
            previous_token_mac: columns.get("previous_token_mac")?,
            previous_token_key_version: columns.get("previous_token_key_version")?,
            static_token_disabled_at: columns.get("static_token_disabled_at")?,
        })
    }
}

impl ServiceAccountRow {
    pub fn from_stored(stored: &StoredServiceAccount) -> Result<Self, StoreError> {
        let sa = &stored.service_account;
        Ok(Self {
            id: sa.id,
            account_id: sa.account_id,
            name: sa.name.clone(),
            created_at: sa.created_at.into(),
            updated_at: sa.updated_at.into(),
            created_by_user_id: sa.created_by_user_id,
            expires_at: sa.expires_at.map(Timestamp),
            last_used_at: sa.last_used_at.map(Timestamp),
            revoked_at: sa.revoked_at.map(Timestamp),
            revoked_by_user_id: sa.revoked_by_user_id,
            revoked_reason: sa.revoked_reason.map(|reason| reason.as_str().to_owned()),
            token_prefix: sa.token.prefix.clone(),
            token_public_id: sa.token.public_id.clone(),
            token_last4: sa.token.last4.clone(),
            token_issued_at: sa.token.issued_at.into(),
            token_mac: stored.mac.digest.clone(),
            token_key_version: stored_key_version(stored.mac.key_version)?,
            // A new service account has no previous token: only a rotation
            // makes one.
            previous_token_prefix: None,
            previous_token_public_id: None,
            previous_token_last4: None,
            previous_token_issued_at: None,
            previous_token_expires_at: None,
            previous_token_last_used_at: None,
            previous_token_mac: None,
            previous_token_key_version: None,
            static_token_disabled_at: sa.static_token_disabled_at.map(Timestamp),
        })
    }

    /// Binds the columns of a new service account, in the order of
    /// [`super::sql::INSERT`] (the previous token's are null).
    pub fn bind<D: Backend>(self, query: SqlQuery<D>) -> SqlQuery<D> {
        query
            .arg(self.id)
            .arg(self.account_id)
            .arg(self.name.as_str())
            .arg(self.created_at)
            .arg(self.updated_at)
            .arg(self.created_by_user_id)
            .arg(self.expires_at)
            .arg(self.last_used_at)
            .arg(self.revoked_at)
            .arg(self.revoked_by_user_id)
            .arg(self.revoked_reason)
            .arg(self.token_prefix.as_str())
            .arg(self.token_public_id.as_str())
            .arg(self.token_last4.as_str())
            .arg(self.token_issued_at)
            .arg(self.token_mac.as_slice())
            .arg(self.token_key_version)
    }

    pub fn into_stored(self) -> Result<StoredServiceAccount, StoreError> {
        let key_version = read_key_version(self.token_key_version, &self.id)?;
        let previous = match (
            self.previous_token_prefix,
            self.previous_token_public_id,
            self.previous_token_last4,
            self.previous_token_issued_at,
            self.previous_token_expires_at,
            self.previous_token_mac,
            self.previous_token_key_version,
        ) {
            (None, None, None, None, None, None, None) => None,
            (
                Some(prefix),
                Some(public_id),
                Some(last4),
                Some(issued_at),
                Some(expires_at),
                Some(digest),
                Some(version),
            ) => Some((
                PreviousToken {
                    token: TokenFacts {
                        prefix,
                        public_id,
                        last4,
                        issued_at: issued_at.0,
                    },
                    expires_at: expires_at.0,
                    last_used_at: self.previous_token_last_used_at.map(|t| t.0),
                },
                TokenMac {
                    key_version: read_key_version(version, &self.id)?,
                    digest,
                },
            )),
            _ => {
                return Err(corrupt(format!(
                    "service account {} has a partly written previous token",
                    self.id
                )));
            }
        };
        let (previous_token, previous_mac) = previous.unzip();
        let revoked_reason = self
            .revoked_reason
            .map(|reason| {
                RevocationReason::parse(&reason).ok_or_else(|| {
                    corrupt(format!(
                        "service account {} has an unknown revoked_reason {reason:?}",
                        self.id
                    ))
                })
            })
            .transpose()?;
        Ok(StoredServiceAccount {
            service_account: ServiceAccount {
                id: self.id,
                account_id: self.account_id,
                name: self.name,
                created_at: self.created_at.0,
                updated_at: self.updated_at.0,
                created_by_user_id: self.created_by_user_id,
                expires_at: self.expires_at.map(|t| t.0),
                last_used_at: self.last_used_at.map(|t| t.0),
                revoked_at: self.revoked_at.map(|t| t.0),
                revoked_by_user_id: self.revoked_by_user_id,
                revoked_reason,
                token: TokenFacts {
                    prefix: self.token_prefix,
                    public_id: self.token_public_id,
                    last4: self.token_last4,
                    issued_at: self.token_issued_at.0,
                },
                previous_token,
                static_token_disabled_at: self.static_token_disabled_at.map(|t| t.0),
            },
            mac: TokenMac {
                key_version,
                digest: self.token_mac,
            },
            previous_mac,
            federated: None,
        })
    }

    pub fn into_service_account(self) -> Result<ServiceAccount, StoreError> {
        self.into_stored().map(|stored| stored.service_account)
    }
}

/// The public ids of a service account's tokens.
pub struct PublicIdRow {
    pub token_public_id: String,
    pub previous_token_public_id: Option<String>,
}

impl FromColumns for PublicIdRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            token_public_id: columns.get("token_public_id")?,
            previous_token_public_id: columns.get("previous_token_public_id")?,
        })
    }
}
