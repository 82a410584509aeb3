//! Webhook subscriptions of accounts: created, read, deleted (with their
//! queued events), given a new signing secret (the previous one kept for
//! its overlap), enabled and disabled. Secrets arrive sealed and leave
//! sealed: the store never sees one in clear. Every change is audited in
//! its transaction, and a subscription disabled for failing tells the
//! account's other subscriptions (`webhook.disabled`) in the same one.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit_events;
use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt, read_key_version, stored_key_version};
use super::error::StoreError;
use super::idempotency::{self, IdempotentCompletion};
use super::sql_store::{SqlStore, decode, execute, fetch_all, fetch_optional, query};
use crate::domain::{AuditEvent, DisabledReason, EventTypeFilter, ExpiryWarning, Webhook};

/// A signing secret as the store keeps it: sealed under a key derived from
/// token key `key_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub key_version: u32,
    pub sealed: Vec<u8>,
}

/// A subscription with its sealed secrets: the current one, and the
/// previous one until it stops signing.
#[derive(Debug, Clone)]
pub struct StoredWebhook {
    pub webhook: Webhook,
    pub secret: SealedSecret,
    pub previous_secret: Option<(SealedSecret, DateTime<Utc>)>,
}

#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// Adds `webhook` and records `event` (and `complete`s the request's
    /// idempotency record) in one transaction.
    async fn create_webhook(
        &self,
        webhook: &Webhook,
        secret: &SealedSecret,
        event: &AuditEvent,
        complete: Option<&IdempotentCompletion>,
    ) -> Result<(), StoreError>;

    /// The account's subscriptions, oldest first.
    async fn webhooks_of(&self, account_id: Uuid) -> Result<Vec<StoredWebhook>, StoreError>;

    async fn get_webhook(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<StoredWebhook>, StoreError>;

    /// Deletes the subscription, its queued events and its delivery log;
    /// `false`: no such subscription.
    async fn delete_webhook(
        &self,
        account_id: Uuid,
        id: Uuid,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Signs with `secret` from now on, and with the current one until
    /// `previous_until`.
    async fn rotate_webhook_secret(
        &self,
        account_id: Uuid,
        id: Uuid,
        secret: &SealedSecret,
        previous_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<StoredWebhook>, StoreError>;

    /// Disables (`Some`) or enables (`None`) the subscription. Disabling
    /// gives up its pending events; a `Failing` or `Gone` one is announced to
    /// the account's other subscriptions.
    async fn set_webhook_disabled(
        &self,
        account_id: Uuid,
        id: Uuid,
        disabled: Option<(DateTime<Utc>, DisabledReason)>,
        event: &AuditEvent,
    ) -> Result<Option<StoredWebhook>, StoreError>;
}

macro_rules! select_webhooks {
    ($where:literal) => {
        concat!(
            "SELECT id, account_id, url, event_types, description, expiry_warnings, \
    secret_sealed, secret_key_version, previous_secret_sealed, previous_secret_key_version, \
    previous_secret_expires_at, disabled_at, disabled_reason, created_at FROM webhooks ",
            $where
        )
    };
}

const INSERT: &str = "INSERT INTO webhooks (id, account_id, url, event_types, description, \
    expiry_warnings, secret_sealed, secret_key_version, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const OF_ACCOUNT: &str = select_webhooks!("WHERE account_id = $1 ORDER BY created_at, id");
const SELECT_ONE: &str = select_webhooks!("WHERE account_id = $1 AND id = $2");
pub(super) const ENABLED: &str =
    select_webhooks!("WHERE disabled_at IS NULL ORDER BY created_at, id");
const DELETE: &str = "DELETE FROM webhooks WHERE id = $1";
const DELETE_EVENTS: &str = "DELETE FROM webhook_events WHERE webhook_id = $1";
const DELETE_DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE webhook_id = $1";
const DELETE_NOTICES: &str = "DELETE FROM webhook_notices WHERE webhook_id = $1";
const ROTATE: &str = "UPDATE webhooks SET previous_secret_sealed = secret_sealed, \
    previous_secret_key_version = secret_key_version, previous_secret_expires_at = $1, \
    secret_sealed = $2, secret_key_version = $3 WHERE id = $4";
const DISABLE: &str = "UPDATE webhooks SET disabled_at = $1, disabled_reason = $2 WHERE id = $3";
const ENABLE: &str = "UPDATE webhooks SET disabled_at = NULL, disabled_reason = NULL WHERE id = $1";
const GIVE_UP_PENDING: &str = "UPDATE webhook_events SET status = 'failed', finished_at = $1, \
    lease_owner = NULL, lease_until = NULL WHERE webhook_id = $2 AND status = 'pending'";

/// The `webhooks` table.
pub(super) struct WebhookRow {
    id: Uuid,
    account_id: Uuid,
    url: String,
    event_types: String,
    description: Option<String>,
    expiry_warnings: String,
    secret_sealed: Vec<u8>,
    secret_key_version: i32,
    previous_secret_sealed: Option<Vec<u8>>,
    previous_secret_key_version: Option<i32>,
    previous_secret_expires_at: Option<Timestamp>,
    disabled_at: Option<Timestamp>,
    disabled_reason: Option<String>,
    created_at: Timestamp,
}

impl FromColumns for WebhookRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            account_id: columns.get("account_id")?,
            url: columns.get("url")?,
            event_types: columns.get("event_types")?,
            description: columns.get("description")?,
            expiry_warnings: columns.get("expiry_warnings")?,
            secret_sealed: columns.get("secret_sealed")?,
            secret_key_version: columns.get("secret_key_version")?,
            previous_secret_sealed: columns.get("previous_secret_sealed")?,
            previous_secret_key_version: columns.get("previous_secret_key_version")?,
            previous_secret_expires_at: columns.get("previous_secret_expires_at")?,
            disabled_at: columns.get("disabled_at")?,
            disabled_reason: columns.get("disabled_reason")?,
            created_at: columns.get("created_at")?,
        })
    }
}

