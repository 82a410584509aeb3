//! The delivery log of a subscription: every attempt (status, duration, the
//! first kilobyte of the answer), newest first, filtered and paged by id.
//! Kept 30 days (the delivery workers purge older ones).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::keyset;
use super::sql_store::{SqlStore, decode, fetch_all, query};
use super::webhook_events::Attempt;

/// Which attempts a page holds: newest first, older than `before` if given.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Only succeeded (`true`) or failed (`false`) attempts.
    pub succeeded: Option<bool>,
    pub event_type: Option<String>,
    /// Only attempts at or after this time.
    pub since: Option<DateTime<Utc>>,
    pub before: Option<Uuid>,
    pub limit: u32,
}

#[async_trait]
pub trait WebhookDeliveryLog: Send + Sync + 'static {
    /// A page of subscription `webhook_id`'s attempts; a `before` that names
    /// none of them is [`StoreError::CursorNotFound`].
    async fn webhook_deliveries(
        &self,
        webhook_id: Uuid,
        filter: &DeliveryFilter,
    ) -> Result<Vec<Attempt>, StoreError>;
}

const SELECT_CURSOR: &str = "SELECT seq FROM webhook_deliveries WHERE id = $1 AND webhook_id = $2";

const PAGE: &str = "SELECT id, webhook_id, message_id, event_type, attempt, \
    attempted_at, outcome, response_status, duration_ms, response_body, error \
    FROM webhook_deliveries WHERE webhook_id = $1 AND seq < $2 \
    AND ($3 IS NULL OR outcome = $3) AND ($4 IS NULL OR event_type = $4) \
    AND attempted_at >= $5 ORDER BY seq DESC LIMIT $6";

/// The `webhook_deliveries` table.
struct AttemptRow {
    id: Uuid,
    webhook_id: Uuid,
    message_id: String,
    event_type: String,
    attempt: i32,
    attempted_at: Timestamp,
    outcome: String,
    response_status: Option<i32>,
    duration_ms: i32,
    response_body: Option<String>,
    error: Option<String>,
}

impl FromColumns for AttemptRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            webhook_id: columns.get("webhook_id")?,
            message_id: columns.get("message_id")?,
            event_type: columns.get("event_type")?,
            attempt: columns.get("attempt")?,
            attempted_at: columns.get("attempted_at")?,
            outcome: columns.get("outcome")?,
            response_status: columns.get("response_status")?,
            duration_ms: columns.get("duration_ms")?,
            response_body: columns.get("response_body")?,
            error: columns.get("error")?,
        })
    }
}

impl AttemptRow {
    fn into_attempt(self) -> Result<Attempt, StoreError> {
        let id = self.id;
        let invalid = |what: &str| corrupt(format!("webhook delivery {id}: invalid {what}"));
        Ok(Attempt {
            id,
            webhook_id: self.webhook_id,
            message_id: self.message_id,
            event_type: self.event_type,
            attempt: u32::try_from(self.attempt).map_err(|_| invalid("attempt"))?,
            attempted_at: self.attempted_at.0,
            succeeded: match self.outcome.as_str() {
                "succeeded" => true,
                "failed" => false,
                _ => return Err(invalid("outcome")),
            },
            response_status: self
                .response_status
                .map(u16::try_from)
                .transpose()
                .map_err(|_| invalid("response_status"))?,
            duration_ms: u32::try_from(self.duration_ms).map_err(|_| invalid("duration_ms"))?,
            response_body: self.response_body,
            error: self.error,
        })
    }
}

#[async_trait]
impl<D: Backend> WebhookDeliveryLog for SqlStore<D> {
    async fn webhook_deliveries(
        &self,
        webhook_id: Uuid,
        filter: &DeliveryFilter,
    ) -> Result<Vec<Attempt>, StoreError> {
        self.reading(async |connection| {
            let before =
                keyset::before_seq::<D>(connection, SELECT_CURSOR, webhook_id, filter.before)
                    .await?;
            let outcome = filter
                .succeeded
                .map(|ok| if ok { "succeeded" } else { "failed" }.to_owned());
            let page = query::<D>(PAGE)
                .arg(webhook_id)
                .arg(before)
                .arg(outcome)
                .arg(filter.event_type.clone())
                .arg(Timestamp(
                    filter.since.unwrap_or(Timestamp::before_everything().0),
                ))
                .arg(i64::from(filter.limit));
            fetch_all(connection, page)
                .await?
                .iter()
                .map(|row| decode::<D, AttemptRow>(row)?.into_attempt())
                .collect()
        })
        .await
    }
}
