//! Where a keyset page starts: the position, in the page's order, of the
//! record a client's cursor names (the last record of its previous page),
//! read within the account, or [`StoreError::CursorNotFound`] when the
//! account has no such record. Each page query then walks its index from
//! that position, so a page costs the same however large the account is.

use uuid::Uuid;

use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::Timestamp;
use super::error::StoreError;
use super::sql_store::{decode, fetch_optional, query};

/// The position of `after` in a listing ordered by `(created_at, id)`,
/// oldest first; the start without a cursor. `select` reads `created_at`
/// of record `$1` in account `$2`.
pub(super) async fn after_created<D: Backend>(
    connection: &mut D::Connection,
    select: &'static str,
    account_id: Uuid,
    after: Option<Uuid>,
) -> Result<(Timestamp, Uuid), StoreError> {
    match after {
        None => Ok((Timestamp::before_everything(), Uuid::nil())),
        Some(after) => {
            let row: CreatedAt = position::<D, _>(connection, select, account_id, after).await?;
            Ok((row.created_at, after))
        }
    }
}

/// The position of `before` in a listing ordered by `seq`, newest first;
/// past the newest without a cursor. `select` reads `seq` of record `$1` in
/// account `$2`.
pub(super) async fn before_seq<D: Backend>(
    connection: &mut D::Connection,
    select: &'static str,
    account_id: Uuid,
    before: Option<Uuid>,
) -> Result<i64, StoreError> {
    match before {
        None => Ok(i64::MAX),
        Some(before) => {
            let row: Seq = position::<D, _>(connection, select, account_id, before).await?;
            Ok(row.seq)
        }
    }
}

async fn position<D: Backend, R: FromColumns>(
    connection: &mut D::Connection,
    select: &'static str,
    account_id: Uuid,
    id: Uuid,
) -> Result<R, StoreError> {
    let row = fetch_optional(connection, query::<D>(select).arg(id).arg(account_id))
        .await?
        .ok_or(StoreError::CursorNotFound)?;
    decode::<D, R>(&row)
}

struct CreatedAt {
    created_at: Timestamp,
}

impl FromColumns for CreatedAt {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            created_at: columns.get("created_at")?,
        })
    }
}

struct Seq {
    seq: i64,
}

impl FromColumns for Seq {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            seq: columns.get("seq")?,
        })
    }
}
