//! `hbx-sa webhooks deliveries`: a subscription's delivery log, read from the
//! server's storage with the API's filters and printed in the API's shape,
//! one attempt per line, newest first.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use uuid::Uuid;

use super::args::StorageArgs;
use super::error::CliError;
use super::storage::open;
use crate::api::webhooks::{
    DeliveryStatus, ListWebhookDeliveriesQuery, WebhookDelivery, WebhookEventTypeName,
};
use crate::server::webhooks::{delivery, delivery_filter};
use crate::service::ServiceError;

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Print a webhook subscription's delivery attempts as JSON lines, newest
    /// first, in the API's shape (GET .../webhooks/{id}/deliveries)
    Deliveries(DeliveriesArgs),
}

#[derive(Args)]
pub struct DeliveriesArgs {
    /// The account the subscription belongs to
    #[arg(long, env = "HBX_SA_ACCOUNT")]
    pub account: Uuid,
    /// The subscription
    #[arg(long)]
    pub webhook: Uuid,
    /// Only attempts that succeeded or failed
    #[arg(long, value_parser = parse_status)]
    pub status: Option<DeliveryStatus>,
    /// Only attempts of events of this type (token.revoked, ...)
    #[arg(long)]
    pub event_type: Option<String>,
    /// Only attempts at or after this time (RFC 3339)
    #[arg(long)]
    pub since: Option<DateTime<Utc>>,
    /// Print at most this many attempts (1 to 1000; default 100)
    #[arg(long)]
    pub limit: Option<u32>,
    /// Only attempts older than this one (by id), as the API pages
    #[arg(long)]
    pub before: Option<Uuid>,
    #[command(flatten)]
    pub storage: StorageArgs,
}

fn parse_status(text: &str) -> Result<DeliveryStatus, String> {
    match text {
        "succeeded" => Ok(DeliveryStatus::Succeeded),
        "failed" => Ok(DeliveryStatus::Failed),
        _ => Err("use succeeded or failed".to_owned()),
    }
}

pub async fn run(command: WebhooksCommand) -> Result<Vec<WebhookDelivery>, CliError> {
    let WebhooksCommand::Deliveries(args) = command;
    let app = open(args.storage).await?;
    let store = app.store();
    store
        .get_webhook(args.account, args.webhook)
        .await
        .map_err(ServiceError::from)?
        .ok_or(ServiceError::NotFound)?;
    let filter = delivery_filter(ListWebhookDeliveriesQuery {
        status: args.status,
        event_type: args.event_type.map(WebhookEventTypeName),
        since: args.since,
        limit: args.limit,
        before: args.before,
    })?;
    let page = store
        .webhook_deliveries(args.webhook, &filter)
        .await
        .map_err(ServiceError::from)?;
    Ok(page.into_iter().map(delivery).collect())
}
