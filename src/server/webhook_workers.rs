//! The server's webhook background work: the delivery worker, the expiry
//! scan, and the daily purge of the delivery log (30 days kept). Started
//! with the server; stopped before it closes the database, the worker first
//! finishing and recording the attempts under way.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use slog::Logger;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::App;
use crate::clock::Clock;
use crate::service::webhook_delivery::{DeliveryStats, DeliveryWorker};
use crate::service::webhook_expiry::ExpiryScan;
use crate::store::WebhookQueue;

/// How long the delivery log keeps an attempt.
pub const DELIVERY_LOG_RETENTION: TimeDelta = TimeDelta::days(30);
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

pub struct WebhookWorkers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pub stats: Arc<DeliveryStats>,
}

async fn purge(queue: Arc<dyn WebhookQueue>, clock: Arc<dyn Clock>, log: Logger) {
    loop {
        if let Err(error) = queue
            .purge_deliveries(clock.now() - DELIVERY_LOG_RETENTION)
            .await
        {
            slog::warn!(log, "cannot purge the webhook delivery log yet"; "error" => %error);
        }
        tokio::time::sleep(PURGE_INTERVAL).await;
    }
}

impl WebhookWorkers {
    pub fn start(app: &App, log: &Logger) -> Self {
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(DeliveryStats::default());
        let settings = &app.settings().webhooks;
        if !settings.run_workers {
            slog::info!(
                log,
                "webhook deliveries are left to other instances (--webhook-delivery-disabled)"
            );
            return Self {
                stop,
                tasks: Vec::new(),
                stats,
            };
        }
        let queue: Arc<dyn WebhookQueue> = app.store().clone();
        let worker = Arc::new(DeliveryWorker::new(
            queue.clone(),
            app.webhook_sealer(),
            (*app.webhook_policy()).clone(),
            app.clock().clone(),
            settings.delivery.clone(),
            stats.clone(),
            log.new(slog::o!("component" => "webhook_delivery")),
        ));
        let scan = ExpiryScan::new(
            app.store().clone(),
            queue.clone(),
            app.clock().clone(),
            log.new(slog::o!("component" => "webhook_expiry")),
        );
        let tasks = vec![
            tokio::spawn(worker.run(stopped.clone())),
            tokio::spawn(scan.run(settings.expiry_scan_interval, stopped)),
            tokio::spawn(purge(
                queue,
                app.clock().clone(),
                log.new(slog::o!("component" => "webhook_purge")),
            )),
        ];
        Self { stop, tasks, stats }
    }

    /// Stops claiming events, lets the attempts under way finish (each has
    /// its timeout) and be recorded, and gives the unused leases back.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut tasks = self.tasks;
        // The purge (last) loops forever: it is cut.
        if let Some(purge) = tasks.pop() {
            purge.abort();
        }
        for task in tasks {
            let _ = task.await;
        }
    }
}
