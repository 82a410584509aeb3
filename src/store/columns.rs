//! Column values every table shares, as both databases keep them: points in
//! time ([`Timestamp`]) and key versions, and the error a row that names
//! something impossible becomes. A database only decides how a [`Timestamp`]
//! is encoded (see its module).

use chrono::{DateTime, Utc};

use super::error::StoreError;

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

    /// Later than any time this service writes, and within the range both
    /// databases accept: where a listing back in time starts with no bound.
    pub fn after_everything() -> Self {
        Self(DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z"))
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

/// A [`StoreError`] for a row that names something impossible.
pub fn corrupt(message: String) -> StoreError {
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
pub fn read_key_version(stored: i32, of: &dyn std::fmt::Display) -> Result<u32, StoreError> {
    u32::try_from(stored)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| corrupt(format!("{of} has key version {stored}")))
}
