//! The outbox's delivering side: due events leased to one worker at a time
//! (across instances: a lease that runs out, because its worker died, makes
//! the event due again, so delivery is at least once), the outcome of each
//! attempt (the event's next state and a row of the delivery log, together),
//! subscriptions disabled for failing (announced to the account's others in
//! the same transaction), pings, redeliveries, expiry notices, and what the
//! metrics read.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::audit_events;
use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::sql_store::{SqlStore, decode, execute, fetch_all, fetch_optional, query};
use super::webhook_outbox::enqueue;
use super::webhooks::{StoredWebhook, WebhookRow, decode_webhooks, disable_in};
use crate::domain::{AuditEvent, DisabledReason, LifecycleEvent, Webhook};

/// An event leased to a worker, with where it goes.
#[derive(Debug, Clone)]
pub struct DueEvent {
    /// The `webhook-id`: with the subscription, what names the event's row.
    pub message_id: String,
    pub webhook: StoredWebhook,
    pub event_type: String,
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    Delivered,
    RetryAt(DateTime<Utc>),
    /// Given up; the subscription is disabled for `reason` (and the
    /// account's other subscriptions told) unless it already is.
    GiveUp(DisabledReason),
}

/// One attempt, as the delivery log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub message_id: String,
    pub event_type: String,
    /// 1 for the first.
    pub attempt: u32,
    pub attempted_at: DateTime<Utc>,
    pub succeeded: bool,
    pub response_status: Option<u16>,
    pub duration_ms: u32,
    /// The first kilobyte of the answer.
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// An attempt and what follows it.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub attempt: Attempt,
    pub account_id: Uuid,
    pub next: NextStep,
    /// The audit event of the subscription's disabling, for `GiveUp`.
    pub disabling: Option<AuditEvent>,
}

/// The outbox's backlog: events not yet delivered nor given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    pub pending: i64,
    pub oldest: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait WebhookQueue: Send + Sync + 'static {
    /// Leases up to `limit` due events to `owner` until `lease_until`.
    async fn claim_due_events(
        &self,
        owner: Uuid,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueEvent>, StoreError>;

    /// Records attempts made under `owner`'s leases, in one transaction.
    async fn finish_attempts(
        &self,
        owner: Uuid,
        outcomes: &[AttemptOutcome],
    ) -> Result<(), StoreError>;

    /// Gives back `owner`'s leases on events it did not attempt.
    async fn release_leases(&self, owner: Uuid) -> Result<(), StoreError>;

    async fn backlog(&self) -> Result<Backlog, StoreError>;

    /// Forgets delivery attempts, and sent-once notices of denials, older
    /// than `before`, and delivered or given-up events finished before it.
    async fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<(), StoreError>;

    /// Queues `event` for subscription `webhook` alone (a ping, an expiry
    /// notice); `false` if sent once already under its key, or no such
    /// subscription.
    async fn enqueue_for(
        &self,
        webhook: &Webhook,
        event: &LifecycleEvent,
    ) -> Result<bool, StoreError>;

    /// Makes the event of delivery attempt `delivery_id` of subscription
    /// `webhook_id` due again now, with the same `webhook-id` (returned) and a
    /// fresh retry period; none if there is no such attempt.
    async fn redeliver(
        &self,
        account_id: Uuid,
        webhook_id: Uuid,
        delivery_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;
}

const BY_ID: &str = "SELECT id, account_id, url, event_types, description, expiry_warnings, \
    secret_sealed, secret_key_version, previous_secret_sealed, previous_secret_key_version, \
    previous_secret_expires_at, disabled_at, disabled_reason, created_at FROM webhooks \
    WHERE id = $1";

const ANY_DUE: &str = "SELECT message_id FROM webhook_events WHERE status = 'pending' \
    AND next_attempt_at <= $1 LIMIT 1";

const FINISH: &str = "UPDATE webhook_events SET status = $1, attempts = attempts + 1, \
    next_attempt_at = $2, finished_at = $3, lease_owner = NULL, lease_until = NULL \
    WHERE message_id = $4 AND webhook_id = $5 AND lease_owner = $6";

const LOG_ATTEMPT: &str = "INSERT INTO webhook_deliveries (id, webhook_id, message_id, \
    event_type, attempt, attempted_at, outcome, response_status, duration_ms, response_body, \
    error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

const RELEASE: &str = "UPDATE webhook_events SET lease_owner = NULL, lease_until = NULL \
    WHERE lease_owner = $1 AND status = 'pending'";

const BACKLOG: &str = "SELECT COUNT(*) AS count, MIN(created_at) AS oldest FROM webhook_events \
    WHERE status = 'pending'";

const PURGE_DELIVERIES: &str = "DELETE FROM webhook_deliveries WHERE attempted_at < $1";
const PURGE_EVENTS: &str =
    "DELETE FROM webhook_events WHERE status <> 'pending' AND finished_at < $1";
const PURGE_DENIALS: &str =
    "DELETE FROM webhook_notices WHERE notice_key LIKE 'denied:%' AND created_at < $1";

const STILL_ENABLED: &str = "SELECT id FROM webhooks WHERE id = $1 AND disabled_at IS NULL";
const OTHER_SUBSCRIBERS: &str = "SELECT id, account_id, url, event_types, description, \
    expiry_warnings, secret_sealed, secret_key_version, previous_secret_sealed, \
    previous_secret_key_version, previous_secret_expires_at, disabled_at, disabled_reason, \
    created_at FROM webhooks WHERE account_id = $1 AND id <> $2 AND disabled_at IS NULL";

const ATTEMPT_OF: &str = "SELECT d.message_id FROM webhook_deliveries d \
    JOIN webhooks w ON w.id = d.webhook_id \
    WHERE d.id = $1 AND d.webhook_id = $2 AND w.account_id = $3";
/// Due again now, with a fresh retry period; an attempt under way keeps its
/// lease (it is not sent twice at once).
const REQUEUE: &str = "UPDATE webhook_events SET status = 'pending', attempts = 0, \
    created_at = $1, next_attempt_at = $1, finished_at = NULL \
    WHERE message_id = $2 AND webhook_id = $3";

/// A claimed row of `webhook_events`.
struct ClaimedRow {
    message_id: String,
    webhook_id: Uuid,
    event_type: String,
    payload: String,
    created_at: Timestamp,
    attempts: i32,
}

impl FromColumns for ClaimedRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            message_id: columns.get("message_id")?,
            webhook_id: columns.get("webhook_id")?,
            event_type: columns.get("event_type")?,
            payload: columns.get("payload")?,
            created_at: columns.get("created_at")?,
            attempts: columns.get("attempts")?,
        })
    }
}

