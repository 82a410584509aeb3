//! One description of each table's rows, shared by every database: the row
//! structs are what the SQL reads (`FromRow`) and what it writes (the `bind_*`
//! methods bind their columns in the order the statements in [`super::sql`]
//! name them), and each has one conversion into and out of the domain types.
//! A database only decides how a [`Timestamp`] is encoded (see its module).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::backend::{Arg, Backend, SqlQuery};
use super::{
    Claimed, Grant, IdempotencyClaim, IdempotencyKeyMac, IdempotentCompletion, SealedResponse,
    StoreError, StoredIntrospectionClient, StoredServiceAccount,
};
use crate::domain::{
    Account, Actor, AuditAction, AuditDetail, AuditEvent, CapabilityKey, IntrospectionClient,
    PreviousToken, RevocationReason, ServiceAccount,
};
use crate::domain::{Subject, TokenFacts};
use crate::token::keyring::TokenMac;

/// A point in time as the stores keep it: UTC, microsecond precision. SQLite
/// stores it as microseconds since the Unix epoch (an `INTEGER`, so it sorts
/// and compares as a number), PostgreSQL as a `timestamptz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// Earlier than any time this service writes, and within the range both
    /// databases accept: where a listing starts when it has no cursor.
    pub fn before_everything() -> Self {
        Self(DateTime::from_timestamp(-62_135_596_800, 0).expect("0001-01-01T00:00:00Z"))
    }
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self(at)
    }
}

/// A row that names something impossible: a bug or a corrupt database.
#[derive(Debug, thiserror::Error)]
#[error("invalid stored data: {0}")]
pub struct CorruptRow(pub String);

fn corrupt(message: String) -> StoreError {
    StoreError::Internal(Box::new(CorruptRow(message)))
}

/// Key versions are kept as a 32-bit signed integer by every store.
pub fn stored_key_version(version: u32) -> Result<i32, StoreError> {
    i32::try_from(version)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| {
            corrupt(format!(
                "token key version {version} is outside 1 to {}",
                i32::MAX
            ))
        })
}

/// A stored key version, which must be positive.
fn read_key_version(stored: i32, of: &dyn std::fmt::Display) -> Result<u32, StoreError> {
    u32::try_from(stored)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| corrupt(format!("{of} has key version {stored}")))
}

#[derive(Debug, sqlx::FromRow)]
pub struct AccountRow {
    pub id: Uuid,
    pub name: String,
    pub created_at: Timestamp,
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Account {
            id: row.id,
            name: row.name,
            created_at: row.created_at.0,
        }
    }
}

/// Binds `accounts` columns in the order of `INSERT_ACCOUNT`.
pub fn bind_account<D: Backend>(query: SqlQuery<D>, account: &Account) -> SqlQuery<D> {
    query
        .arg(account.id)
        .arg(account.name.as_str())
        .arg(Timestamp(account.created_at))
}

/// The `service_accounts` table: a service account and the MAC of its token.
#[derive(Debug, sqlx::FromRow)]
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
        })
    }

    /// Binds the columns of a new service account, in the order of
    /// `INSERT_SERVICE_ACCOUNT` (the previous token's are null).
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
            },
            mac: TokenMac {
                key_version,
                digest: self.token_mac,
            },
            previous_mac,
        })
    }

    pub fn into_service_account(self) -> Result<ServiceAccount, StoreError> {
        self.into_stored().map(|stored| stored.service_account)
    }
}

/// One capability a subject holds on an account.
#[derive(Debug, sqlx::FromRow)]
pub struct CapabilityRow {
    pub capability: String,
}

impl CapabilityRow {
    pub fn into_key(self) -> Result<CapabilityKey, StoreError> {
        CapabilityKey::parse(&self.capability).map_err(|e| corrupt(e.to_string()))
    }
}

/// The `grants` table.
#[derive(Debug, sqlx::FromRow)]
pub struct GrantRow {
    pub account_id: Uuid,
    pub subject_kind: String,
    pub subject_id: Uuid,
    pub capability: String,
    pub created_at: Timestamp,
}

impl GrantRow {
    pub fn into_grant(self) -> Result<Grant, StoreError> {
        Ok(Grant {
            account_id: self.account_id,
            subject: Subject::from_parts(&self.subject_kind, self.subject_id)
                .ok_or_else(|| corrupt(format!("unknown subject kind {:?}", self.subject_kind)))?,
            capability: CapabilityKey::parse(&self.capability)
                .map_err(|e| corrupt(e.to_string()))?,
            created_at: self.created_at.0,
        })
    }
}

/// Binds `grants` columns in the order of `INSERT_GRANT`.
pub fn bind_grant<D: Backend>(query: SqlQuery<D>, grant: &Grant) -> SqlQuery<D> {
    query
        .arg(grant.account_id)
        .arg(grant.subject.kind())
        .arg(grant.subject.id())
        .arg(grant.capability.as_str())
        .arg(Timestamp(grant.created_at))
}

