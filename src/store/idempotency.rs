//! Idempotency records: what a request with an `Idempotency-Key` claimed
//! before it ran, and the sealed response it completed with (see
//! `crate::service::idempotency` for what the MACs and the seal are). A
//! completion is written in the same transaction as the operation's change,
//! so the two commit or fail together.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt, read_key_version, stored_key_version};
use super::error::StoreError;
use super::sql_store::{SqlStore, decode, execute, fetch_all, fetch_optional, query};
use crate::domain::ServiceAccount;

/// What an idempotent request claims before it runs: its record, under the
/// MAC of its idempotency key (the key itself is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// The key's MAC under each known server key version, current first:
    /// a record made under an older key is still found.
    pub keys: Vec<IdempotencyKeyMac>,
    /// The operation, for operators reading the table.
    pub operation: String,
    pub at: DateTime<Utc>,
    /// When the record may be deleted (a repeat after that runs anew).
    pub expires_at: DateTime<Utc>,
    /// Identifies this attempt: only its holder may complete the record.
    pub lease: Uuid,
    /// After this, an attempt that never completed is taken to have died
    /// (its operation did not commit) and another may run.
    pub lease_expires_at: DateTime<Utc>,
}

/// An idempotency key's MAC under one server key version, and the MAC of
/// the request made with it under the same version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKeyMac {
    pub key_version: u32,
    pub key_mac: Vec<u8>,
    pub request_mac: Vec<u8>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// Nothing recorded (or only an attempt that died): this attempt runs,
    /// under the current key version (the first of the claim's keys).
    Run,
    /// Answered already: the recorded response, sealed, and the key version
    /// it was recorded under.
    Done {
        key_version: u32,
        response: SealedResponse,
    },
    /// Another attempt with this key is running.
    InUse,
    /// The key was used with a different request.
    Reused,
}

/// A recorded response: its status and its sealed content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedResponse {
    pub status: u16,
    pub sealed: Vec<u8>,
}

/// Completes an idempotency record: written in the same transaction as the
/// operation's change, so the two commit or fail together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentCompletion {
    pub key_mac: Vec<u8>,
    pub lease: Uuid,
    pub response: SealedResponse,
}

/// Builds the completion of an idempotent operation from the service account
/// it committed (called inside the transaction).
pub type Complete<'a> = &'a (dyn Fn(&ServiceAccount) -> IdempotentCompletion + Send + Sync);

#[async_trait]
pub trait IdempotencyStore: Send + Sync + 'static {
    /// Looks for the idempotency record of `claim`'s key and, if there is
    /// none to answer with, records this attempt as running.
    async fn claim_idempotency_key(&self, claim: &IdempotencyClaim) -> Result<Claimed, StoreError>;

    /// Completes an idempotency record on its own (for a refusal, which
    /// changed nothing). `false` if the lease was lost.
    async fn complete_idempotency_key(
        &self,
        completion: &IdempotentCompletion,
    ) -> Result<bool, StoreError>;

    /// Drops a running attempt's record (it failed in a way not to be
    /// replayed), so that a retry runs anew.
    async fn release_idempotency_key(&self, key_mac: &[u8], lease: Uuid) -> Result<(), StoreError>;

    /// Deletes the idempotency records that expired before `now`; returns
    /// how many.
    async fn delete_expired_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

const SELECT: &str = "SELECT key_mac, key_version, request_mac, operation, created_at, \
    expires_at, lease, lease_expires_at, status, response \
    FROM idempotency_records WHERE key_mac = $1";

const DELETE: &str = "DELETE FROM idempotency_records WHERE key_mac = $1";

/// Records a running attempt, unless another attempt recorded one first
/// (then no row: on PostgreSQL two claims can race here).
const INSERT: &str = "INSERT INTO idempotency_records \
    (key_mac, key_version, request_mac, operation, created_at, expires_at, lease, \
    lease_expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
    ON CONFLICT (key_mac) DO NOTHING RETURNING key_mac";

/// A new attempt takes over a record whose attempt died (its lease ran out
/// before `$4`, the claim's time); no row if another took it over first.
const TAKE_OVER: &str = "UPDATE idempotency_records \
    SET lease = $2, lease_expires_at = $3 WHERE key_mac = $1 AND status IS NULL \
      AND (lease_expires_at IS NULL OR lease_expires_at <= $4) \
    RETURNING key_mac";

/// Completes a record, if the attempt still holds its lease; returns a row
/// only then.
const COMPLETE: &str = "UPDATE idempotency_records \
    SET status = $3, response = $4, lease = NULL, lease_expires_at = NULL \
    WHERE key_mac = $1 AND lease = $2 AND status IS NULL RETURNING key_mac";

/// Drops a running attempt's record.
const RELEASE: &str = "DELETE FROM idempotency_records \
    WHERE key_mac = $1 AND lease = $2 AND status IS NULL";

/// How many expired records one transaction deletes at most (SQLite's write
/// lock is held briefly).
const DELETE_BATCH: u64 = 1000;