struct BacklogRow {
    count: i64,
    oldest: Option<Timestamp>,
}

impl FromColumns for BacklogRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            count: columns.get("count")?,
            oldest: columns.get("oldest")?,
        })
    }
}

/// The event of a delivery attempt.
struct AttemptOf {
    message_id: String,
}

impl FromColumns for AttemptOf {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            message_id: columns.get("message_id")?,
        })
    }
}

/// Disables subscription `webhook_id` for `reason` unless it already is,
/// and tells the account's other subscriptions that want to know.
async fn disable_failing<D: Backend>(
    tx: &mut D::Connection,
    outcome: &AttemptOutcome,
    reason: DisabledReason,
) -> Result<(), StoreError> {
    let webhook_id = outcome.attempt.webhook_id;
    let still = query::<D>(STILL_ENABLED).arg(webhook_id);
    if fetch_optional(tx, still).await?.is_none() {
        return Ok(());
    }
    let at = outcome.attempt.attempted_at;
    disable_in::<D>(tx, webhook_id, Some((at, reason))).await?;
    if let Some(event) = &outcome.disabling {
        audit_events::insert::<D>(tx, event).await?;
    }
    let announcement = LifecycleEvent::new(
        crate::domain::WebhookEventType::WebhookDisabled,
        at,
        serde_json::json!({
            "account_id": outcome.account_id,
            "webhook_id": webhook_id,
            "disabled_reason": reason.as_str(),
        }),
    );
    let others = query::<D>(OTHER_SUBSCRIBERS)
        .arg(outcome.account_id)
        .arg(webhook_id);
    for other in decode_webhooks::<D>(&fetch_all(tx, others).await?)? {
        if other.webhook.wants(announcement.event_type) {
            enqueue::<D>(tx, other.webhook.id, outcome.account_id, &announcement).await?;
        }
    }
    Ok(())
}

async fn log_attempt<D: Backend>(
    tx: &mut D::Connection,
    attempt: &Attempt,
) -> Result<(), StoreError> {
    let log = query::<D>(LOG_ATTEMPT)
        .arg(attempt.id)
        .arg(attempt.webhook_id)
        .arg(attempt.message_id.as_str())
        .arg(attempt.event_type.as_str())
        .arg(i32::try_from(attempt.attempt).unwrap_or(i32::MAX))
        .arg(Timestamp(attempt.attempted_at))
        .arg(if attempt.succeeded {
            "succeeded"
        } else {
            "failed"
        })
        .arg(attempt.response_status.map(i32::from))
        .arg(i32::try_from(attempt.duration_ms).unwrap_or(i32::MAX))
        .arg(attempt.response_body.clone())
        .arg(attempt.error.clone());
    execute(tx, log).await
}