/// Binds a subject's kind and id (two parameters).
pub fn bind_subject<D: Backend>(query: SqlQuery<D>, subject: Subject) -> SqlQuery<D> {
    query.arg(subject.kind()).arg(subject.id())
}

/// The public ids of a service account's tokens.
#[derive(Debug, sqlx::FromRow)]
pub struct PublicIdRow {
    pub token_public_id: String,
    pub previous_token_public_id: Option<String>,
}

/// A count.
#[derive(Debug, sqlx::FromRow)]
pub struct CountRow {
    pub count: i64,
}

/// Where a page starts: the `created_at` of the service account named by the cursor.
#[derive(Debug, sqlx::FromRow)]
pub struct CursorRow {
    pub created_at: Timestamp,
}

/// The `introspection_clients` table.
#[derive(Debug, sqlx::FromRow)]
pub struct IntrospectionClientRow {
    pub client_id: String,
    pub name: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub secret_mac: Vec<u8>,
    pub secret_key_version: i32,
}

impl IntrospectionClientRow {
    pub fn from_stored(stored: &StoredIntrospectionClient) -> Result<Self, StoreError> {
        let client = &stored.client;
        Ok(Self {
            client_id: client.client_id.clone(),
            name: client.name.clone(),
            created_at: client.created_at.into(),
            revoked_at: client.revoked_at.map(Timestamp),
            secret_mac: stored.secret.digest.clone(),
            secret_key_version: stored_key_version(stored.secret.key_version)?,
        })
    }

    /// Binds every column, in the order of `INSERT_INTROSPECTION_CLIENT`.
    pub fn bind<D: Backend>(self, query: SqlQuery<D>) -> SqlQuery<D> {
        query
            .arg(self.client_id.as_str())
            .arg(self.name.as_str())
            .arg(self.created_at)
            .arg(self.revoked_at)
            .arg(self.secret_mac.as_slice())
            .arg(self.secret_key_version)
    }

