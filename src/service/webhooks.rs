//! Webhook subscriptions of an account: created (the URL checked against the
//! address guard, its name resolved now too; the signing secret returned
//! once), read, deleted, given a new secret (the previous one signs for 24
//! hours more), enabled and disabled, pinged; and their delivery log, from
//! which one delivery can be sent again. Every change is audited.

use std::sync::Arc;

use uuid::Uuid;

use super::access::AccountAccess;
use super::authorizations::Seal;
use super::error::{ServiceError, page_error};
use super::webhook_guard::AddressPolicy;
use super::webhook_secrets::SecretSealer;
use crate::clock::Clock;
use crate::domain::webhooks::{PREVIOUS_SECRET_OVERLAP, check_description};
use crate::domain::{
    AuditAction, AuditDetail, DisabledReason, EventTypeFilter, ExpiryWarning, LifecycleEvent,
    SigningSecret, ValidationError, Webhook, WebhookEventType,
};
use crate::store::{Attempt, DeliveryFilter, WebhookDeliveryLog, WebhookQueue, WebhookStore};

/// A subscription as a client asks for it, checked whole (but for the
/// resolution of its host, which [`Webhooks::create`] does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub url: url::Url,
    pub event_types: Vec<EventTypeFilter>,
    pub description: Option<String>,
    pub expiry_warnings: Vec<ExpiryWarning>,
}

impl WebhookRequest {
    pub fn parse(
        url: &str,
        event_types: &[String],
        description: Option<String>,
        expiry_warnings: Option<&[String]>,
        policy: &AddressPolicy,
    ) -> Result<Self, ValidationError> {
        Ok(Self {
            url: policy.check_url(url)?,
            event_types: EventTypeFilter::parse_list(event_types)?,
            description: check_description(description)?,
            expiry_warnings: ExpiryWarning::parse_list(expiry_warnings)?,
        })
    }
}

/// A subscription with its signing secret: the answer to create and
/// rotate-secret, the only two that show it.
#[derive(Debug, Clone)]
pub struct IssuedWebhook {
    pub webhook: Webhook,
    pub secret: SigningSecret,
}

pub struct Webhooks {
    store: Arc<dyn WebhookStore>,
    queue: Arc<dyn WebhookQueue>,
    deliveries: Arc<dyn WebhookDeliveryLog>,
    sealer: SecretSealer,
    policy: Arc<AddressPolicy>,
    clock: Arc<dyn Clock>,
}

fn detail(webhook: &Webhook, reason: Option<&str>) -> AuditDetail {
    AuditDetail::Webhook {
        webhook_id: webhook.id,
        url: webhook.url.clone(),
        reason: reason.map(str::to_owned),
    }
}

