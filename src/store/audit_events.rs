//! The audit log: one event per change to an account's credentials and
//! grants, written in the same transaction as the change it records, so a
//! change without its event (or an event without its change) cannot happen.
//! The detail of an event is kept as JSON. The lifecycle events a change
//! makes are queued for webhooks by the same insert.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::keyset;
use super::sql_store::{SqlStore, decode, execute, fetch_all, query};
use super::webhook_outbox;
use crate::domain::{Actor, ActorType, AuditAction, AuditDetail, AuditEvent, Origin, Provenance};

/// Which events of an account a page holds: newest first, before the
/// event `before` (by id) if given, matching every filter given.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub action: Option<AuditAction>,
    pub actor_type: Option<ActorType>,
    pub actor_id: Option<Uuid>,
    pub service_account_id: Option<Uuid>,
    /// Only events whose actor used this token, or that are about it.
    pub token_public_id: Option<String>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only events older than this one (the last of the previous page).
    pub before: Option<Uuid>,
    pub limit: u32,
}

#[async_trait]
pub trait AuditEventStore: Send + Sync + 'static {
    /// The account's whole audit log, oldest first.
    async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, StoreError>;

    /// A page of the account's audit log, newest first; a `before` that
    /// names no event of the account is [`StoreError::CursorNotFound`].
    async fn audit_page(
        &self,
        account_id: Uuid,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// Records `event`, which reports no change (a refused exchange).
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;
}

/// Every column of an event, for the selects below.
macro_rules! select_events {
    ($where:literal) => {
        concat!(
            "SELECT id, occurred_at, account_id, service_account_id, action, \
    actor_type, actor_id, actor_token_public_id, token_public_id, request_id, source_ip, \
    user_agent, detail, actor_federation FROM audit_events ",
            $where
        )
    };
}

const OF_ACCOUNT: &str = select_events!("WHERE account_id = $1 ORDER BY seq");

const SELECT_CURSOR: &str = "SELECT seq FROM audit_events WHERE id = $1 AND account_id = $2";

const PAGE: &str = select_events!(
    "WHERE account_id = $1 AND seq < $2 \
    AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR actor_type = $4) \
    AND ($5 IS NULL OR actor_id = $5) AND ($6 IS NULL OR service_account_id = $6) \
    AND ($7 IS NULL OR actor_token_public_id = $7 OR token_public_id = $7) \
    AND occurred_at >= $8 AND occurred_at < $9 \
    ORDER BY seq DESC LIMIT $10"
);

/// The `audit_events` table.
struct AuditEventRow {
    id: Uuid,
    occurred_at: Timestamp,
    account_id: Uuid,
    service_account_id: Option<Uuid>,
    action: String,
    actor_type: String,
    actor_id: Option<Uuid>,
    actor_token_public_id: Option<String>,
    token_public_id: Option<String>,
    request_id: Option<String>,
    source_ip: Option<String>,
    user_agent: Option<String>,
    /// [`AuditDetail`] as JSON.
    detail: Option<String>,
    /// [`Provenance`] as JSON.
    actor_federation: Option<String>,
}

impl FromColumns for AuditEventRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            occurred_at: columns.get("occurred_at")?,
            account_id: columns.get("account_id")?,
            service_account_id: columns.get("service_account_id")?,
            action: columns.get("action")?,
            actor_type: columns.get("actor_type")?,
            actor_id: columns.get("actor_id")?,
            actor_token_public_id: columns.get("actor_token_public_id")?,
            token_public_id: columns.get("token_public_id")?,
            request_id: columns.get("request_id")?,
            source_ip: columns.get("source_ip")?,
            user_agent: columns.get("user_agent")?,
            detail: columns.get("detail")?,
            actor_federation: columns.get("actor_federation")?,
        })
    }
}

