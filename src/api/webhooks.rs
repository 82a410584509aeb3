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
    #[schemars(length(min = 1, max = 2048))]
    pub url: String,
    /// The events wanted: names (`token.revoked`) or every event of a kind (`token.*`); 1 to 32.
    #[schemars(length(min = 1, max = 32))]
    pub event_types: Vec<WebhookEventTypeFilter>,
    /// What the subscription is for (at most 1000 characters).
    #[schemars(length(max = 1000))]
    pub description: Option<String>,
    /// When `token.expiring` fires, before a token's `expires_at`: durations such as `30d`, `12h`,
    /// `15m`, `90s` (1s to 365d, at most 10). Default: `30d`, `7d`, `1d`; `[]`: none.
    #[schemars(length(max = 10))]
    pub expiry_warnings: Option<Vec<ExpiryWarningText>>,
}

/// Every event type's name.
pub const EVENT_TYPES: [&str; 14] = [
    "service_account.created",
    "token.rotated",
    "token.revoked",
    "token.leaked",
    "token.expiring",
    "token.expired",
    "token.previous_expired",
    "authorization.created",
    "authorization.revoked",
    "federation_rule.created",
    "federation_rule.deleted",
    "federation.exchange_denied",
    "webhook.disabled",
    "webhook.ping",
];

/// Every kind of event, as `event_types` names it.
pub const EVENT_KINDS: [&str; 6] = [
    "service_account.*",
    "token.*",
    "authorization.*",
    "federation_rule.*",
    "federation.*",
    "webhook.*",
];

fn string_enum(values: impl Iterator<Item = &'static str>) -> schemars::schema::SchemaObject {
    schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        enum_values: Some(values.map(serde_json::Value::from).collect()),
        ..Default::default()
    }
}

/// A string whose schema is its own (a list of names, a pattern), kept as
/// text so that the server says what is wrong with one in its own words.
macro_rules! text_type {
    ($name:ident, $description:literal, $schema:expr) => {
        #[doc = $description]
        #[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
                let mut schema = $schema;
                schema.metadata().description = Some($description.to_owned());
                schema.into()
            }
        }
    };
}

text_type!(
    WebhookEventTypeName,
    "An event type's name.",
    string_enum(EVENT_TYPES.into_iter())
);

text_type!(
    WebhookEventTypeFilter,
    "An event type's name, or every event of a kind (`token.*`).",
    string_enum(EVENT_TYPES.into_iter().chain(EVENT_KINDS))
);

text_type!(
    ExpiryWarningText,
    "A duration before a token's `expires_at`: a whole number and a unit (`30d`, `12h`, \
     `15m`, `90s`), 1s to 365d.",
    schemars::schema::SchemaObject {
        instance_type: Some(schemars::schema::InstanceType::String.into()),
        string: Some(Box::new(schemars::schema::StringValidation {
            pattern: Some("^[1-9][0-9]{0,8}[smhd]$".to_owned()),
            ..Default::default()
        })),
        ..Default::default()
    }
);

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
    /// The subscription's id.
    pub id: Uuid,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The events it receives: names, or `prefix.*`.
    pub event_types: Vec<String>,
    /// What it is for.
    pub description: Option<String>,
    /// When `token.expiring` fires, before `expires_at`; longest first.
    pub expiry_warnings: Vec<String>,
    /// Whether it receives events.
    pub enabled: bool,
    /// Since when it receives nothing (null while enabled).
    pub disabled_at: Option<DateTime<Utc>>,
    /// Why it receives nothing (null while enabled).
    #[schemars(schema_with = "nullable_disabled_reason")]
    pub disabled_reason: Option<WebhookDisabledReason>,
    /// When it was created.
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
    pub event_type: Option<WebhookEventTypeName>,
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
    /// The event's type.
    pub event_type: String,
    /// 1 for the first attempt of an event.
    pub attempt: u32,
    /// When the attempt started.
    pub attempted_at: DateTime<Utc>,
    /// How it ended.
    pub status: DeliveryStatus,
    /// The endpoint's HTTP status; none if it gave no answer.
    pub response_status: Option<u16>,
    /// How long the attempt took, in milliseconds.
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
    /// The user or service account (none for the operator and reporters).
    pub id: Option<Uuid>,
}

fn described_actor(generator: &mut schemars::r#gen::SchemaGenerator) -> schemars::schema::Schema {
    let mut schema = WebhookEventActor::json_schema(generator).into_object();
    schema.metadata().description = Some("Who made the change.".to_owned());
    schema.into()
}

/// The `data` of an event about a change to a service account or its token.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct ChangeEventData {
    /// The account.
    pub account_id: Uuid,
    /// The audit event of the change.
    pub audit_event_id: Uuid,
    /// The service account changed (or whose grants changed).
    pub service_account_id: Option<Uuid>,
    /// The token's public id (never the token).
    pub token_public_id: Option<String>,
    /// Who made the change.
    #[schemars(schema_with = "described_actor")]
    pub actor: WebhookEventActor,
    /// The request that made it.
    pub request_id: Option<String>,
    /// `token.rotated`: the token replaced, while its grace period lasts.
    pub previous_token_public_id: Option<String>,
    /// `token.rotated`: when the replaced token stops working.
    pub previous_token_expires_at: Option<DateTime<Utc>>,
    /// `token.revoked`: `requested`, `leaked` or `reported`.
    pub revoked_reason: Option<String>,
    /// `token.leaked`: who reported it.
    pub reporter: Option<String>,
    /// `token.leaked`: where it was found, as the reporter says.
    pub source: Option<String>,
    /// `token.leaked`: the URL it was found at.
    pub url: Option<String>,
    /// `token.leaked`: whether the report revoked it.
    pub revoked: Option<bool>,
    /// `authorization.*`: the grant or role assignment (as in the audit log's `detail`).
    pub authorization: Option<serde_json::Map<String, serde_json::Value>>,
    /// `federation_rule.*` and `federation.exchange_denied`: the rule.
    pub federation_rule_id: Option<Uuid>,
    /// `federation_rule.*` and `federation.exchange_denied`: the rule's identity provider.
    pub identity_provider_id: Option<Uuid>,
    /// `federation_rule.*` and `federation.exchange_denied`: the provider's issuer.
    pub issuer: Option<String>,
    /// `federation.exchange_denied`: why (one event per rule and reason per `window_seconds`).
    pub reason: Option<String>,
    /// `federation.exchange_denied`: the window of aggregation, in seconds.
    pub window_seconds: Option<u32>,
}

/// The `data` of `token.expiring`, `token.expired` and `token.previous_expired`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct TokenEndingEventData {
    /// The account.
    pub account_id: Uuid,
    /// The service account whose token it is.
    pub service_account_id: Uuid,
    /// The token's public id (never the token).
    pub token_public_id: String,
    /// When it stops (or stopped) working.
    pub expires_at: DateTime<Utc>,
    /// `token.expiring`: the warning reached (`7d`).
    pub warning: Option<String>,
    /// `token.expiring`: the warning reached, in seconds.
    pub warning_seconds: Option<u32>,
}

/// The `data` of `webhook.disabled` and `webhook.ping`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
pub struct WebhookEventData {
    /// The account.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::WebhookEventType;

    #[test]
    fn the_documents_event_names_are_the_domains() {
        let names: Vec<&str> = WebhookEventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(names, EVENT_TYPES);
        let mut kinds: Vec<String> = WebhookEventType::ALL
            .iter()
            .map(|t| format!("{}.*", t.prefix()))
            .collect();
        kinds.dedup();
        assert_eq!(kinds, EVENT_KINDS);
    }
}
