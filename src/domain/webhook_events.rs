//! The lifecycle events a change makes, read off its audit event: which
//! event types, and their `data` (ids and metadata only: never a token or a
//! secret). A Standard Webhooks body is `{"type", "timestamp", "data"}`.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::audit::{AuditAction, AuditDetail, AuditEvent};
use super::service_accounts::RevocationReason;
use super::webhooks::WebhookEventType;

/// The window in which exchange denials of one rule and reason make one
/// `federation.exchange_denied` event.
pub const DENIALS_WINDOW_SECONDS: i64 = 300;

/// One event as its subscribers receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleEvent {
    /// The `webhook-id` of its deliveries.
    pub message_id: String,
    pub event_type: WebhookEventType,
    pub occurred_at: DateTime<Utc>,
    pub data: Value,
    /// Sent at most once per subscription under this key (aggregated
    /// denials, expiry warnings); none: every time.
    pub once_key: Option<String>,
}

impl LifecycleEvent {
    pub fn new(event_type: WebhookEventType, occurred_at: DateTime<Utc>, data: Value) -> Self {
        Self {
            // Time-ordered (UUIDv7): the outbox's key grows at its end, so a
            // change's insert touches the last pages, not a random one.
            message_id: format!("msg_{}", Uuid::now_v7().simple()),
            event_type,
            occurred_at,
            data,
            once_key: None,
        }
    }

    pub fn once(self, key: String) -> Self {
        Self {
            once_key: Some(key),
            ..self
        }
    }

    /// The body delivered: `{"type", "timestamp", "data"}`.
    pub fn body(&self) -> String {
        json!({
            "type": self.event_type.as_str(),
            "timestamp": self.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "data": self.data,
        })
        .to_string()
    }
}

/// What every event about a change says: where, to what, by whom.
fn common(event: &AuditEvent) -> serde_json::Map<String, Value> {
    let mut data = serde_json::Map::new();
    data.insert("account_id".into(), json!(event.account_id));
    data.insert("audit_event_id".into(), json!(event.id));
    if let Some(id) = event.service_account_id {
        data.insert("service_account_id".into(), json!(id));
    }
    if let Some(token) = &event.token_public_id {
        data.insert("token_public_id".into(), json!(token));
    }
    data.insert(
        "actor".into(),
        json!({"type": event.actor.kind(), "id": event.actor.id()}),
    );
    if let Some(request_id) = &event.origin.request_id {
        data.insert("request_id".into(), json!(request_id));
    }
    data
}

fn with(mut data: serde_json::Map<String, Value>, extra: Value) -> Value {
    if let Value::Object(extra) = extra {
        data.extend(extra);
    }
    Value::Object(data)
}

