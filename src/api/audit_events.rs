//! Types of the audit log over the API: an account's events, newest first,
//! with who did what to which, from where. Actions and actor types are enums
//! in the query and plain strings in responses (as the authorization types
//! are), so that a client generated today reads events of kinds added later.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

// The enums' variants carry no doc comments of their own: with them, the
// schema becomes a `oneOf` that client generators turn into one type per
// value.

/// What happened: a service account created, rotated or revoked; a grant
/// added or removed; a role assigned or revoked; a previous token retired;
/// a leak reported; a token revoked by whoever held it; a recorded create
/// or rotation handed out again for a retried request; a federation
/// exchange made or refused; an identity provider or federation rule made
/// or deleted; a service account's own token turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    Create,
    Rotate,
    Revoke,
    GrantAdd,
    GrantRemove,
    RoleAssign,
    RoleRevoke,
    RetirePreviousToken,
    LeakReport,
    PublicRevocation,
    IdempotentReplay,
    TokenExchange,
    TokenExchangeDenied,
    IdentityProviderCreate,
    IdentityProviderDelete,
    FederationRuleCreate,
    FederationRuleDelete,
    DisableStaticToken,
    WebhookCreate,
    WebhookDelete,
    WebhookRotateSecret,
    WebhookEnable,
    WebhookDisable,
}

/// Who acts: a `user` (by access token), a `service_account` (by its token),
/// the `operator` (at the server's command line), or a `reporter` (a
/// secret-scanning partner, or whoever sent a token to be revoked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorType {
    User,
    ServiceAccount,
    Operator,
    Reporter,
}

/// Query parameters of the audit event list. Every filter given must match.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListAuditEventsQuery {
    /// Only events of this action.
    pub action: Option<AuditAction>,
    /// Only events by actors of this type.
    pub actor_type: Option<ActorType>,
    /// Only events by this user or service account.
    pub actor_id: Option<Uuid>,
    /// Only events about this service account (its credentials, or grants
    /// and roles given to it).
    pub service_account_id: Option<Uuid>,
    /// Only events whose actor used this token, or that are about it (issued,
    /// retired, replayed, reported): the token's 16-character public id.
    #[schemars(length(min = 16, max = 16), regex(pattern = r"^[0-9A-Za-z]{16}$"))]
    pub token_public_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time (RFC 3339); after `since`.
    pub until: Option<DateTime<Utc>>,
    /// Most events to return, from 1 to 1000. Default: 100.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Return the events older than this one: the `id` of the last event of
    /// the previous page.
    pub before: Option<Uuid>,
}

/// One entry of an account's audit log, written in the same transaction as
/// the change it records.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct AuditEvent {
    /// The event's id: pass it as `before` for the page after it.
    pub id: Uuid,
    /// When the change was made.
    pub occurred_at: DateTime<Utc>,
    /// What happened (one of the `action` filter's values; clients should
    /// expect new ones).
    pub action: String,
    /// Who made the change.
    pub actor: AuditActor,
    /// What the change was made to.
    pub target: AuditTarget,
    /// The request that made the change (`x-request-id`); null for the
    /// command line.
    pub request_id: Option<String>,
    /// The client's address (behind trusted proxies, the one they name);
    /// null for the command line.
    pub source_ip: Option<String>,
    /// The request's `User-Agent`, at most 512 characters; null when none
    /// was sent.
    pub user_agent: Option<String>,
    /// What the event is about beyond its target, by `kind` (`grant`,
    /// `role`, `grace`, `retired`, `replay`, `leak`, `federation`,
    /// `exchange`: the rule, the provider, who presented the token, and for
    /// a refusal why and the failed conditions with the values presented); empty when there is
    /// nothing more. Never a token: tokens are named by their public id.
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Who made a change.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct AuditActor {
    /// `user`, `service_account`, `operator` or `reporter`.
    #[serde(rename = "type")]
    pub actor_type: String,
    /// The user's or service account's id; null for the operator and for
    /// reporters.
    pub id: Option<Uuid>,
    /// The public id of the service-account token the actor used.
    pub token_public_id: Option<String>,
    /// When that token was minted by federation: where it came from (the
    /// rule, the identity provider, who presented what). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "super::federation::FederationProvenance")]
    pub federation: Option<super::federation::FederationProvenance>,
}

/// What a change was made to.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct AuditTarget {
    /// `service_account`, `authorization`, `role_assignment`, `federation_rule`,
    /// `identity_provider` or `account`.
    #[serde(rename = "type")]
    pub target_type: String,
    /// The service account's, authorization's, role assignment's or
    /// account's id.
    pub id: Uuid,
}
