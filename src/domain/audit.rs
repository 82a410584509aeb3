//! The audit log's vocabulary: what happened, who did it, and the detail
//! each kind of event carries.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::authorizations::{Grants, Resource, Subject};
use super::roles::RoleKey;

/// What happened to a service account, as recorded in the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    Create,
    Rotate,
    Revoke,
    /// A grant was added (the detail says which).
    GrantAdd,
    /// A grant was removed (revoked; the detail says which).
    GrantRemove,
    /// A role was assigned (the detail says which, to whom, on what).
    RoleAssign,
    /// A role assignment was revoked (the detail says which).
    RoleRevoke,
    /// The previous token's grace period was ended before its time (the
    /// detail says which token).
    RetirePreviousToken,
    /// A secret-scanning partner reported one of the service account's
    /// tokens leaked (the detail says who, where, and whether it was revoked).
    LeakReport,
    /// Someone holding one of the service account's tokens sent it to the
    /// public revocation endpoint (the detail says from which address).
    PublicRevocation,
    /// A recorded create or rotation response, with its token, was handed
    /// out again for a retried request (the detail says which and which
    /// token).
    IdempotentReplay,
}

impl AuditAction {
    pub const ALL: [AuditAction; 11] = [
        AuditAction::Create,
        AuditAction::Rotate,
        AuditAction::Revoke,
        AuditAction::GrantAdd,
        AuditAction::GrantRemove,
        AuditAction::RoleAssign,
        AuditAction::RoleRevoke,
        AuditAction::RetirePreviousToken,
        AuditAction::LeakReport,
        AuditAction::PublicRevocation,
        AuditAction::IdempotentReplay,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            AuditAction::Create => "create",
            AuditAction::Rotate => "rotate",
            AuditAction::Revoke => "revoke",
            AuditAction::GrantAdd => "grant_add",
            AuditAction::GrantRemove => "grant_remove",
            AuditAction::RoleAssign => "role_assign",
            AuditAction::RoleRevoke => "role_revoke",
            AuditAction::RetirePreviousToken => "retire_previous_token",
            AuditAction::LeakReport => "leak_report",
            AuditAction::PublicRevocation => "public_revocation",
            AuditAction::IdempotentReplay => "idempotent_replay",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }
}

/// What an audit event is about beyond its service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditDetail {
    /// The grant that was added or removed (events recorded before grants
    /// had ids carry none).
    Grant {
        authorization_id: Option<Uuid>,
        subject: Subject,
        grants: Grants,
        resource: Option<Resource>,
    },
    /// The role assignment that was made or revoked.
    Role {
        role_assignment_id: Uuid,
        subject: Subject,
        role: RoleKey,
        resource: Resource,
    },
    /// A rotation that left the previous token working until `until`.
    Grace {
        previous_token_public_id: String,
        until: DateTime<Utc>,
    },
    /// The previous token whose grace period was ended.
    Retired { previous_token_public_id: String },
    /// A replayed response: of which operation (`create` or `rotate`), and
    /// the token it handed out again (its public id).
    Replay {
        of: AuditAction,
        token_public_id: String,
    },
    /// A leaked token reported: by whom, where it was found, which token
    /// (its public id), and whether this report revoked the service account
    /// (it may have been revoked already, or the server only records).
    Leak {
        reporter: String,
        token_public_id: String,
        source: Option<String>,
        url: Option<String>,
        revoked: bool,
    },
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(Uuid),
    ServiceAccount(Uuid),
    /// Someone at the command line (`hbx-sa bootstrap`), with no API identity.
    Operator,
    /// An outsider with no identity here: a secret-scanning partner, or
    /// whoever sent a token to the public revocation endpoint.
    Reporter,
}

impl Actor {
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User(_) => "user",
            Actor::ServiceAccount(_) => "service_account",
            Actor::Operator => "operator",
            Actor::Reporter => "reporter",
        }
    }

    pub fn id(&self) -> Option<Uuid> {
        match self {
            Actor::User(id) | Actor::ServiceAccount(id) => Some(*id),
            Actor::Operator | Actor::Reporter => None,
        }
    }

    pub fn from_parts(kind: &str, id: Option<Uuid>) -> Option<Self> {
        match (kind, id) {
            ("user", Some(id)) => Some(Actor::User(id)),
            ("service_account", Some(id)) => Some(Actor::ServiceAccount(id)),
            ("operator", None) => Some(Actor::Operator),
            ("reporter", None) => Some(Actor::Reporter),
            _ => None,
        }
    }
}

/// One entry of the audit log: written in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub occurred_at: DateTime<Utc>,
    pub account_id: Uuid,
    /// The service account the event is about, if it is about one.
    pub service_account_id: Option<Uuid>,
    pub action: AuditAction,
    pub actor: Actor,
    /// The API request that made the change (none for command-line actions).
    pub request_id: Option<String>,
    pub detail: Option<AuditDetail>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The audit log's words are stored as text and read back: each one
    /// names exactly one action or actor, and reads back as itself.
    #[test]
    fn actions_and_actors_read_back_as_written() {
        let mut names = std::collections::HashSet::new();
        for action in AuditAction::ALL {
            assert!(names.insert(action.as_str()), "{} twice", action.as_str());
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::Rotate.as_str(), "rotate");
        assert_eq!(AuditAction::IdempotentReplay.as_str(), "idempotent_replay");
        assert_eq!(AuditAction::parse("Rotate"), None);
        assert_eq!(AuditAction::parse(""), None);
        let id = Uuid::new_v4();
        for (actor, kind, actor_id) in [
            (Actor::User(id), "user", Some(id)),
            (Actor::ServiceAccount(id), "service_account", Some(id)),
            (Actor::Operator, "operator", None),
            (Actor::Reporter, "reporter", None),
        ] {
            assert_eq!(actor.kind(), kind);
            assert_eq!(actor.id(), actor_id);
            assert_eq!(Actor::from_parts(kind, actor_id), Some(actor));
        }
        assert_eq!(Actor::from_parts("user", None), None);
        assert_eq!(Actor::from_parts("operator", Some(id)), None);
        assert_eq!(Actor::from_parts("robot", Some(id)), None);
    }
}
