//! The webhook operations: subscriptions (list, create, get, delete,
//! rotate-secret, ping, enable, disable) and their delivery log (list,
//! redeliver). Each handler authenticates, authorizes (`auth.manage`), turns
//! the API's words into the domain's, calls the service and shapes the
//! response.

use chrono::{DateTime, Utc};
use dropshot::{
    HttpCodedResponse, HttpError, HttpResponseAccepted, HttpResponseCreated, HttpResponseDeleted,
    HttpResponseHeaders, HttpResponseOk, RequestContext,
};
use slog::info;
use uuid::Uuid;

use super::authentication::authorize;
use super::authorizations::NEEDED;
use super::context::ApiContext;
use super::error::service_error;
use super::idempotent::{Idempotent, write_idempotently};
use super::service_accounts::no_store;
use crate::api::extract::{HeaderParams, JsonBody, PathParams, QueryParams};
use crate::api::types::{AccountPath, IdempotencyHeaders};
use crate::api::webhooks::{self as api, CreateWebhookRequest, ListWebhookDeliveriesQuery};
use crate::domain::{self, AuditAction, DisabledReason, ValidationError, WebhookEventType};
use crate::service::webhooks::{IssuedWebhook, WebhookRequest};
use crate::store::{Attempt, DeliveryFilter};

/// The API's shape of a subscription.
fn record(webhook: &domain::Webhook) -> api::Webhook {
    let (disabled_at, disabled_reason) = match webhook.disabled {
        Some((at, reason)) => (
            Some(at),
            Some(match reason {
                DisabledReason::Requested => api::WebhookDisabledReason::Requested,
                DisabledReason::Gone => api::WebhookDisabledReason::Gone,
                DisabledReason::Failing => api::WebhookDisabledReason::Failing,
            }),
        ),
        None => (None, None),
    };
    api::Webhook {
        id: webhook.id,
        url: webhook.url.clone(),
        event_types: webhook.event_types.iter().map(|f| f.to_text()).collect(),
        description: webhook.description.clone(),
        expiry_warnings: webhook
            .expiry_warnings
            .iter()
            .map(|w| w.to_text())
            .collect(),
        enabled: webhook.disabled.is_none(),
        disabled_at,
        disabled_reason,
        created_at: webhook.created_at,
    }
}

fn with_secret(issued: &IssuedWebhook) -> api::WebhookWithSecret {
    api::WebhookWithSecret {
        webhook: record(&issued.webhook),
        secret: issued.secret.reveal(),
    }
}

/// The API's shape of a delivery attempt.
pub fn delivery(attempt: Attempt) -> api::WebhookDelivery {
    api::WebhookDelivery {
        id: attempt.id,
        message_id: attempt.message_id,
        event_type: attempt.event_type,
        attempt: attempt.attempt,
        attempted_at: attempt.attempted_at,
        status: if attempt.succeeded {
            api::DeliveryStatus::Succeeded
        } else {
            api::DeliveryStatus::Failed
        },
        response_status: attempt.response_status,
        duration_ms: attempt.duration_ms,
        response_body: attempt.response_body,
        error: attempt.error,
    }
}

fn collection(account_id: Uuid) -> String {
    format!("/v1/public/accounts/{account_id}/webhooks")
}

pub async fn list(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
) -> Result<HttpResponseOk<Vec<api::Webhook>>, HttpError> {
    let access = authorize(rqctx, path.into_inner().account_id, NEEDED).await?;
    let webhooks = rqctx.context().webhooks.list(&access).await;
    let webhooks = webhooks.map_err(service_error)?;
    Ok(HttpResponseOk(webhooks.iter().map(record).collect()))
}

pub async fn create(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<AccountPath>,
    headers: HeaderParams<IdempotencyHeaders>,
    body: JsonBody<CreateWebhookRequest>,
) -> Result<
    HttpResponseHeaders<HttpResponseCreated<api::WebhookWithSecret>, api::WebhookCreatedHeaders>,
    HttpError,
> {
    let account_id = path.into_inner().account_id;
    let access = authorize(rqctx, account_id, NEEDED).await?;
    let request = body.decode()?;
    let webhooks = &rqctx.context().webhooks;
    let event_types: Vec<String> = request.event_types.iter().map(|t| t.0.clone()).collect();
    let warnings: Option<Vec<String>> = request
        .expiry_warnings
        .as_ref()
        .map(|all| all.iter().map(|w| w.0.clone()).collect());
    let parsed = WebhookRequest::parse(
        &request.url,
        &event_types,
        request.description.clone(),
        warnings.as_deref(),
        webhooks.policy(),
    )
    .map_err(|e| service_error(e.into()))?;
    let idempotent = Idempotent {
        key: headers.into_inner().idempotency_key,
        path: collection(account_id),
        request: &request,
        status: HttpResponseCreated::<api::WebhookWithSecret>::STATUS_CODE.as_u16(),
        of: AuditAction::WebhookCreate,
    };
    let (created, replayed) = write_idempotently(rqctx, &access, idempotent, with_secret, |seal| {
        webhooks.create(&access, parsed, seal)
    })
    .await?;
    if !replayed {
        info!(rqctx.log, "webhook created";
            "account_id" => %account_id,
            "webhook_id" => %created.webhook.id,
            "principal" => access.principal().log_id());
    }
    let headers = api::WebhookCreatedHeaders {
        location: format!("{}/{}", collection(account_id), created.webhook.id),
        cache_control: no_store(),
        idempotent_replayed: replayed.then(|| "true".to_owned()),
    };
    Ok(HttpResponseHeaders::new(
        HttpResponseCreated(created),
        headers,
    ))
}

