//! The delivery worker: leases due events from the outbox (one attempt of
//! an event at a time across every instance), sends each as a Standard
//! Webhooks 1.0 request (signed with the subscription's secret, and its
//! previous one during the overlap), and records what happened: 2xx is
//! delivered; 410 gives up and disables the subscription; anything else is
//! retried on the Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h,
//! 10 h, 10 h..., ±20 %), later if a 429 or 503 says `Retry-After`, until 3
//! days have passed, when the subscription is disabled as failing. Requests
//! go through the address guard, follow no redirect and have 15 s each.
//!
//! At most `concurrency` attempts run at once; their outcomes are written
//! in batches by one writer. On shutdown the worker claims nothing more,
//! lets the attempts under way finish and be written, and gives back the
//! leases it did not use; a worker killed outright leaves leases that run
//! out, and its events are sent again with the same `webhook-id`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use slog::{Logger, info, warn};
use tokio::sync::{Semaphore, mpsc, watch};
use uuid::Uuid;

use super::webhook_guard::{AddressPolicy, GuardedResolver, RefusedAddress};
use super::webhook_secrets::SecretSealer;
use crate::clock::Clock;
use crate::domain::audit::{Actor, AuditDetail, AuditEvent, Origin};
use crate::domain::webhooks::{RETRY_PERIOD, retry_delay, with_jitter};
use crate::domain::{AuditAction, DisabledReason};
use crate::store::{Attempt, AttemptOutcome, DueEvent, NextStep, WebhookQueue};

/// The most of an answer kept in the delivery log.
pub const RESPONSE_EXCERPT_BYTES: usize = 1024;

/// How often the backlog's size and age are read for the metrics.
const BACKLOG_INTERVAL: Duration = Duration::from_secs(5);

/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// How the worker runs; the defaults are production's.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// Attempts under way at once.
    pub concurrency: usize,
    /// How often the outbox is asked for due events when it had none.
    pub poll_interval: Duration,
    pub attempt_timeout: Duration,
    /// How long a claimed event stays leased (longer than an attempt).
    pub lease: Duration,
    /// Divides the retry schedule and the retry period (tests only).
    pub retry_speedup: u32,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        Self {
            concurrency: 64,
            poll_interval: Duration::from_millis(500),
            attempt_timeout: Duration::from_secs(15),
            lease: Duration::from_secs(60),
            retry_speedup: 1,
        }
    }
}

/// Counters and gauges for the metrics endpoint.
#[derive(Debug, Default)]
pub struct DeliveryStats {
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    pub gave_up: AtomicU64,
    pub pending: AtomicI64,
    /// Seconds; -1 when nothing is pending.
    pub oldest_pending_age: AtomicI64,
}

pub struct DeliveryWorker {
    queue: Arc<dyn WebhookQueue>,
    sealer: SecretSealer,
    policy: Arc<AddressPolicy>,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    settings: DeliverySettings,
    owner: Uuid,
    stats: Arc<DeliveryStats>,
    log: Logger,
}

/// The client every delivery goes through: guarded resolution, no proxy,
/// no redirects, bounded time.
pub fn delivery_client(policy: Arc<AddressPolicy>, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(GuardedResolver { policy })
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .user_agent(concat!("hbx-sa-webhooks/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(64)
        .build()
        .expect("the delivery client's settings are valid")
}

/// `Retry-After` as seconds or an HTTP date, from `now`.
fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&Utc) - now).to_std().ok()
}

fn unit_random() -> f64 {
    f64::from(getrandom::u32().unwrap_or(u32::MAX / 2)) / (f64::from(u32::MAX) + 1.0)
}

/// What an error of the client says, for the delivery log (never a secret:
/// the request carries none).
fn describe(error: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<RefusedAddress>() {
            return format!("refused: {refused}");
        }
        source = cause.source();
    }
    if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        "the request failed".to_owned()
    }
}