#[async_trait]
impl<D: Backend> WebhookQueue for SqlStore<D> {
    async fn claim_due_events(
        &self,
        owner: Uuid,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DueEvent>, StoreError> {
        // Most polls find nothing: a read says so without the write lock.
        let due = self
            .reading(async |connection| {
                fetch_optional(connection, query::<D>(ANY_DUE).arg(Timestamp(now))).await
            })
            .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        self.write(async |tx| {
            let claim = query::<D>(D::CLAIM_WEBHOOK_EVENTS)
                .arg(owner)
                .arg(Timestamp(lease_until))
                .arg(Timestamp(now))
                .arg(i64::from(limit));
            let rows = fetch_all(tx, claim).await?;
            let mut webhooks: Vec<StoredWebhook> = Vec::new();
            let mut due = Vec::with_capacity(rows.len());
            for row in &rows {
                let row = decode::<D, ClaimedRow>(row)?;
                let webhook = match webhooks.iter().find(|w| w.webhook.id == row.webhook_id) {
                    Some(found) => found.clone(),
                    None => {
                        let select = query::<D>(BY_ID).arg(row.webhook_id);
                        let Some(found) = fetch_optional(tx, select).await? else {
                            continue;
                        };
                        let found = decode::<D, WebhookRow>(&found)?.into_stored()?;
                        webhooks.push(found.clone());
                        found
                    }
                };
                let attempts = u32::try_from(row.attempts)
                    .map_err(|_| corrupt(format!("webhook event {}: attempts", row.message_id)))?;
                due.push(DueEvent {
                    message_id: row.message_id,
                    webhook,
                    event_type: row.event_type,
                    payload: row.payload,
                    created_at: row.created_at.0,
                    attempts,
                });
            }
            Ok(due)
        })
        .await
    }

    async fn finish_attempts(
        &self,
        owner: Uuid,
        outcomes: &[AttemptOutcome],
    ) -> Result<(), StoreError> {
        self.write(async |tx| {
            for outcome in outcomes {
                let attempt = &outcome.attempt;
                let at = attempt.attempted_at;
                let (status, next, finished) = match outcome.next {
                    NextStep::Delivered => ("delivered", at, Some(Timestamp(at))),
                    NextStep::RetryAt(next) => ("pending", next, None),
                    NextStep::GiveUp(_) => ("failed", at, Some(Timestamp(at))),
                };
                let finish = query::<D>(FINISH)
                    .arg(status)
                    .arg(Timestamp(next))
                    .arg(finished)
                    .arg(attempt.message_id.as_str())
                    .arg(attempt.webhook_id)
                    .arg(owner);
                execute(tx, finish).await?;
                log_attempt::<D>(tx, attempt).await?;
                if let NextStep::GiveUp(reason) = outcome.next {
                    disable_failing::<D>(tx, outcome, reason).await?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn release_leases(&self, owner: Uuid) -> Result<(), StoreError> {
        self.write(async |tx| execute(tx, query::<D>(RELEASE).arg(owner)).await)
            .await
    }

    async fn backlog(&self) -> Result<Backlog, StoreError> {
        self.reading(async |connection| {
            let row = fetch_optional(connection, query::<D>(BACKLOG)).await?;
            let Some(row) = row else {
                return Ok(Backlog::default());
            };
            let row = decode::<D, BacklogRow>(&row)?;
            Ok(Backlog {
                pending: row.count,
                oldest: row.oldest.map(|t| t.0),
            })
        })
        .await
    }

    async fn purge_deliveries(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(async |tx| {
            for purge in [PURGE_DELIVERIES, PURGE_EVENTS, PURGE_DENIALS] {
                execute(tx, query::<D>(purge).arg(Timestamp(before))).await?;
            }
            Ok(())
        })
        .await
    }

    async fn enqueue_for(
        &self,
        webhook: &Webhook,
        event: &LifecycleEvent,
    ) -> Result<bool, StoreError> {
        self.write(async |tx| {
            if fetch_optional(tx, query::<D>(BY_ID).arg(webhook.id))
                .await?
                .is_none()
            {
                return Ok(false);
            }
            enqueue::<D>(tx, webhook.id, webhook.account_id, event).await
        })
        .await
    }

    async fn redeliver(
        &self,
        account_id: Uuid,
        webhook_id: Uuid,
        delivery_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        self.write(async |tx| {
            let of = query::<D>(ATTEMPT_OF)
                .arg(delivery_id)
                .arg(webhook_id)
                .arg(account_id);
            let Some(row) = fetch_optional(tx, of).await? else {
                return Ok(None);
            };
            let of = decode::<D, AttemptOf>(&row)?;
            let requeue = query::<D>(REQUEUE)
                .arg(Timestamp(now))
                .arg(of.message_id.as_str())
                .arg(webhook_id);
            execute(tx, requeue).await?;
            Ok(Some(of.message_id))
        })
        .await
    }
}
