//! The expiry scan: tokens whose end approaches or came make events that no
//! change reports (`token.expiring` at each of a subscription's warnings,
//! `token.expired`, `token.previous_expired`). Each is queued once per
//! subscription, token and warning, whatever the number of instances or
//! restarts: the outbox notes it under a key in the same transaction, and a
//! second scan finds the key taken. When several warnings have passed at
//! once (a subscription made late), only the nearest is sent.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use slog::{Logger, warn};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::domain::{LifecycleEvent, Webhook, WebhookEventType};
use crate::store::{EndingToken, StoreError, WebhookQueue, WebhookScanSource};

/// How far back a scan looks for ends it has not reported (a server down
/// for less than this misses none).
pub const CATCH_UP: TimeDelta = TimeDelta::days(7);

pub struct ExpiryScan {
    source: Arc<dyn WebhookScanSource>,
    queue: Arc<dyn WebhookQueue>,
    clock: Arc<dyn Clock>,
    log: Logger,
}

/// The event `token` makes for `webhook` at `now`, if any.
pub fn ending_event(
    webhook: &Webhook,
    token: &EndingToken,
    now: DateTime<Utc>,
) -> Option<LifecycleEvent> {
    use WebhookEventType as T;
    let data = |extra: serde_json::Value| {
        let mut data = json!({
            "account_id": webhook.account_id,
            "service_account_id": token.service_account_id,
            "token_public_id": token.token_public_id,
            "expires_at": token.expires_at,
        });
        if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        data
    };
    let public_id = &token.token_public_id;
    if token.expires_at <= now {
        let (event_type, key) = if token.previous {
            (
                T::TokenPreviousExpired,
                format!("previous_expired:{public_id}"),
            )
        } else {
            (T::TokenExpired, format!("expired:{public_id}"))
        };
        return webhook
            .wants(event_type)
            .then(|| LifecycleEvent::new(event_type, now, data(json!({}))).once(key));
    }
    if token.previous || !webhook.wants(T::TokenExpiring) {
        return None;
    }
    let left = token.expires_at - now;
    let nearest = webhook
        .expiry_warnings
        .iter()
        .filter(|w| left <= TimeDelta::seconds(i64::from(w.seconds())))
        .min()?;
    let extra = json!({"warning": nearest.to_text(), "warning_seconds": nearest.seconds()});
    Some(
        LifecycleEvent::new(T::TokenExpiring, now, data(extra))
            .once(format!("expiring:{public_id}:{}", nearest.seconds())),
    )
}

impl ExpiryScan {
    pub fn new(
        source: Arc<dyn WebhookScanSource>,
        queue: Arc<dyn WebhookQueue>,
        clock: Arc<dyn Clock>,
        log: Logger,
    ) -> Self {
        Self {
            source,
            queue,
            clock,
            log,
        }
    }

    /// One pass over every enabled subscription; how many events it queued.
    pub async fn scan(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let mut queued = 0;
        for stored in self.source.enabled_webhooks().await? {
            let webhook = &stored.webhook;
            let wants_any = [
                WebhookEventType::TokenExpiring,
                WebhookEventType::TokenExpired,
                WebhookEventType::TokenPreviousExpired,
            ]
            .into_iter()
            .any(|t| webhook.wants(t));
            if !wants_any {
                continue;
            }
            let longest = webhook
                .expiry_warnings
                .iter()
                .max()
                .map_or(0, |w| w.seconds());
            let from = webhook.created_at.max(now - CATCH_UP);
            let until = now + TimeDelta::seconds(i64::from(longest));
            for token in self
                .source
                .tokens_ending(webhook.account_id, from, until)
                .await?
            {
                if let Some(event) = ending_event(webhook, &token, now)
                    && self.queue.enqueue_for(webhook, &event).await?
                {
                    queued += 1;
                }
            }
        }
        Ok(queued)
    }

    /// Scans every `interval` until `shutdown` says `true`.
    pub async fn run(self, interval: Duration, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            if let Err(error) = self.scan().await {
                warn!(self.log, "the webhook expiry scan failed; it runs again"; "error" => %error);
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}