impl Webhooks {
    pub fn new(
        store: Arc<dyn WebhookStore>,
        queue: Arc<dyn WebhookQueue>,
        deliveries: Arc<dyn WebhookDeliveryLog>,
        sealer: SecretSealer,
        policy: Arc<AddressPolicy>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            queue,
            deliveries,
            sealer,
            policy,
            clock,
        }
    }

    pub fn policy(&self) -> &AddressPolicy {
        &self.policy
    }

    /// Subscribes the caller's account; `seal` records the answer (secret
    /// included, sealed) under the request's idempotency key.
    pub async fn create(
        &self,
        access: &AccountAccess,
        request: WebhookRequest,
        seal: Option<Seal<IssuedWebhook>>,
    ) -> Result<IssuedWebhook, ServiceError> {
        if let Some(host) = request.url.host_str() {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = request.url.port_or_known_default().unwrap_or(443);
            self.policy.check_resolved(host, port).await?;
        }
        let now = self.clock.now();
        let webhook = Webhook {
            id: Uuid::new_v4(),
            account_id: access.account_id(),
            url: request.url.to_string(),
            event_types: request.event_types,
            description: request.description,
            expiry_warnings: request.expiry_warnings,
            disabled: None,
            created_at: now,
        };
        let issued = IssuedWebhook {
            secret: SigningSecret::generate(),
            webhook,
        };
        let sealed = self.sealer.seal(issued.webhook.id, &issued.secret);
        let event = access
            .audit_account(AuditAction::WebhookCreate, now)
            .with_detail(detail(&issued.webhook, None));
        let completion = seal.map(|seal| seal(&issued));
        self.store
            .create_webhook(&issued.webhook, &sealed, &event, completion.as_ref())
            .await?;
        Ok(issued)
    }

    pub async fn list(&self, access: &AccountAccess) -> Result<Vec<Webhook>, ServiceError> {
        let stored = self.store.webhooks_of(access.account_id()).await?;
        Ok(stored.into_iter().map(|s| s.webhook).collect())
    }

    pub async fn get(&self, access: &AccountAccess, id: Uuid) -> Result<Webhook, ServiceError> {
        self.store
            .get_webhook(access.account_id(), id)
            .await?
            .map(|s| s.webhook)
            .ok_or(ServiceError::NotFound)
    }

    /// Subscription `id`, which must be enabled to be sent anything.
    async fn enabled(&self, access: &AccountAccess, id: Uuid) -> Result<Webhook, ServiceError> {
        let found = self.get(access, id).await?;
        if found.disabled.is_some() {
            return Err(ValidationError::new(
                "webhook_id",
                "names a disabled webhook: enable it first",
            )
            .into());
        }
        Ok(found)
    }

    pub async fn delete(&self, access: &AccountAccess, id: Uuid) -> Result<(), ServiceError> {
        let found = self.get(access, id).await?;
        let event = access
            .audit_account(AuditAction::WebhookDelete, self.clock.now())
            .with_detail(detail(&found, None));
        if !self
            .store
            .delete_webhook(access.account_id(), id, &event)
            .await?
        {
            return Err(ServiceError::NotFound);
        }
        Ok(())
    }

    /// A new secret; the current one goes on signing for 24 hours.
    pub async fn rotate_secret(
        &self,
        access: &AccountAccess,
        id: Uuid,
    ) -> Result<IssuedWebhook, ServiceError> {
        let found = self.get(access, id).await?;
        let now = self.clock.now();
        let secret = SigningSecret::generate();
        let event = access
            .audit_account(AuditAction::WebhookRotateSecret, now)
            .with_detail(detail(&found, None));
        let rotated = self
            .store
            .rotate_webhook_secret(
                access.account_id(),
                id,
                &self.sealer.seal(id, &secret),
                now + PREVIOUS_SECRET_OVERLAP,
                &event,
            )
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(IssuedWebhook {
            webhook: rotated.webhook,
            secret,
        })
    }

    /// Enables or disables the subscription; a disabled one receives
    /// nothing, and its pending events are given up.
    pub async fn set_enabled(
        &self,
        access: &AccountAccess,
        id: Uuid,
        enabled: bool,
    ) -> Result<Webhook, ServiceError> {
        let found = self.get(access, id).await?;
        let now = self.clock.now();
        let (action, disabled, reason) = if enabled {
            (AuditAction::WebhookEnable, None, None)
        } else {
            let reason = DisabledReason::Requested;
            (
                AuditAction::WebhookDisable,
                Some((now, reason)),
                Some(reason.as_str()),
            )
        };
        let event = access
            .audit_account(action, now)
            .with_detail(detail(&found, reason));
        let changed = self
            .store
            .set_webhook_disabled(access.account_id(), id, disabled, &event)
            .await?
            .ok_or(ServiceError::NotFound)?;
        Ok(changed.webhook)
    }

    /// Queues a `webhook.ping` for the subscription alone; its `webhook-id`.
    pub async fn ping(&self, access: &AccountAccess, id: Uuid) -> Result<String, ServiceError> {
        let found = self.enabled(access, id).await?;
        let ping = LifecycleEvent::new(
            WebhookEventType::WebhookPing,
            self.clock.now(),
            serde_json::json!({"account_id": found.account_id, "webhook_id": found.id}),
        );
        if !self.queue.enqueue_for(&found, &ping).await? {
            return Err(ServiceError::NotFound);
        }
        Ok(ping.message_id)
    }

    pub async fn deliveries(
        &self,
        access: &AccountAccess,
        id: Uuid,
        filter: &DeliveryFilter,
    ) -> Result<Vec<Attempt>, ServiceError> {
        self.get(access, id).await?;
        self.deliveries
            .webhook_deliveries(id, filter)
            .await
            .map_err(page_error("before", "delivery"))
    }

    /// Queues the event of delivery `delivery_id` again; its `webhook-id`
    /// (the same as before).
    pub async fn redeliver(
        &self,
        access: &AccountAccess,
        webhook_id: Uuid,
        delivery_id: Uuid,
    ) -> Result<String, ServiceError> {
        self.enabled(access, webhook_id).await?;
        self.queue
            .redeliver(
                access.account_id(),
                webhook_id,
                delivery_id,
                self.clock.now(),
            )
            .await?
            .ok_or(ServiceError::NotFound)
    }
}