impl DeliveryWorker {
    pub fn new(
        queue: Arc<dyn WebhookQueue>,
        sealer: SecretSealer,
        policy: AddressPolicy,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
        stats: Arc<DeliveryStats>,
        log: Logger,
    ) -> Self {
        let policy = Arc::new(policy);
        Self {
            queue,
            sealer,
            client: delivery_client(policy.clone(), settings.attempt_timeout),
            policy,
            clock,
            settings,
            owner: Uuid::new_v4(),
            stats,
            log,
        }
    }

    /// Runs until `shutdown` says `true`, then finishes what is under way.
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let concurrency = self.settings.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(concurrency));
        let (outcomes, mut received) = mpsc::channel::<AttemptOutcome>(concurrency * 2);
        let writer = {
            let worker = self.clone();
            tokio::spawn(async move {
                let mut batch = Vec::new();
                while received.recv_many(&mut batch, 256).await > 0 {
                    if let Err(error) = worker.queue.finish_attempts(worker.owner, &batch).await {
                        warn!(worker.log, "webhook outcomes not recorded; their events will be sent again";
                            "error" => %error, "attempts" => batch.len());
                    }
                    batch.clear();
                }
            })
        };
        let mut last_backlog: Option<Instant> = None;
        while !*shutdown.borrow() {
            if last_backlog.is_none_or(|at| at.elapsed() >= BACKLOG_INTERVAL) {
                self.refresh_backlog().await;
                last_backlog = Some(Instant::now());
            }
            let free = permits.available_permits();
            let claimed = if free == 0 {
                Ok(Vec::new())
            } else {
                let now = self.clock.now();
                let lease = TimeDelta::from_std(self.settings.lease).unwrap_or(TimeDelta::MAX);
                let limit = u32::try_from(free.min(256)).unwrap_or(256);
                self.queue
                    .claim_due_events(self.owner, now, now + lease, limit)
                    .await
            };
            let claimed = claimed.unwrap_or_else(|error| {
                warn!(self.log, "cannot claim webhook events"; "error" => %error);
                Vec::new()
            });
            if claimed.is_empty() {
                let wait = if free == 0 {
                    Duration::from_millis(5)
                } else {
                    self.settings.poll_interval
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            for event in claimed {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let worker = self.clone();
                let outcomes = outcomes.clone();
                tokio::spawn(async move {
                    let outcome = worker.attempt(event).await;
                    let _ = outcomes.send(outcome).await;
                    drop(permit);
                });
            }
        }
        let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
        let _ = permits.acquire_many(all).await;
        drop(outcomes);
        let _ = writer.await;
        if let Err(error) = self.queue.release_leases(self.owner).await {
            warn!(self.log, "webhook leases not given back; they run out by themselves";
                "error" => %error);
        }
        info!(self.log, "webhook deliveries stopped");
    }

    async fn refresh_backlog(&self) {
        if let Ok(backlog) = self.queue.backlog().await {
            self.stats.pending.store(backlog.pending, Ordering::Relaxed);
            let age = backlog
                .oldest
                .map_or(-1, |at| (self.clock.now() - at).num_seconds().max(0));
            self.stats.oldest_pending_age.store(age, Ordering::Relaxed);
        }
    }

    /// The signature header: every secret that signs now, space-separated.
    fn signatures(
        &self,
        event: &DueEvent,
        timestamp: i64,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let id = event.webhook.webhook.id;
        let mut secrets = vec![self.sealer.open(id, &event.webhook.secret)];
        if let Some((previous, until)) = &event.webhook.previous_secret
            && *until > now
        {
            secrets.push(self.sealer.open(id, previous));
        }
        let signatures: Vec<String> = secrets
            .into_iter()
            .map(|secret| {
                secret
                    .map(|s| s.sign(&event.message_id, timestamp, event.payload.as_bytes()))
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<_, _>>()?;
        Ok(signatures.join(" "))
    }

    /// One attempt of `event`, and what follows it.
    pub async fn attempt(&self, event: DueEvent) -> AttemptOutcome {
        let now = self.clock.now();
        let started = Instant::now();
        let timestamp = now.timestamp();
        let url = &event.webhook.webhook.url;
        // The URL as the policy stands now (an IP literal is never resolved,
        // so the resolver's check would not see it).
        let checked = self
            .policy
            .check_url(url)
            .map_err(|refused| format!("refused: the url {}", refused.message))
            .and_then(|_| self.signatures(&event, timestamp, now));
        let (status, body, error, retry_hint) = match checked {
            Err(error) => (None, None, Some(error), None),
            Ok(signature) => {
                let sent = self
                    .client
                    .post(url)
                    .header("content-type", "application/json")
                    .header("webhook-id", &event.message_id)
                    .header("webhook-timestamp", timestamp.to_string())
                    .header("webhook-signature", signature)
                    .body(event.payload.clone())
                    .send()
                    .await;
                match sent {
                    Err(error) => (None, None, Some(describe(&error)), None),
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let hint = response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| retry_after(v, now));
                        (Some(status), excerpt(response).await, None, hint)
                    }
                }
            }
        };
        let duration_ms = u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX);
        let succeeded = status.is_some_and(|s| (200..300).contains(&s));
        let next = if succeeded {
            self.stats.succeeded.fetch_add(1, Ordering::Relaxed);
            NextStep::Delivered
        } else {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            self.after_failure(&event, now, status, retry_hint)
        };
        let disabling = match next {
            NextStep::GiveUp(reason) => {
                self.stats.gave_up.fetch_add(1, Ordering::Relaxed);
                let webhook = &event.webhook.webhook;
                warn!(self.log, "webhook disabled"; "webhook_id" => %webhook.id,
                    "account_id" => %webhook.account_id, "reason" => reason.as_str());
                Some(
                    AuditEvent::new(
                        now,
                        webhook.account_id,
                        None,
                        AuditAction::WebhookDisable,
                        Actor::Operator,
                        Origin::default(),
                    )
                    .with_detail(AuditDetail::Webhook {
                        webhook_id: webhook.id,
                        url: webhook.url.clone(),
                        reason: Some(reason.as_str().to_owned()),
                    }),
                )
            }
            _ => None,
        };
        AttemptOutcome {
            attempt: Attempt {
                id: Uuid::new_v4(),
                webhook_id: event.webhook.webhook.id,
                message_id: event.message_id.clone(),
                event_type: event.event_type.clone(),
                attempt: event.attempts + 1,
                attempted_at: now,
                succeeded,
                response_status: status,
                duration_ms,
                response_body: body,
                error,
            },
            account_id: event.webhook.webhook.account_id,
            next,
            disabling,
        }
    }

    fn after_failure(
        &self,
        event: &DueEvent,
        now: DateTime<Utc>,
        status: Option<u16>,
        retry_hint: Option<Duration>,
    ) -> NextStep {
        if status == Some(410) {
            return NextStep::GiveUp(DisabledReason::Gone);
        }
        let speedup = self.settings.retry_speedup.max(1);
        let scheduled = with_jitter(retry_delay(event.attempts + 1), unit_random()) / speedup;
        let honoured = match (status, retry_hint) {
            (Some(429 | 503), Some(hint)) => scheduled.max(hint.min(MAX_RETRY_AFTER)),
            _ => scheduled,
        };
        let period = TimeDelta::from_std(RETRY_PERIOD / speedup).unwrap_or(TimeDelta::MAX);
        let next = now + TimeDelta::from_std(honoured).unwrap_or(TimeDelta::MAX);
        if next > event.created_at + period {
            NextStep::GiveUp(DisabledReason::Failing)
        } else {
            NextStep::RetryAt(next)
        }
    }
}

/// The first kilobyte of an answer (not more is read), as text.
async fn excerpt(mut response: reqwest::Response) -> Option<String> {
    let mut kept = Vec::new();
    while kept.len() < RESPONSE_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            _ => break,
        }
    }
    kept.truncate(RESPONSE_EXCERPT_BYTES);
    (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now), None);
        assert_eq!(retry_after("soon", now), None);
        let unit = unit_random();
        assert!((0.0..1.0).contains(&unit));
    }
}