    pub fn into_stored(self) -> Result<StoredIntrospectionClient, StoreError> {
        Ok(StoredIntrospectionClient {
            secret: TokenMac {
                key_version: read_key_version(self.secret_key_version, &self.client_id)?,
                digest: self.secret_mac,
            },
            client: IntrospectionClient {
                client_id: self.client_id,
                name: self.name,
                created_at: self.created_at.0,
                revoked_at: self.revoked_at.map(|t| t.0),
            },
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub struct AuditEventRow {
    pub occurred_at: Timestamp,
    pub account_id: Uuid,
    pub service_account_id: Option<Uuid>,
    pub action: String,
    pub actor_type: String,
    pub actor_id: Option<Uuid>,
    pub request_id: Option<String>,
    /// [`AuditDetail`] as JSON.
    pub detail: Option<String>,
}

impl AuditEventRow {
    pub fn into_event(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            occurred_at: self.occurred_at.0,
            account_id: self.account_id,
            service_account_id: self.service_account_id,
            action: AuditAction::parse(&self.action)
                .ok_or_else(|| corrupt(format!("unknown audit action {:?}", self.action)))?,
            actor: Actor::from_parts(&self.actor_type, self.actor_id)
                .ok_or_else(|| corrupt(format!("invalid audit actor {:?}", self.actor_type)))?,
            request_id: self.request_id,
            detail: self.detail.as_deref().map(detail_from_json).transpose()?,
        })
    }
}

/// Binds `audit_events` columns in the order of `INSERT_AUDIT_EVENT`.
pub fn bind_audit_event<D: Backend>(query: SqlQuery<D>, event: &AuditEvent) -> SqlQuery<D> {
    query
        .arg(Timestamp(event.occurred_at))
        .arg(event.account_id)
        .arg(event.service_account_id)
        .arg(event.action.as_str())
        .arg(event.actor.kind())
        .arg(event.actor.id())
        .arg(event.request_id.clone())
        .arg(event.detail.as_ref().map(detail_to_json))
}

fn detail_to_json(detail: &AuditDetail) -> String {
    match detail {
        AuditDetail::Grant {
            subject,
            capability,
        } => serde_json::json!({
            "kind": "grant",
            "subject_type": subject.kind(),
            "subject_id": subject.id(),
            "capability": capability.as_str(),
        }),
        AuditDetail::Grace {
            previous_token_public_id,
            until,
        } => serde_json::json!({
            "kind": "grace",
            "previous_token_public_id": previous_token_public_id,
            "until": until,
        }),
        AuditDetail::Retired {
            previous_token_public_id,
        } => serde_json::json!({
            "kind": "retired",
            "previous_token_public_id": previous_token_public_id,
        }),
        AuditDetail::Leak {
            reporter,
            token_public_id,
            source,
            url,
            revoked,
        } => serde_json::json!({
            "kind": "leak",
            "reporter": reporter,
            "token_public_id": token_public_id,
            "source": source,
            "url": url,
            "revoked": revoked,
        }),
    }
    .to_string()
}

fn detail_from_json(text: &str) -> Result<AuditDetail, StoreError> {
    let invalid = || corrupt(format!("invalid audit detail {text:?}"));
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid())?;
    match value["kind"].as_str() {
        Some("grant") => {
            let subject_id = value["subject_id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .ok_or_else(invalid)?;
            Ok(AuditDetail::Grant {
                subject: value["subject_type"]
                    .as_str()
                    .and_then(|kind| Subject::from_parts(kind, subject_id))
                    .ok_or_else(invalid)?,
                capability: value["capability"]
                    .as_str()
                    .and_then(|key| CapabilityKey::parse(key).ok())
                    .ok_or_else(invalid)?,
            })
        }
        Some("grace") => Ok(AuditDetail::Grace {
            previous_token_public_id: value["previous_token_public_id"]
                .as_str()
                .ok_or_else(invalid)?
                .to_owned(),
            until: value["until"]
                .as_str()
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                .ok_or_else(invalid)?
                .with_timezone(&Utc),
        }),
        Some("retired") => Ok(AuditDetail::Retired {
            previous_token_public_id: value["previous_token_public_id"]
                .as_str()
                .ok_or_else(invalid)?
                .to_owned(),
        }),
        Some("leak") => {
            let text = |key: &str| value[key].as_str().map(str::to_owned);
            Ok(AuditDetail::Leak {
                reporter: text("reporter").ok_or_else(invalid)?,
                token_public_id: text("token_public_id").ok_or_else(invalid)?,
                source: text("source"),
                url: text("url"),
                revoked: value["revoked"].as_bool().ok_or_else(invalid)?,
            })
        }
        _ => Err(invalid()),
    }
}

/// The `idempotency_records` table.
#[derive(Debug, sqlx::FromRow)]
pub struct IdempotencyRow {
    pub key_mac: Vec<u8>,
    pub key_version: i32,
    pub request_mac: Vec<u8>,
    pub operation: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub lease: Option<Uuid>,
    pub lease_expires_at: Option<Timestamp>,
    pub status: Option<i32>,
    pub response: Option<Vec<u8>>,
}

impl IdempotencyRow {
    /// What a claim finds in this record at `at`, given the request MAC the
    /// claim computed under the record's key version.
    pub fn claimed(self, request_mac: &[u8], at: DateTime<Utc>) -> Result<Claimed, StoreError> {
        use subtle::ConstantTimeEq;
        if !bool::from(self.request_mac.ct_eq(request_mac)) {
            return Ok(Claimed::Reused);
        }
        match (self.status, self.response) {
            (Some(status), Some(sealed)) => Ok(Claimed::Done {
                key_version: read_key_version(self.key_version, &"an idempotency record")?,
                response: SealedResponse {
                    status: u16::try_from(status)
                        .map_err(|_| corrupt(format!("idempotency record status {status}")))?,
                    sealed,
                },
            }),
            (None, None) => Ok(match self.lease_expires_at {
                Some(until) if until.0 > at => Claimed::InUse,
                // The attempt died without committing: run again.
                _ => Claimed::Run,
            }),
            _ => Err(corrupt(
                "an idempotency record has a status without a response".to_owned(),
            )),
        }
    }
}

/// Binds `idempotency_records` columns in the order of
/// `INSERT_IDEMPOTENCY_RECORD`, for the claim's current key version.
pub fn bind_idempotency_claim<D: Backend>(
    query: SqlQuery<D>,
    claim: &IdempotencyClaim,
    key: &IdempotencyKeyMac,
) -> Result<SqlQuery<D>, StoreError> {
    Ok(query
        .arg(key.key_mac.as_slice())
        .arg(stored_key_version(key.key_version)?)
        .arg(key.request_mac.as_slice())
        .arg(claim.operation)
        .arg(Timestamp(claim.at))
        .arg(Timestamp(claim.expires_at))
        .arg(claim.lease)
        .arg(Timestamp(claim.lease_expires_at)))
}

/// Binds a completion in the order of `COMPLETE_IDEMPOTENCY_RECORD`.
pub fn bind_idempotency_completion<D: Backend>(
    query: SqlQuery<D>,
    completion: &IdempotentCompletion,
) -> SqlQuery<D> {
    query
        .arg(completion.key_mac.as_slice())
        .arg(completion.lease)
        .arg(i32::from(completion.response.status))
        .arg(completion.response.sealed.as_slice())
}