/// Deletes up to [`DELETE_BATCH`] expired records; one row per record deleted.
const DELETE_EXPIRED: &str = "DELETE FROM idempotency_records \
    WHERE key_mac IN (SELECT key_mac FROM idempotency_records WHERE expires_at <= $1 LIMIT 1000) \
    RETURNING key_mac";

/// The `idempotency_records` table (what a claim reads of it).
struct IdempotencyRow {
    key_version: i32,
    request_mac: Vec<u8>,
    expires_at: Timestamp,
    lease_expires_at: Option<Timestamp>,
    status: Option<i32>,
    response: Option<Vec<u8>>,
}

impl FromColumns for IdempotencyRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            key_version: columns.get("key_version")?,
            request_mac: columns.get("request_mac")?,
            expires_at: columns.get("expires_at")?,
            lease_expires_at: columns.get("lease_expires_at")?,
            status: columns.get("status")?,
            response: columns.get("response")?,
        })
    }
}

impl IdempotencyRow {
    /// What a claim finds in this record at `at`, given the request MAC the
    /// claim computed under the record's key version.
    fn claimed(self, request_mac: &[u8], at: DateTime<Utc>) -> Result<Claimed, StoreError> {
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

/// Completes an idempotency record in the operation's transaction on
/// `connection`; an attempt that lost its lease must not commit its change.
pub(super) async fn complete<D: Backend>(
    connection: &mut D::Connection,
    completion: &IdempotentCompletion,
) -> Result<(), StoreError> {
    let update = query::<D>(COMPLETE)
        .arg(completion.key_mac.as_slice())
        .arg(completion.lease)
        .arg(i32::from(completion.response.status))
        .arg(completion.response.sealed.as_slice());
    match fetch_optional(connection, update).await? {
        Some(_) => Ok(()),
        None => Err(StoreError::IdempotencyLeaseLost),
    }
}

async fn delete<D: Backend>(
    connection: &mut D::Connection,
    key_mac: &[u8],
) -> Result<(), StoreError> {
    execute(connection, query::<D>(DELETE).arg(key_mac)).await
}

#[async_trait]
impl<D: Backend> IdempotencyStore for SqlStore<D> {
    async fn claim_idempotency_key(&self, claim: &IdempotencyClaim) -> Result<Claimed, StoreError> {
        let current = claim
            .keys
            .first()
            .ok_or_else(|| StoreError::Internal("an idempotency claim without a key".into()))?;
        let current_version = stored_key_version(current.key_version)?;
        self.write(async |tx| {
            for key in &claim.keys {
                let select = query::<D>(SELECT).arg(key.key_mac.as_slice());
                let Some(row) = fetch_optional(tx, select).await? else {
                    continue;
                };
                let record = decode::<D, IdempotencyRow>(&row)?;
                if record.expires_at.0 <= claim.at {
                    delete::<D>(tx, &key.key_mac).await?;
                    continue;
                }
                let claimed = record.claimed(&key.request_mac, claim.at)?;
                if claimed != Claimed::Run {
                    return Ok(claimed);
                }
                if key == current {
                    let take_over = query::<D>(TAKE_OVER)
                        .arg(key.key_mac.as_slice())
                        .arg(claim.lease)
                        .arg(Timestamp(claim.lease_expires_at))
                        .arg(Timestamp(claim.at));
                    return Ok(match fetch_optional(tx, take_over).await? {
                        Some(_) => Claimed::Run,
                        // Another attempt took it over just now.
                        None => Claimed::InUse,
                    });
                }
                // A dead attempt under an older server key: start over under
                // the current one (the completion names its MAC).
                delete::<D>(tx, &key.key_mac).await?;
                break;
            }
            let insert = query::<D>(INSERT)
                .arg(current.key_mac.as_slice())
                .arg(current_version)
                .arg(current.request_mac.as_slice())
                .arg(claim.operation.as_str())
                .arg(Timestamp(claim.at))
                .arg(Timestamp(claim.expires_at))
                .arg(claim.lease)
                .arg(Timestamp(claim.lease_expires_at));
            Ok(match fetch_optional(tx, insert).await? {
                Some(_) => Claimed::Run,
                // Another attempt with this key claimed it at the same time.
                None => Claimed::InUse,
            })
        })
        .await
    }

    async fn complete_idempotency_key(
        &self,
        completion: &IdempotentCompletion,
    ) -> Result<bool, StoreError> {
        self.write(async |tx| match complete::<D>(tx, completion).await {
            Ok(()) => Ok(true),
            Err(StoreError::IdempotencyLeaseLost) => Ok(false),
            Err(other) => Err(other),
        })
        .await
    }

    async fn release_idempotency_key(&self, key_mac: &[u8], lease: Uuid) -> Result<(), StoreError> {
        self.write(async |tx| execute(tx, query::<D>(RELEASE).arg(key_mac).arg(lease)).await)
            .await
    }

    async fn delete_expired_idempotency_keys(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut deleted = 0;
        loop {
            let batch = self
                .write(async |tx| {
                    let delete = query::<D>(DELETE_EXPIRED).arg(Timestamp(now));
                    Ok(fetch_all(tx, delete).await?.len() as u64)
                })
                .await?;
            deleted += batch;
            if batch < DELETE_BATCH {
                return Ok(deleted);
            }
        }
    }
}
