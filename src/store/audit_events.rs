//! The audit log: one event per change to an account's credentials and
//! grants, written in the same transaction as the change it records, so a
//! change without its event (or an event without its change) cannot happen.
//! The detail of an event is kept as JSON.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::sql_store::{SqlStore, decode, execute, fetch_all, query};
use crate::domain::{
    Actor, AuditAction, AuditDetail, AuditEvent, CapabilityKey, GrantKind, Grants, Resource,
    ResourceType, RoleKey, Subject,
};

#[async_trait]
pub trait AuditEventStore: Send + Sync + 'static {
    /// The account's audit log, oldest first.
    async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, StoreError>;
}

const INSERT: &str = "INSERT INTO audit_events (occurred_at, account_id, \
    service_account_id, action, actor_type, actor_id, request_id, detail) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const SELECT_OF_ACCOUNT: &str = "SELECT occurred_at, account_id, service_account_id, action, \
    actor_type, actor_id, request_id, detail FROM audit_events WHERE account_id = $1 ORDER BY seq";

/// The `audit_events` table.
struct AuditEventRow {
    occurred_at: Timestamp,
    account_id: Uuid,
    service_account_id: Option<Uuid>,
    action: String,
    actor_type: String,
    actor_id: Option<Uuid>,
    request_id: Option<String>,
    /// [`AuditDetail`] as JSON.
    detail: Option<String>,
}

impl FromColumns for AuditEventRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            occurred_at: columns.get("occurred_at")?,
            account_id: columns.get("account_id")?,
            service_account_id: columns.get("service_account_id")?,
            action: columns.get("action")?,
            actor_type: columns.get("actor_type")?,
            actor_id: columns.get("actor_id")?,
            request_id: columns.get("request_id")?,
            detail: columns.get("detail")?,
        })
    }
}

impl AuditEventRow {
    fn into_event(self) -> Result<AuditEvent, StoreError> {
        Ok(AuditEvent {
            occurred_at: self.occurred_at.0,
            account_id: self.account_id,
            service_account_id: self.service_account_id,
            action: AuditAction::parse(&self.action)
                .ok_or_else(|| corrupt(format!("unknown audit action {:?}", self.action)))?,
            actor: Actor::from_parts(&self.actor_type, self.actor_id)
                .ok_or_else(|| corrupt(format!("invalid audit actor {:?}", self.actor_type)))?,
            request_id: self.request_id,
            detail: self.detail.as_deref().map(detail_from_json).transpose()?,
        })
    }
}

/// Records `event` in the transaction on `connection`.
pub(super) async fn insert<D: Backend>(
    connection: &mut D::Connection,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let insert = query::<D>(INSERT)
        .arg(Timestamp(event.occurred_at))
        .arg(event.account_id)
        .arg(event.service_account_id)
        .arg(event.action.as_str())
        .arg(event.actor.kind())
        .arg(event.actor.id())
        .arg(event.request_id.clone())
        .arg(event.detail.as_ref().map(detail_to_json));
    execute(connection, insert).await
}

#[async_trait]
impl<D: Backend> AuditEventStore for SqlStore<D> {
    async fn audit_events(&self, account_id: Uuid) -> Result<Vec<AuditEvent>, StoreError> {
        self.reading(async |connection| {
            fetch_all(connection, query::<D>(SELECT_OF_ACCOUNT).arg(account_id))
                .await?
                .iter()
                .map(|row| decode::<D, AuditEventRow>(row)?.into_event())
                .collect()
        })
        .await
    }
}

