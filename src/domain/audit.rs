//! The audit log's vocabulary: what happened, who did it, and the detail
//! each kind of event carries.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::authorizations::{Grants, Resource, Subject};
use super::federation_rules::Provenance;
use super::names::ValidationError;
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
    /// A workload's OIDC token was exchanged for a federated token (the
    /// detail says by which rule, and who presented it).
    TokenExchange,
    /// An exchange naming the service account was refused (the detail says
    /// why, and which conditions failed with the values presented).
    TokenExchangeDenied,
    /// An identity provider was registered or deleted (the detail says
    /// which).
    IdentityProviderCreate,
    IdentityProviderDelete,
    /// A federation rule was created or deleted (the detail says which).
    FederationRuleCreate,
    FederationRuleDelete,
    /// The service account's own token was turned off.
    DisableStaticToken,
    /// A webhook subscription was created, deleted, given a new signing
    /// secret, enabled or disabled (the detail says which, and why).
    WebhookCreate,
    WebhookDelete,
    WebhookRotateSecret,
    WebhookEnable,
    WebhookDisable,
}

impl AuditAction {
    pub const ALL: [AuditAction; 23] = [
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
        AuditAction::TokenExchange,
        AuditAction::TokenExchangeDenied,
        AuditAction::IdentityProviderCreate,
        AuditAction::IdentityProviderDelete,
        AuditAction::FederationRuleCreate,
        AuditAction::FederationRuleDelete,
        AuditAction::DisableStaticToken,
        AuditAction::WebhookCreate,
        AuditAction::WebhookDelete,
        AuditAction::WebhookRotateSecret,
        AuditAction::WebhookEnable,
        AuditAction::WebhookDisable,
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
            AuditAction::TokenExchange => "token_exchange",
            AuditAction::TokenExchangeDenied => "token_exchange_denied",
            AuditAction::IdentityProviderCreate => "identity_provider_create",
            AuditAction::IdentityProviderDelete => "identity_provider_delete",
            AuditAction::FederationRuleCreate => "federation_rule_create",
            AuditAction::FederationRuleDelete => "federation_rule_delete",
            AuditAction::DisableStaticToken => "disable_static_token",
            AuditAction::WebhookCreate => "webhook_create",
            AuditAction::WebhookDelete => "webhook_delete",
            AuditAction::WebhookRotateSecret => "webhook_rotate_secret",
            AuditAction::WebhookEnable => "webhook_enable",
            AuditAction::WebhookDisable => "webhook_disable",
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
    /// A federation exchange: the provider and who presented the token; the
    /// rule that matched (granted), or why it was refused and the
    /// conditions that failed, with the values presented (denied).
    Exchange {
        identity_provider_id: Uuid,
        issuer: String,
        subject: String,
        federation_rule_id: Option<Uuid>,
        reason: Option<String>,
        failed: Vec<FailedCondition>,
    },
    /// An identity provider or a federation rule that was made or deleted.
    Federation(FederationTarget),
    /// The webhook subscription changed, and why it was disabled.
    Webhook {
        webhook_id: Uuid,
        url: String,
        reason: Option<String>,
    },
}

/// The identity provider or federation rule an event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationTarget {
    pub identity_provider_id: Uuid,
    pub issuer: String,
    /// The rule, for a rule's events.
    pub federation_rule_id: Option<Uuid>,
}

/// A condition of a federation rule that a presented token failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCondition {
    pub federation_rule_id: Uuid,
    pub claim: String,
    pub op: String,
    /// What was expected, as JSON text.
    pub expected: String,
    pub presented: Option<String>,
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

words!(
    /// The kinds of [`Actor`], as the audit log names them.
    ActorType, "actor_type" {
        User = "user",
        ServiceAccount = "service_account",
        Operator = "operator",
        Reporter = "reporter",
    }
);

impl Actor {
    pub fn actor_type(&self) -> ActorType {
        match self {
            Actor::User(_) => ActorType::User,
            Actor::ServiceAccount(_) => ActorType::ServiceAccount,
            Actor::Operator => ActorType::Operator,
            Actor::Reporter => ActorType::Reporter,
        }
    }

    pub fn kind(&self) -> &'static str {
        self.actor_type().as_str()
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

/// Where a change came from: the API request that made it (none for the
/// command line), and the token its actor used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The request's id (its `x-request-id`).
    pub request_id: Option<String>,
    /// The client's address (behind trusted proxies, the one they name).
    pub source_ip: Option<IpAddr>,
    /// The request's `User-Agent`, cut to [`Origin::USER_AGENT_MAX_CHARS`].
    pub user_agent: Option<String>,
    /// The public id of the service-account token the actor used.
    pub actor_token_public_id: Option<String>,
    /// Where that token came from, when it was a federated one.
    pub actor_federation: Option<Provenance>,
}

