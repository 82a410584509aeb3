//! The outbox's writing side: an event goes to every enabled subscription of
//! its account that wants its type, as one queued row each, in the
//! transaction of the change it reports (the audit log's insert, with what
//! [`lifecycle_of`] gives it), so that a change without its events, or an event
//! without its change, cannot happen. An event sent once under a key (an
//! aggregated denial, an expiry warning) is noted in the same transaction.
//!
//! Every change passes here, so the common case costs no statement of its
//! own: the audit log's insert queues the rows for every subscriber, chosen
//! in SQL (a subscription's `event_types` are space-separated names and
//! `prefix.*`, matched as LIKE patterns; see [`EventTypeFilter`]).

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

/// The lifecycle events `event` makes: those the audit log's insert queues
/// itself, as the JSON it takes (`Backend::INSERT_AUDIT_EVENT`; none if
/// there are none), and those sent once per key, for [`enqueue_keyed`].
pub(super) fn lifecycle_of(event: &AuditEvent) -> (Option<String>, Vec<LifecycleEvent>) {
    let (keyed, plain): (Vec<_>, Vec<_>) = lifecycle_events(event)
        .into_iter()
        .partition(|e| e.once_key.is_some());
    let json = (!plain.is_empty()).then(|| {
        let rows: Vec<serde_json::Value> = plain
            .iter()
            .map(|e| {
                serde_json::json!({
                    "message_id": e.message_id,
                    "type": e.event_type.as_str(),
                    "body": e.body(),
                    "name_pattern": format!("% {} %", like_literal(e.event_type.as_str())),
                    "kind_pattern": format!("% {}.* %", like_literal(e.event_type.prefix())),
                })
            })
            .collect();
        serde_json::Value::from(rows).to_string()
    });
    (json, keyed)
}

/// `text` matched literally by LIKE with a backslash as the escape.
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Queues events sent once per subscription under their key (aggregated
/// denials), in the transaction on `tx`.
pub(super) async fn enqueue_keyed<D: Backend>(
    tx: &mut D::Connection,
    account_id: Uuid,
    events: &[LifecycleEvent],
) -> Result<(), StoreError> {
    for event in events {
        enqueue_once_each::<D>(tx, account_id, event).await?;
    }
    Ok(())
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