fn filters_text(filters: &[EventTypeFilter]) -> String {
    let texts: Vec<String> = filters.iter().map(EventTypeFilter::to_text).collect();
    texts.join(" ")
}

fn warnings_text(warnings: &[ExpiryWarning]) -> String {
    let texts: Vec<String> = warnings.iter().map(|w| w.seconds().to_string()).collect();
    texts.join(" ")
}

impl WebhookRow {
    pub(super) fn into_stored(self) -> Result<StoredWebhook, StoreError> {
        let id = self.id;
        let invalid = |what: &str| corrupt(format!("webhook {id}: invalid {what}"));
        let event_types = self
            .event_types
            .split_whitespace()
            .map(|text| EventTypeFilter::parse(text).ok())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("event_types"))?;
        let expiry_warnings = self
            .expiry_warnings
            .split_whitespace()
            .map(|text| text.parse().ok().and_then(ExpiryWarning::from_seconds))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid("expiry_warnings"))?;
        let disabled = match (self.disabled_at, self.disabled_reason.as_deref()) {
            (None, _) => None,
            (Some(at), Some(reason)) => Some((
                at.0,
                DisabledReason::parse(reason).ok_or_else(|| invalid("disabled_reason"))?,
            )),
            (Some(_), None) => return Err(invalid("disabled_reason")),
        };
        let previous_secret = match (
            self.previous_secret_sealed,
            self.previous_secret_key_version,
            self.previous_secret_expires_at,
        ) {
            (Some(sealed), Some(version), Some(until)) => Some((
                SealedSecret {
                    key_version: read_key_version(version, &format!("webhook {id}"))?,
                    sealed,
                },
                until.0,
            )),
            _ => None,
        };
        Ok(StoredWebhook {
            webhook: Webhook {
                id,
                account_id: self.account_id,
                url: self.url,
                event_types,
                description: self.description,
                expiry_warnings,
                disabled,
                created_at: self.created_at.0,
            },
            secret: SealedSecret {
                key_version: read_key_version(self.secret_key_version, &format!("webhook {id}"))?,
                sealed: self.secret_sealed,
            },
            previous_secret,
        })
    }
}

pub(super) fn decode_webhooks<D: Backend>(
    rows: &[D::Row],
) -> Result<Vec<StoredWebhook>, StoreError> {
    rows.iter()
        .map(|row| decode::<D, WebhookRow>(row)?.into_stored())
        .collect()
}

async fn select_one<D: Backend>(
    connection: &mut D::Connection,
    account_id: Uuid,
    id: Uuid,
) -> Result<Option<StoredWebhook>, StoreError> {
    let select = query::<D>(SELECT_ONE).arg(account_id).arg(id);
    fetch_optional(connection, select)
        .await?
        .map(|row| decode::<D, WebhookRow>(&row)?.into_stored())
        .transpose()
}