fn detail_to_json(detail: &AuditDetail) -> String {
    match detail {
        AuditDetail::Grant {
            authorization_id,
            subject,
            grants,
            resource,
        } => serde_json::json!({
            "kind": "grant",
            "authorization_id": authorization_id,
            "grant_kind": grants.kind().as_str(),
            "subject_type": subject.kind().as_str(),
            "subject_id": subject.id(),
            "capability": grants.capability_key().map(CapabilityKey::as_str),
            "resource_type": resource.map(|r| r.kind.as_str()),
            "resource_id": resource.map(|r| r.id),
        }),
        AuditDetail::Role {
            role_assignment_id,
            subject,
            role,
            resource,
        } => serde_json::json!({
            "kind": "role",
            "role_assignment_id": role_assignment_id,
            "role_key": role.as_str(),
            "subject_type": subject.kind().as_str(),
            "subject_id": subject.id(),
            "resource_type": resource.kind.as_str(),
            "resource_id": resource.id,
        }),
        AuditDetail::Grace {
            previous_token_public_id,
            until,
        } => serde_json::json!({
            "kind": "grace",
            "previous_token_public_id": previous_token_public_id,
            "until": until,
        }),
        AuditDetail::Retired {
            previous_token_public_id,
        } => serde_json::json!({
            "kind": "retired",
            "previous_token_public_id": previous_token_public_id,
        }),
        AuditDetail::Replay {
            of,
            token_public_id,
        } => serde_json::json!({
            "kind": "replay",
            "of": of.as_str(),
            "token_public_id": token_public_id,
        }),
        AuditDetail::Leak {
            reporter,
            token_public_id,
            source,
            url,
            revoked,
        } => serde_json::json!({
            "kind": "leak",
            "reporter": reporter,
            "token_public_id": token_public_id,
            "source": source,
            "url": url,
            "revoked": revoked,
        }),
    }
    .to_string()
}

fn detail_from_json(text: &str) -> Result<AuditDetail, StoreError> {
    let invalid = || corrupt(format!("invalid audit detail {text:?}"));
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid())?;
    match value["kind"].as_str() {
        Some("grant") => {
            // Events recorded before grants had kinds and ids name the
            // capability alone (`account_owner` for ownership).
            let capability = value["capability"].as_str();
            let kind = match value["grant_kind"].as_str() {
                Some(kind) => GrantKind::parse(kind).map_err(|_| invalid())?,
                None if capability == Some("account_owner") => GrantKind::AccountOwner,
                None => GrantKind::Capability,
            };
            let capability = capability.filter(|_| kind == GrantKind::Capability);
            Ok(AuditDetail::Grant {
                authorization_id: uuid_at(&value, "authorization_id"),
                subject: subject_at(&value).ok_or_else(invalid)?,
                grants: Grants::parse(kind, capability).map_err(|_| invalid())?,
                resource: resource_at(&value),
            })
        }
        Some("role") => Ok(AuditDetail::Role {
            role_assignment_id: uuid_at(&value, "role_assignment_id").ok_or_else(invalid)?,
            subject: subject_at(&value).ok_or_else(invalid)?,
            role: value["role_key"]
                .as_str()
                .and_then(|role| RoleKey::parse(role).ok())
                .ok_or_else(invalid)?,
            resource: resource_at(&value).ok_or_else(invalid)?,
        }),
        Some("grace") => Ok(AuditDetail::Grace {
            previous_token_public_id: value["previous_token_public_id"]
                .as_str()
                .ok_or_else(invalid)?
                .to_owned(),
            until: value["until"]
                .as_str()
                .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
                .ok_or_else(invalid)?
                .with_timezone(&Utc),
        }),
        Some("retired") => Ok(AuditDetail::Retired {
            previous_token_public_id: value["previous_token_public_id"]
                .as_str()
                .ok_or_else(invalid)?
                .to_owned(),
        }),
        Some("replay") => Ok(AuditDetail::Replay {
            of: value["of"]
                .as_str()
                .and_then(AuditAction::parse)
                .ok_or_else(invalid)?,
            token_public_id: value["token_public_id"]
                .as_str()
                .ok_or_else(invalid)?
                .to_owned(),
        }),
        Some("leak") => {
            let text = |key: &str| value[key].as_str().map(str::to_owned);
            Ok(AuditDetail::Leak {
                reporter: text("reporter").ok_or_else(invalid)?,
                token_public_id: text("token_public_id").ok_or_else(invalid)?,
                source: text("source"),
                url: text("url"),
                revoked: value["revoked"].as_bool().ok_or_else(invalid)?,
            })
        }
        _ => Err(invalid()),
    }
}

fn uuid_at(value: &serde_json::Value, key: &str) -> Option<Uuid> {
    value[key].as_str().and_then(|id| id.parse().ok())
}

fn subject_at(value: &serde_json::Value) -> Option<Subject> {
    Subject::from_parts(
        value["subject_type"].as_str()?,
        value["subject_id"].as_str()?,
    )
}

fn resource_at(value: &serde_json::Value) -> Option<Resource> {
    Some(Resource {
        kind: ResourceType::parse(value["resource_type"].as_str()?).ok()?,
        id: uuid_at(value, "resource_id")?,
    })
}
