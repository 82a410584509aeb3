//! The flags of lifecycle webhooks (`hbx-sa serve`): where deliveries may go
//! beyond public addresses, and how this instance sends them.

use std::time::Duration;

use clap::Args;

use crate::config::{DEFAULT_WEBHOOK_EXPIRY_SCAN_INTERVAL, HumanDuration, WebhookSettings};
use crate::service::webhook_delivery::DeliverySettings;

#[derive(Args)]
pub struct WebhookArgs {
    /// Take webhook URLs on plain http at a loopback address, and deliver to loopback addresses (tests and development). NOT FOR PRODUCTION
    #[arg(long, env = "HBX_SA_WEBHOOK_ALLOW_LOOPBACK_HTTP")]
    pub webhook_allow_loopback_http: bool,
    /// Networks webhook deliveries may reach though they are private (addresses or networks, comma-separated in the variable)
    #[arg(long, env = "HBX_SA_WEBHOOK_ALLOW_NETWORKS", value_delimiter = ',', value_parser = parse_network)]
    pub webhook_allow_networks: Vec<ipnet::IpNet>,
    /// Webhook deliveries under way at once, per instance
    #[arg(long, env = "HBX_SA_WEBHOOK_CONCURRENCY", default_value_t = 64,
        value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub webhook_concurrency: u16,
    /// Milliseconds an idle delivery worker waits before it looks for due events again
    #[arg(long, env = "HBX_SA_WEBHOOK_POLL_INTERVAL_MS", default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub webhook_poll_interval_ms: u64,
    /// How often tokens are scanned for expiry warnings
    #[arg(long, env = "HBX_SA_WEBHOOK_EXPIRY_SCAN_INTERVAL", default_value_t = HumanDuration::from_std(DEFAULT_WEBHOOK_EXPIRY_SCAN_INTERVAL))]
    pub webhook_expiry_scan_interval: HumanDuration,
    /// Divide the webhook retry schedule and its 3-day limit by this (tests only). NOT FOR PRODUCTION
    #[arg(long, env = "HBX_SA_WEBHOOK_RETRY_SPEEDUP", default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub webhook_retry_speedup: u32,
    /// Run no webhook delivery worker or expiry scan in this instance (others on the same database deliver)
    #[arg(long, env = "HBX_SA_WEBHOOK_DELIVERY_DISABLED")]
    pub webhook_delivery_disabled: bool,
}

/// An address (a network of one) or a network.
fn parse_network(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| {
            format!("{text:?} is not an address or a network: write 10.0.0.7 or 10.0.0.0/8")
        })
}

impl WebhookArgs {
    pub fn settings(self) -> WebhookSettings {
        WebhookSettings {
            allow_loopback_http: self.webhook_allow_loopback_http,
            allow_networks: self.webhook_allow_networks,
            delivery: DeliverySettings {
                concurrency: usize::from(self.webhook_concurrency),
                poll_interval: Duration::from_millis(self.webhook_poll_interval_ms),
                retry_speedup: self.webhook_retry_speedup,
                ..DeliverySettings::default()
            },
            run_workers: !self.webhook_delivery_disabled,
            expiry_scan_interval: self
                .webhook_expiry_scan_interval
                .to_std()
                .max(Duration::from_secs(1)),
        }
    }
}
