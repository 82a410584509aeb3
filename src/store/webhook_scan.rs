//! What the webhook expiry scan reads: the enabled subscriptions, and the
//! tokens of an account (current ones, and previous ones in their grace
//! period) that end within a window. What it queues goes through the
//! outbox ([`super::webhook_events`]), once per key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::Timestamp;
use super::error::StoreError;
use super::sql_store::{SqlStore, decode, fetch_all, query};
use super::webhooks::{ENABLED, StoredWebhook, decode_webhooks};

/// A token whose end an expiry scan looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndingToken {
    pub service_account_id: Uuid,
    pub token_public_id: String,
    pub expires_at: DateTime<Utc>,
    /// The previous token of a rotation (its grace period's end).
    pub previous: bool,
}

#[async_trait]
pub trait WebhookScanSource: Send + Sync + 'static {
    /// Every enabled subscription, for the expiry scan.
    async fn enabled_webhooks(&self) -> Result<Vec<StoredWebhook>, StoreError>;

    /// Live tokens of `account_id`'s service accounts (and previous tokens in
    /// their grace period) that end between `from` and `until`.
    async fn tokens_ending(
        &self,
        account_id: Uuid,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<EndingToken>, StoreError>;
}

const ENDING: &str = "SELECT id AS service_account_id, token_public_id, expires_at \
    FROM service_accounts WHERE account_id = $1 AND revoked_at IS NULL \
    AND expires_at IS NOT NULL AND expires_at >= $2 AND expires_at <= $3";
const PREVIOUS_ENDING: &str = "SELECT id AS service_account_id, \
    previous_token_public_id AS token_public_id, previous_token_expires_at AS expires_at \
    FROM service_accounts WHERE account_id = $1 AND revoked_at IS NULL \
    AND previous_token_public_id IS NOT NULL \
    AND previous_token_expires_at >= $2 AND previous_token_expires_at <= $3";

struct EndingRow {
    service_account_id: Uuid,
    token_public_id: String,
    expires_at: Timestamp,
}

impl FromColumns for EndingRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            service_account_id: columns.get("service_account_id")?,
            token_public_id: columns.get("token_public_id")?,
            expires_at: columns.get("expires_at")?,
        })
    }
}

#[async_trait]
impl<D: Backend> WebhookScanSource for SqlStore<D> {
    async fn enabled_webhooks(&self) -> Result<Vec<StoredWebhook>, StoreError> {
        self.reading(async |connection| {
            decode_webhooks::<D>(&fetch_all(connection, query::<D>(ENABLED)).await?)
        })
        .await
    }

    async fn tokens_ending(
        &self,
        account_id: Uuid,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<EndingToken>, StoreError> {
        self.reading(async |connection| {
            let mut ending = Vec::new();
            for (sql, previous) in [(ENDING, false), (PREVIOUS_ENDING, true)] {
                let select = query::<D>(sql)
                    .arg(account_id)
                    .arg(Timestamp(from))
                    .arg(Timestamp(until));
                for row in fetch_all(connection, select).await? {
                    let row = decode::<D, EndingRow>(&row)?;
                    ending.push(EndingToken {
                        service_account_id: row.service_account_id,
                        token_public_id: row.token_public_id,
                        expires_at: row.expires_at.0,
                        previous,
                    });
                }
            }
            Ok(ending)
        })
        .await
    }
}