pub async fn get(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<api::WebhookPath>,
) -> Result<HttpResponseOk<api::Webhook>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let found = rqctx.context().webhooks.get(&access, path.webhook_id).await;
    Ok(HttpResponseOk(record(&found.map_err(service_error)?)))
}

pub async fn delete(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<api::WebhookPath>,
) -> Result<HttpResponseDeleted, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let deleted = rqctx
        .context()
        .webhooks
        .delete(&access, path.webhook_id)
        .await;
    deleted.map_err(service_error)?;
    info!(rqctx.log, "webhook deleted";
        "account_id" => %path.account_id,
        "webhook_id" => %path.webhook_id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseDeleted())
}

pub async fn rotate_secret(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<api::WebhookPath>,
) -> Result<HttpResponseOk<api::WebhookWithSecret>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let webhooks = &rqctx.context().webhooks;
    let rotated = webhooks.rotate_secret(&access, path.webhook_id).await;
    let rotated = rotated.map_err(service_error)?;
    info!(rqctx.log, "webhook secret rotated";
        "account_id" => %path.account_id,
        "webhook_id" => %path.webhook_id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseOk(with_secret(&rotated)))
}

pub async fn ping(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<api::WebhookPath>,
) -> Result<HttpResponseAccepted<api::QueuedWebhookEvent>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let queued = rqctx
        .context()
        .webhooks
        .ping(&access, path.webhook_id)
        .await;
    let message_id = queued.map_err(service_error)?;
    Ok(HttpResponseAccepted(api::QueuedWebhookEvent { message_id }))
}

pub async fn set_enabled(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<api::WebhookPath>,
    enabled: bool,
) -> Result<HttpResponseOk<api::Webhook>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let webhooks = &rqctx.context().webhooks;
    let changed = webhooks
        .set_enabled(&access, path.webhook_id, enabled)
        .await;
    let changed = changed.map_err(service_error)?;
    info!(rqctx.log, "webhook enabled or disabled";
        "enabled" => enabled,
        "account_id" => %path.account_id,
        "webhook_id" => %path.webhook_id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseOk(record(&changed)))
}

/// The most attempts one page lists, and the default.
const MAX_PAGE: u32 = 1000;
const DEFAULT_PAGE: u32 = 100;

/// The delivery log's query, checked.
pub fn delivery_filter(
    query: ListWebhookDeliveriesQuery,
) -> Result<DeliveryFilter, ValidationError> {
    let limit = match query.limit {
        None => DEFAULT_PAGE,
        Some(limit @ 1..=MAX_PAGE) => limit,
        Some(_) => {
            return Err(ValidationError::new("limit", "must be between 1 and 1000"));
        }
    };
    let event_type = match query.event_type {
        None => None,
        Some(name) => Some(WebhookEventType::parse(&name.0)?.as_str().to_owned()),
    };
    let since: Option<DateTime<Utc>> = query.since;
    Ok(DeliveryFilter {
        succeeded: query.status.map(|s| s == api::DeliveryStatus::Succeeded),
        event_type,
        since,
        before: query.before,
        limit,
    })
}

pub async fn deliveries(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<api::WebhookPath>,
    query: QueryParams<ListWebhookDeliveriesQuery>,
) -> Result<HttpResponseOk<Vec<api::WebhookDelivery>>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let filter = delivery_filter(query.into_inner()).map_err(|e| service_error(e.into()))?;
    let webhooks = &rqctx.context().webhooks;
    let page = webhooks.deliveries(&access, path.webhook_id, &filter).await;
    let page = page.map_err(service_error)?;
    Ok(HttpResponseOk(page.into_iter().map(delivery).collect()))
}

pub async fn redeliver(
    rqctx: &RequestContext<ApiContext>,
    path: PathParams<api::WebhookDeliveryPath>,
) -> Result<HttpResponseAccepted<api::QueuedWebhookEvent>, HttpError> {
    let path = path.into_inner();
    let access = authorize(rqctx, path.account_id, NEEDED).await?;
    let webhooks = &rqctx.context().webhooks;
    let queued = webhooks
        .redeliver(&access, path.webhook_id, path.delivery_id)
        .await;
    let message_id = queued.map_err(service_error)?;
    info!(rqctx.log, "webhook event queued again";
        "account_id" => %path.account_id,
        "webhook_id" => %path.webhook_id,
        "delivery_id" => %path.delivery_id,
        "principal" => access.principal().log_id());
    Ok(HttpResponseAccepted(api::QueuedWebhookEvent { message_id }))
}