impl AuditEventRow {
    fn into_event(self) -> Result<AuditEvent, StoreError> {
        let detail = match self.detail.as_deref() {
            None => None,
            Some(text) => Some(
                serde_json::from_str(text)
                    .ok()
                    .as_ref()
                    .and_then(AuditDetail::from_json)
                    .ok_or_else(|| corrupt(format!("invalid audit detail {text:?}")))?,
            ),
        };
        let source_ip = match self.source_ip.as_deref() {
            None => None,
            Some(text) => Some(
                text.parse()
                    .map_err(|_| corrupt(format!("invalid audit source address {text:?}")))?,
            ),
        };
        let actor_federation = match self.actor_federation.as_deref() {
            None => None,
            Some(text) => Some(
                serde_json::from_str(text)
                    .ok()
                    .as_ref()
                    .and_then(Provenance::from_json)
                    .ok_or_else(|| corrupt(format!("invalid audit actor federation {text:?}")))?,
            ),
        };
        Ok(AuditEvent {
            id: self.id,
            occurred_at: self.occurred_at.0,
            account_id: self.account_id,
            service_account_id: self.service_account_id,
            action: AuditAction::parse(&self.action)
                .ok_or_else(|| corrupt(format!("unknown audit action {:?}", self.action)))?,
            actor: Actor::from_parts(&self.actor_type, self.actor_id)
                .ok_or_else(|| corrupt(format!("invalid audit actor {:?}", self.actor_type)))?,
            origin: Origin {
                request_id: self.request_id,
                source_ip,
                user_agent: self.user_agent,
                actor_token_public_id: self.actor_token_public_id,
                actor_federation,
            },
            token_public_id: self.token_public_id,
            detail,
        })
    }
}

/// Records `event` in the transaction on `connection`.
pub(super) async fn insert<D: Backend>(
    connection: &mut D::Connection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let origin = &event.origin;
    let (lifecycle, keyed) = webhook_outbox::lifecycle_of(event);
    let insert = query::<D>(D::INSERT_AUDIT_EVENT)
        .arg(event.id)
        .arg(Timestamp(event.occurred_at))
        .arg(event.account_id)
        .arg(event.service_account_id)
        .arg(event.action.as_str())
        .arg(event.actor.kind())
        .arg(event.actor.id())
        .arg(origin.actor_token_public_id.clone())
        .arg(event.token_public_id.clone())
        .arg(origin.request_id.clone())
        .arg(origin.source_ip.map(|ip| ip.to_string()))
        .arg(origin.user_agent.clone())
        .arg(event.detail.as_ref().map(|d| d.to_json().to_string()))
        .arg(
            origin
                .actor_federation
                .as_ref()
                .map(|p| p.to_json().to_string()),
        )
        .arg(lifecycle);
    execute(connection, insert).await?;
    webhook_outbox::enqueue_keyed::<D>(connection, event.account_id, &keyed).await
}

fn decode_events<D: Backend>(rows: &[D::Row]) -> Result<Vec<AuditEvent>, StoreError> {
    rows.iter()
        .map(|row| decode::<D, AuditEventRow>(row)?.into_event())
        .collect()
}

#[async_trait]
impl<D: Backend> AuditEventStore for SqlStore<D> {
    async fn record_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.write(async |tx| insert::<D>(tx, event).await).await
    }

    async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, StoreError> {
        self.reading(async |connection| {
            decode_events::<D>(
                &fetch_all(connection, query::<D>(OF_ACCOUNT).arg(account_id)).await?,
            )
        })
        .await
    }

    async fn audit_page(
        &self,
        account_id: Uuid,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        self.reading(async |connection| {
            let before =
                keyset::before_seq::<D>(connection, SELECT_CURSOR, account_id, filter.before)
                    .await?;
            let page = query::<D>(PAGE)
                .arg(account_id)
                .arg(before)
                .arg(filter.action.map(|a| a.as_str().to_owned()))
                .arg(filter.actor_type.map(|t| t.as_str().to_owned()))
                .arg(filter.actor_id)
                .arg(filter.service_account_id)
                .arg(filter.token_public_id.clone())
                .arg(Timestamp(
                    filter.since.unwrap_or(Timestamp::before_everything().0),
                ))
                .arg(Timestamp(
                    filter.until.unwrap_or(Timestamp::after_everything().0),
                ))
                .arg(i64::from(filter.limit));
            decode_events::<D>(&fetch_all(connection, page).await?)
        })
        .await
    }
}