/// The lifecycle events `event` reports (none for most audit actions).
pub fn lifecycle_events(event: &AuditEvent) -> Vec<LifecycleEvent> {
    use WebhookEventType as T;
    let at = event.occurred_at;
    let data = common(event);
    let revoked = |reason: RevocationReason, data| {
        LifecycleEvent::new(
            T::TokenRevoked,
            at,
            with(data, json!({"revoked_reason": reason.as_str()})),
        )
    };
    match (event.action, &event.detail) {
        (AuditAction::Create, _) => {
            vec![LifecycleEvent::new(
                T::ServiceAccountCreated,
                at,
                Value::Object(data),
            )]
        }
        (AuditAction::Rotate, detail) => {
            let grace = match detail {
                Some(AuditDetail::Grace {
                    previous_token_public_id,
                    until,
                }) => json!({
                    "previous_token_public_id": previous_token_public_id,
                    "previous_token_expires_at": until,
                }),
                _ => json!({"previous_token_public_id": null, "previous_token_expires_at": null}),
            };
            vec![LifecycleEvent::new(T::TokenRotated, at, with(data, grace))]
        }
        (AuditAction::Revoke, _) => vec![revoked(RevocationReason::Requested, data)],
        (
            AuditAction::LeakReport | AuditAction::PublicRevocation,
            Some(AuditDetail::Leak {
                reporter,
                source,
                url,
                revoked: was_revoked,
                ..
            }),
        ) => {
            let public = event.action == AuditAction::PublicRevocation;
            let mut events = Vec::new();
            if !public {
                let leak = json!({
                    "reporter": reporter, "source": source, "url": url, "revoked": was_revoked,
                });
                events.push(LifecycleEvent::new(
                    T::TokenLeaked,
                    at,
                    with(data.clone(), leak),
                ));
            }
            if *was_revoked {
                let reason = if public {
                    RevocationReason::Reported
                } else {
                    RevocationReason::Leaked
                };
                events.push(revoked(reason, data));
            }
            events
        }
        (
            AuditAction::GrantAdd
            | AuditAction::GrantRemove
            | AuditAction::RoleAssign
            | AuditAction::RoleRevoke,
            Some(detail),
        ) => {
            let event_type = match event.action {
                AuditAction::GrantAdd | AuditAction::RoleAssign => T::AuthorizationCreated,
                _ => T::AuthorizationRevoked,
            };
            let extra = json!({"authorization": detail.to_json()});
            vec![LifecycleEvent::new(event_type, at, with(data, extra))]
        }
        (
            AuditAction::FederationRuleCreate | AuditAction::FederationRuleDelete,
            Some(AuditDetail::Federation(target)),
        ) => {
            let event_type = if event.action == AuditAction::FederationRuleCreate {
                T::FederationRuleCreated
            } else {
                T::FederationRuleDeleted
            };
            let extra = json!({
                "federation_rule_id": target.federation_rule_id,
                "identity_provider_id": target.identity_provider_id,
                "issuer": target.issuer,
            });
            vec![LifecycleEvent::new(event_type, at, with(data, extra))]
        }
        (
            AuditAction::TokenExchangeDenied,
            Some(AuditDetail::Exchange {
                identity_provider_id,
                issuer,
                federation_rule_id,
                reason,
                ..
            }),
        ) => {
            let reason = reason.clone().unwrap_or_else(|| "denied".to_owned());
            let rule = federation_rule_id.map_or("none".to_owned(), |id| id.to_string());
            let window = at.timestamp().div_euclid(DENIALS_WINDOW_SECONDS);
            let extra = json!({
                "federation_rule_id": federation_rule_id,
                "identity_provider_id": identity_provider_id,
                "issuer": issuer,
                "reason": reason,
                "window_seconds": DENIALS_WINDOW_SECONDS,
            });
            vec![
                LifecycleEvent::new(T::FederationExchangeDenied, at, with(data, extra))
                    .once(format!("denied:{rule}:{reason}:{window}")),
            ]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::{Actor, FederationTarget, Origin};

    fn event(action: AuditAction, detail: Option<AuditDetail>) -> AuditEvent {
        let mut event = AuditEvent::new(
            Utc::now(),
            Uuid::new_v4(),
            Some(Uuid::new_v4()),
            action,
            Actor::User(Uuid::new_v4()),
            Origin::default(),
        )
        .about_token("AbCdEfGhIjKlMnOp");
        event.detail = detail;
        event
    }

    fn types(event: &AuditEvent) -> Vec<&'static str> {
        lifecycle_events(event)
            .iter()
            .map(|e| e.event_type.as_str())
            .collect()
    }

    #[test]
    fn changes_become_their_events() {
        assert_eq!(
            types(&event(AuditAction::Create, None)),
            ["service_account.created"]
        );
        assert_eq!(types(&event(AuditAction::Rotate, None)), ["token.rotated"]);
        let revoke = lifecycle_events(&event(AuditAction::Revoke, None));
        assert_eq!(revoke[0].data["revoked_reason"], "requested");
        assert_eq!(revoke[0].data["token_public_id"], "AbCdEfGhIjKlMnOp");
        let leak = |action, revoked| {
            event(
                action,
                Some(AuditDetail::Leak {
                    reporter: "github".into(),
                    token_public_id: "AbCdEfGhIjKlMnOp".into(),
                    source: None,
                    url: None,
                    revoked,
                }),
            )
        };
        let leaked = lifecycle_events(&leak(AuditAction::LeakReport, true));
        assert_eq!(leaked[0].event_type.as_str(), "token.leaked");
        assert_eq!(leaked[1].data["revoked_reason"], "leaked");
        assert_eq!(
            types(&leak(AuditAction::LeakReport, false)),
            ["token.leaked"]
        );
        let public = lifecycle_events(&leak(AuditAction::PublicRevocation, true));
        assert_eq!(public.len(), 1);
        assert_eq!(public[0].data["revoked_reason"], "reported");
        assert!(types(&leak(AuditAction::PublicRevocation, false)).is_empty());
        let rule = Some(AuditDetail::Federation(FederationTarget {
            identity_provider_id: Uuid::new_v4(),
            issuer: "https://issuer.example".into(),
            federation_rule_id: Some(Uuid::new_v4()),
        }));
        assert_eq!(
            types(&event(AuditAction::FederationRuleDelete, rule)),
            ["federation_rule.deleted"]
        );
        for quiet in [AuditAction::IdempotentReplay, AuditAction::TokenExchange] {
            assert!(types(&event(quiet, None)).is_empty());
        }
    }

    #[test]
    fn denials_are_once_per_rule_reason_and_window() {
        let denial = |reason: &str| {
            event(
                AuditAction::TokenExchangeDenied,
                Some(AuditDetail::Exchange {
                    identity_provider_id: Uuid::nil(),
                    issuer: "https://issuer.example".into(),
                    subject: "repo:x".into(),
                    federation_rule_id: None,
                    reason: Some(reason.into()),
                    failed: Vec::new(),
                }),
            )
        };
        let one = &lifecycle_events(&denial("no_rule_matched"))[0];
        let key = one.once_key.clone().unwrap();
        assert!(key.starts_with("denied:none:no_rule_matched:"), "{key}");
        let other = lifecycle_events(&denial("replayed"))[0].once_key.clone();
        assert_ne!(other.unwrap(), key);
        assert!(!one.body().contains("repo:x"));
    }

    #[test]
    fn a_body_is_type_timestamp_and_data() {
        let created = &lifecycle_events(&event(AuditAction::Create, None))[0];
        let body: Value = serde_json::from_str(&created.body()).unwrap();
        assert_eq!(body["type"], "service_account.created");
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(body["data"]["actor"]["type"], "user");
        assert!(created.message_id.starts_with("msg_"));
    }
}
