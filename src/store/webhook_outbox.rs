//! The outbox's writing side: an event goes to every enabled subscription of
//! its account that wants its type, as one queued row each, in the
//! transaction of the change it reports (the audit log's insert calls
//! [`enqueue_audited`]), so that a change without its events, or an event
//! without its change, cannot happen. An event sent once under a key (an
//! aggregated denial, an expiry warning) is noted in the same transaction.
//!
//! Every change passes here, so the common case is one statement: the rows
//! for every subscriber, chosen in SQL (a subscription's `event_types` are
//! space-separated names and `prefix.*`; see [`EventTypeFilter`]).

use uuid::Uuid;

use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::sql_store::{decode, execute, fetch_all, fetch_optional, query};
use crate::domain::{AuditEvent, EventTypeFilter, LifecycleEvent, lifecycle_events};

const SUBSCRIBERS: &str =
    "SELECT id, event_types FROM webhooks WHERE account_id = $1 AND disabled_at IS NULL";

const INSERT: &str = "INSERT INTO webhook_events (message_id, webhook_id, account_id, \
    event_type, payload, created_at, status, attempts, next_attempt_at) \
    VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $6)";

/// The rows for every enabled subscription of account `$5` whose
/// `event_types` hold the event's name (`$6`) or its kind (`$7`), as LIKE
/// patterns of a space-padded list.
const INSERT_FOR_SUBSCRIBERS: &str = "INSERT INTO webhook_events (message_id, webhook_id, \
    account_id, event_type, payload, created_at, status, attempts, next_attempt_at) \
    SELECT $1, id, account_id, $2, $3, $4, 'pending', 0, $4 FROM webhooks \
    WHERE account_id = $5 AND disabled_at IS NULL \
    AND ((' ' || event_types || ' ') LIKE $6 ESCAPE '\\' \
    OR (' ' || event_types || ' ') LIKE $7 ESCAPE '\\')";

const NOTE_ONCE: &str = "INSERT INTO webhook_notices (webhook_id, notice_key, created_at) \
    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING webhook_id";

struct Subscriber {
    id: Uuid,
    event_types: String,
}

impl FromColumns for Subscriber {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            event_types: columns.get("event_types")?,
        })
    }
}

impl Subscriber {
    fn wants(&self, event: &LifecycleEvent) -> Result<bool, StoreError> {
        for text in self.event_types.split_whitespace() {
            let filter = EventTypeFilter::parse(text)
                .map_err(|_| corrupt(format!("webhook {}: invalid event_types", self.id)))?;
            if filter.matches(event.event_type) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Queues the lifecycle events `event` reports, in the transaction on `tx`.
pub(super) async fn enqueue_audited<D: Backend>(
    tx: &mut D::Connection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    for lifecycle in lifecycle_events(event) {
        if lifecycle.once_key.is_some() {
            enqueue_once_each::<D>(tx, event.account_id, &lifecycle).await?;
            continue;
        }
        let name = lifecycle.event_type.as_str();
        let kind = lifecycle.event_type.prefix();
        let insert = query::<D>(INSERT_FOR_SUBSCRIBERS)
            .arg(lifecycle.message_id.as_str())
            .arg(name)
            .arg(lifecycle.body().as_str())
            .arg(Timestamp(lifecycle.occurred_at))
            .arg(event.account_id)
            .arg(format!("% {} %", like_literal(name)).as_str())
            .arg(format!("% {}.* %", like_literal(kind)).as_str());
        execute(tx, insert).await?;
    }
    Ok(())
}

/// `text` matched literally by LIKE with a backslash as the escape.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// An event sent once per subscription under its key: each subscriber
/// that wants it, one by one.
async fn enqueue_once_each<D: Backend>(
    tx: &mut D::Connection,
    account_id: Uuid,
    event: &LifecycleEvent,
) -> Result<(), StoreError> {
    let subscribers = fetch_all(tx, query::<D>(SUBSCRIBERS).arg(account_id)).await?;
    for row in &subscribers {
        let subscriber = decode::<D, Subscriber>(row)?;
        if subscriber.wants(event)? {
            enqueue::<D>(tx, subscriber.id, account_id, event).await?;
        }
    }
    Ok(())
}

/// Queues `event` for subscription `webhook_id` alone, in the transaction
/// on `tx`; one sent once under a key already used is not queued again.
/// Whether it was queued.
pub(super) async fn enqueue<D: Backend>(
    tx: &mut D::Connection,
    webhook_id: Uuid,
    account_id: Uuid,
    event: &LifecycleEvent,
) -> Result<bool, StoreError> {
    if let Some(key) = &event.once_key {
        let note = query::<D>(NOTE_ONCE)
            .arg(webhook_id)
            .arg(key.as_str())
            .arg(Timestamp(event.occurred_at));
        if fetch_optional(tx, note).await?.is_none() {
            return Ok(false);
        }
    }
    let insert = query::<D>(INSERT)
        .arg(event.message_id.as_str())
        .arg(webhook_id)
        .arg(account_id)
        .arg(event.event_type.as_str())
        .arg(event.body().as_str())
        .arg(Timestamp(event.occurred_at));
    execute(tx, insert).await?;
    Ok(true)
}