impl Origin {
    /// The most characters of a user agent kept: enough for every real
    /// client's, not a place to store a megabyte.
    pub const USER_AGENT_MAX_CHARS: usize = 512;

    /// `user_agent` as recorded: at most [`Self::USER_AGENT_MAX_CHARS`]
    /// characters, control characters dropped, none if nothing is left.
    pub fn user_agent_of(user_agent: &str) -> Option<String> {
        let kept: String = user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(Self::USER_AGENT_MAX_CHARS)
            .collect();
        (!kept.trim().is_empty()).then_some(kept)
    }
}

/// One entry of the audit log: written in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its id: how the API names it (and pages from it).
    pub id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub account_id: Uuid,
    /// The service account the event is about, if it is about one.
    pub service_account_id: Option<Uuid>,
    pub action: AuditAction,
    pub actor: Actor,
    pub origin: Origin,
    /// The public id of the token the event is about: the one a create or
    /// rotation issued, or the one retired, replayed or reported leaked.
    pub token_public_id: Option<String>,
    pub detail: Option<AuditDetail>,
}

impl AuditEvent {
    /// A new event (with a new id) with no token and no detail.
    pub fn new(
        occurred_at: DateTime<Utc>,
        account_id: Uuid,
        service_account_id: Option<Uuid>,
        action: AuditAction,
        actor: Actor,
        origin: Origin,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            occurred_at,
            account_id,
            service_account_id,
            action,
            actor,
            origin,
            token_public_id: None,
            detail: None,
        }
    }

    /// This event, about token `public_id`.
    pub fn about_token(self, public_id: &str) -> Self {
        Self {
            token_public_id: Some(public_id.to_owned()),
            ..self
        }
    }

    /// This event, with `detail`.
    pub fn with_detail(self, detail: AuditDetail) -> Self {
        Self {
            detail: Some(detail),
            ..self
        }
    }
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

    /// A user agent is kept as sent, but for control characters; cut at 512
    /// characters (not bytes); and none at all when nothing printable is
    /// left.
    #[test]
    fn user_agents_are_kept_cleaned_and_bounded() {
        assert_eq!(
            Origin::user_agent_of("curl/8.5.0").as_deref(),
            Some("curl/8.5.0")
        );
        assert_eq!(Origin::user_agent_of("a\tb\u{7}c").as_deref(), Some("abc"));
        let long = Origin::user_agent_of(&"é".repeat(600)).unwrap();
        assert_eq!(long.chars().count(), Origin::USER_AGENT_MAX_CHARS);
        assert_eq!(Origin::USER_AGENT_MAX_CHARS, 512);
        let exact = "u".repeat(512);
        assert_eq!(Origin::user_agent_of(&exact), Some(exact));
        for nothing in ["", "   ", "\u{1}\u{2}", " \t "] {
            assert_eq!(Origin::user_agent_of(nothing), None, "{nothing:?}");
        }
    }

    /// A new event has a fresh id and nothing about a token or detail until
    /// told; telling it changes that alone.
    #[test]
    fn events_are_built_with_their_token_and_detail() {
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let account = Uuid::new_v4();
        let origin = Origin {
            request_id: Some("r-1".into()),
            ..Default::default()
        };
        let new = || {
            AuditEvent::new(
                at,
                account,
                None,
                AuditAction::Rotate,
                Actor::Operator,
                origin.clone(),
            )
        };
        let event = new();
        assert_ne!(event.id, new().id);
        assert_eq!(event.id.get_version_num(), 4);
        assert_eq!((event.occurred_at, event.account_id), (at, account));
        assert_eq!(
            (event.action, event.actor),
            (AuditAction::Rotate, Actor::Operator)
        );
        assert_eq!(event.origin, origin);
        assert_eq!(
            (event.token_public_id.clone(), event.detail.clone()),
            (None, None)
        );
        let detail = AuditDetail::Retired {
            previous_token_public_id: "AbCdEf0123456789".into(),
        };
        let told = event
            .clone()
            .about_token("AbCdEf0123456789")
            .with_detail(detail.clone());
        assert_eq!(told.token_public_id.as_deref(), Some("AbCdEf0123456789"));
        assert_eq!(told.detail, Some(detail));
        assert_eq!(
            AuditEvent {
                token_public_id: None,
                detail: None,
                ..told
            },
            event
        );
    }
}