#[async_trait]
impl<D: Backend> WebhookStore for SqlStore<D> {
    async fn create_webhook(
        &self,
        webhook: &Webhook,
        secret: &SealedSecret,
        event: &AuditEvent,
        complete: Option<&IdempotentCompletion>,
    ) -> Result<(), StoreError> {
        self.write(async |tx| {
            let insert = query::<D>(INSERT)
                .arg(webhook.id)
                .arg(webhook.account_id)
                .arg(webhook.url.as_str())
                .arg(filters_text(&webhook.event_types).as_str())
                .arg(webhook.description.clone())
                .arg(warnings_text(&webhook.expiry_warnings).as_str())
                .arg(secret.sealed.as_slice())
                .arg(stored_key_version(secret.key_version)?)
                .arg(Timestamp(webhook.created_at));
            execute(tx, insert).await?;
            audit_events::insert::<D>(tx, event).await?;
            if let Some(completion) = complete {
                idempotency::complete::<D>(tx, completion).await?;
            }
            Ok(())
        })
        .await
    }

    async fn webhooks_of(&self, account_id: Uuid) -> Result<Vec<StoredWebhook>, StoreError> {
        self.reading(async |connection| {
            decode_webhooks::<D>(
                &fetch_all(connection, query::<D>(OF_ACCOUNT).arg(account_id)).await?,
            )
        })
        .await
    }

    async fn get_webhook(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<StoredWebhook>, StoreError> {
        self.reading(async |connection| select_one::<D>(connection, account_id, id).await)
            .await
    }

    async fn delete_webhook(
        &self,
        account_id: Uuid,
        id: Uuid,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.write(async |tx| {
            if select_one::<D>(tx, account_id, id).await?.is_none() {
                return Ok(false);
            }
            for delete in [DELETE_EVENTS, DELETE_DELIVERIES, DELETE_NOTICES, DELETE] {
                execute(tx, query::<D>(delete).arg(id)).await?;
            }
            audit_events::insert::<D>(tx, event).await?;
            Ok(true)
        })
        .await
    }

    async fn rotate_webhook_secret(
        &self,
        account_id: Uuid,
        id: Uuid,
        secret: &SealedSecret,
        previous_until: DateTime<Utc>,
        event: &AuditEvent,
    ) -> Result<Option<StoredWebhook>, StoreError> {
        self.write(async |tx| {
            if select_one::<D>(tx, account_id, id).await?.is_none() {
                return Ok(None);
            }
            let rotate = query::<D>(ROTATE)
                .arg(Timestamp(previous_until))
                .arg(secret.sealed.as_slice())
                .arg(stored_key_version(secret.key_version)?)
                .arg(id);
            execute(tx, rotate).await?;
            audit_events::insert::<D>(tx, event).await?;
            select_one::<D>(tx, account_id, id).await
        })
        .await
    }

    async fn set_webhook_disabled(
        &self,
        account_id: Uuid,
        id: Uuid,
        disabled: Option<(DateTime<Utc>, DisabledReason)>,
        event: &AuditEvent,
    ) -> Result<Option<StoredWebhook>, StoreError> {
        self.write(async |tx| {
            if select_one::<D>(tx, account_id, id).await?.is_none() {
                return Ok(None);
            }
            disable_in::<D>(tx, id, disabled).await?;
            audit_events::insert::<D>(tx, event).await?;
            select_one::<D>(tx, account_id, id).await
        })
        .await
    }
}

/// Disables or enables subscription `id` in the transaction on `tx`.
pub(super) async fn disable_in<D: Backend>(
    tx: &mut D::Connection,
    id: Uuid,
    disabled: Option<(DateTime<Utc>, DisabledReason)>,
) -> Result<(), StoreError> {
    match disabled {
        Some((at, reason)) => {
            let disable = query::<D>(DISABLE)
                .arg(Timestamp(at))
                .arg(reason.as_str())
                .arg(id);
            execute(tx, disable).await?;
            execute(tx, query::<D>(GIVE_UP_PENDING).arg(Timestamp(at)).arg(id)).await
        }
        None => execute(tx, query::<D>(ENABLE).arg(id)).await,
    }
}
