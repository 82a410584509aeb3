//! The lifecycle webhooks' types: subscriptions as clients create and read
//! them (the signing secret only in the answers to create and
//! rotate-secret), the delivery log, and the body of every event a
//! subscription receives ([`WebhookEvent`], added to the document's
//! components by `document.rs`, since no operation returns it).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A new subscription.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookRequest {
    /// Where deliveries are POSTed: an https URL on a public address (at most 2048 characters; no
    /// credentials, no fragment).
    pub url: String,
    /// The events wanted: names (`token.revoked`) or every event of a kind (`token.*`); 1 to 32.
    pub event_types: Vec<String>,
    /// What the subscription is for (at most 1000 characters).
    pub description: Option<String>,
    /// When `token.expiring` fires, before a token's `expires_at`: durations such as `30d`, `12h`,
    /// `15m`, `90s` (1s to 365d, at most 10). Default: `30d`, `7d`, `1d`; `[]`: none.
    pub expiry_warnings: Option<Vec<String>>,
}

/// Why a subscription receives nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookDisabledReason {
    /// Through the disable operation.
    Requested,
    /// Its endpoint answered 410 Gone.
    Gone,
    /// Every attempt of an event failed for 3 days.
    Failing,
}

fn nullable_disabled_reason(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
    super::types::nullable_string_enum(&["requested", "gone", "failing"])
}

/// A subscription to the account's lifecycle events (never its secret).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
    /// Longest first.
    pub expiry_warnings: Vec<String>,
    pub enabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
    #[schemars(schema_with = "nullable_disabled_reason")]
    pub disabled_reason: Option<WebhookDisabledReason>,
    pub created_at: DateTime<Utc>,
}

/// A subscription with its signing secret, returned by create and rotate-secret only.
#[derive(Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct WebhookWithSecret {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` and the base64 of 32 random bytes: the key of every delivery's
    /// `webhook-signature` (Standard Webhooks). Store it now; it is never shown again.
    pub secret: String,
}

/// Never prints the secret.
impl std::fmt::Debug for WebhookWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookWithSecret")
            .field("webhook", &self.webhook)
            .finish_non_exhaustive()
    }
}

/// The headers of a new subscription.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
pub struct WebhookCreatedHeaders {
    /// Path of the new subscription.
    #[serde(rename = "Location")]
    pub location: String,
    /// Always `no-store`: the response carries a secret that no cache may keep.
    #[serde(rename = "Cache-Control")]
    pub cache_control: String,
    /// `true` when this response is the replay of an earlier request with the same
    /// `Idempotency-Key`; absent otherwise.
    #[serde(rename = "Idempotent-Replayed")]
    pub idempotent_replayed: Option<String>,
}

/// Path parameters that name a subscription.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct WebhookPath {
    /// The account.
    pub account_id: Uuid,
    /// The subscription.
    pub webhook_id: Uuid,
}

/// Path parameters that name a delivery attempt.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct WebhookDeliveryPath {
    /// The account.
    pub account_id: Uuid,
    /// The subscription.
    pub webhook_id: Uuid,
    /// The delivery attempt.
    pub delivery_id: Uuid,
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// A 2xx answer.
    Succeeded,
    /// Any other answer, or none.
    Failed,
}

/// Query parameters of the delivery log. Every filter given must match.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListWebhookDeliveriesQuery {
    /// Only attempts that ended so.
    pub status: Option<DeliveryStatus>,
    /// Only attempts of events of this type.
    #[schemars(length(min = 1, max = 64))]
    pub event_type: Option<String>,
    /// Only attempts at or after this time (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Most attempts to return, from 1 to 1000. Default: 100.
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
    /// Return the attempts older than this one: the `id` of the last of the previous page.
    pub before: Option<Uuid>,
}

/// One delivery attempt (kept 30 days).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct WebhookDelivery {
    /// The attempt's id: pass it as `before` for the page after it, or redeliver it.
    pub id: Uuid,
    /// The `webhook-id` header: the same for every attempt of an event.
    pub message_id: String,
    pub event_type: String,
    /// 1 for the first attempt of an event.
    pub attempt: u32,
    pub attempted_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    /// The endpoint's HTTP status; none if it gave no answer.
    pub response_status: Option<u16>,
    pub duration_ms: u32,
    /// The first kilobyte of the answer.
    pub response_body: Option<String>,
    /// Why there was no answer (refused address, timeout, connection failure).
    pub error: Option<String>,
}

/// An event queued for delivery.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct QueuedWebhookEvent {
    /// Its `webhook-id` header.
    pub message_id: String,
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct WebhookEventActor {
    /// `user`, `service_account`, `operator` or `reporter`.
    #[serde(rename = "type")]
    pub actor_type: String,
    pub id: Option<Uuid>,
}

/// The `data` of an event about a change to a service account or its token.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct ChangeEventData {
    pub account_id: Uuid,
    /// The audit event of the change.
    pub audit_event_id: Uuid,
    pub service_account_id: Option<Uuid>,
    /// The token's public id (never the token).
    pub token_public_id: Option<String>,
    pub actor: WebhookEventActor,
    pub request_id: Option<String>,
    /// `token.rotated`: the token replaced, while its grace period lasts.
    pub previous_token_public_id: Option<String>,
    pub previous_token_expires_at: Option<DateTime<Utc>>,
    /// `token.revoked`: `requested`, `leaked` or `reported`.
    pub revoked_reason: Option<String>,
    /// `token.leaked`: who reported it, where it was found, whether it was revoked.
    pub reporter: Option<String>,
    pub source: Option<String>,
    pub url: Option<String>,
    pub revoked: Option<bool>,
    /// `authorization.*`: the grant or role assignment (as in the audit log's `detail`).
    pub authorization: Option<serde_json::Value>,
    /// `federation_rule.*` and `federation.exchange_denied`: the rule and its provider.
    pub federation_rule_id: Option<Uuid>,
    pub identity_provider_id: Option<Uuid>,
    pub issuer: Option<String>,
    /// `federation.exchange_denied`: why (one event per rule and reason per `window_seconds`).
    pub reason: Option<String>,
    pub window_seconds: Option<u32>,
}

/// The `data` of `token.expiring`, `token.expired` and `token.previous_expired`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct TokenEndingEventData {
    pub account_id: Uuid,
    pub service_account_id: Uuid,
    pub token_public_id: String,
    pub expires_at: DateTime<Utc>,
    /// `token.expiring`: the warning reached (`7d`), and in seconds.
    pub warning: Option<String>,
    pub warning_seconds: Option<u32>,
}

/// The `data` of `webhook.disabled` and `webhook.ping`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct WebhookEventData {
    pub account_id: Uuid,
    /// The subscription disabled, or pinged.
    pub webhook_id: Uuid,
    /// `webhook.disabled`: `gone` or `failing`.
    pub disabled_reason: Option<String>,
}

/// The body of a delivery (Standard Webhooks 1.0): `type`, `timestamp`, `data`. Headers:
/// `webhook-id` (stable across retries: deduplicate on it), `webhook-timestamp`,
/// `webhook-signature`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "type")]
pub enum WebhookEvent {
    #[serde(rename = "service_account.created")]
    ServiceAccountCreated {
        timestamp: DateTime<Utc>,
        data: ChangeEventData,
    },
    #[serde(rename = "token.rotated")]
    TokenRotated {
        timestamp: DateTime<Utc>,
        data: ChangeEventData,
    },
    #[serde(rename = "token.revoked")]
    TokenRevoked {
        timestamp: DateTime<Utc>,
        data: ChangeEventData,
    },
    #[serde(rename = "token.leaked")]
    TokenLeaked {
        timestamp: DateTime<Utc>,
        data: ChangeEventData,
    },
    #[serde(rename = "token.expiring")]
    TokenExpiring {
        timestamp: DateTime<Utc>,
        data: TokenEndingEventData,
    },
    #[serde(rename = "token.expired")]
    TokenExpired {
        timestamp: DateTime<Utc>,
        data: TokenEndingEventData,
    },
    #[serde(rename = "token.previous_expired")]
    TokenPreviousExpired {
        timestamp: DateTime<Utc>,
        data: TokenEndingEventData,
    },
    #[serde(rename = "authorization.created")]
    AuthorizationCreated {
        timestamp: DateTime<Utc>,
        data: ChangeEventData,
    },
    #[serde(rename = "authorization.revoked")]
    AuthorizationRevoked {
        timestamp: DateTime<Utc>,
        data: ChangeEventData,
    },
    #[serde(rename = "federation_rule.created")]
    FederationRuleCreated {
        timestamp: DateTime<Utc>,
        data: ChangeEventData,
    },
    #[serde(rename = "federation_rule.deleted")]
    FederationRuleDeleted {
        timestamp: DateTime<Utc>,
        data: ChangeEventData,
    },
    #[serde(rename = "federation.exchange_denied")]
    FederationExchangeDenied {
        timestamp: DateTime<Utc>,
        data: ChangeEventData,
    },
    #[serde(rename = "webhook.disabled")]
    WebhookDisabled {
        timestamp: DateTime<Utc>,
        data: WebhookEventData,
    },
    #[serde(rename = "webhook.ping")]
    WebhookPing {
        timestamp: DateTime<Utc>,
        data: WebhookEventData,
    },
}
