//! Prometheus metrics (text format at `GET /metrics` on the metrics address,
//! `--metrics-bind`, loopback unless the operator says otherwise; never on the
//! API's address, since the authentication counters' reasons are what every
//! stranger is refused with a single `invalid_token`):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `hbx_sa_http_requests_total` | counter | `operation` (the operation id Dropshot ran, operational endpoints included; `none` for a request answered before any operation ran: unknown path, wrong method, unreadable path, query or body), `status` |
//! | `hbx_sa_http_request_duration_seconds` | histogram | `operation` |
//! | `hbx_sa_authentications_total` | counter | `kind` (`service_account`, `user`, `introspection_client`, `unknown`), `outcome` (`ok`, `missing`, `invalid`, `unavailable`, `error`), `reason` |
//! | `hbx_sa_store_connections` | gauge | `pool` (`readers`, `writer`), `state` (`idle`, `in_use`) |
//! | `hbx_sa_store_errors_total` | counter | `kind` (`unavailable`, `internal`) |
//! | `hbx_sa_store_up` | gauge | (1 while the database answers, 0 while it is known to be down) |
//! | `hbx_sa_credential_cache_misses_total` | counter | |
//! | `hbx_sa_active_service_accounts` | gauge | (not revoked, all accounts; counted in the background, at most once a minute, a scrape never waits for it) |
//! | `hbx_sa_webhook_deliveries_total` | counter | `outcome` (`succeeded`, `failed`: every failed attempt, `gave_up`: events given up) |
//! | `hbx_sa_webhook_pending_events` | gauge | (in every instance's outbox; read every 5 s) |
//! | `hbx_sa_webhook_oldest_pending_seconds` | gauge | (age of the oldest pending event; 0 when none) |
//!
//! Label values are fixed strings chosen by the code, never request data.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::auth::cache::CredentialCache;
use crate::clock::Clock;
use crate::service::webhook_delivery::DeliveryStats;
use crate::store::{ServiceAccountStore, StoreHealth};

/// What a scrape reads besides the counters: the store's health and pools,
/// the count of active service accounts, and the credential cache.
#[derive(Clone)]
pub struct MetricsSources {
    pub health: Arc<dyn StoreHealth>,
    pub active_count: Arc<ActiveCount>,
    pub cache: Option<Arc<CredentialCache>>,
    /// The webhook delivery worker's counts.
    pub deliveries: Option<Arc<DeliveryStats>>,
}

/// The count of active service accounts, read from the store in the
/// background at most once per [`ActiveCount::INTERVAL`] of the injected
/// clock: with millions of service accounts a count is a real query, and a
/// scrape (however many scrapers there are) must neither wait for it nor
/// start one each time.
pub struct ActiveCount {
    service_accounts: Arc<dyn ServiceAccountStore>,
    clock: Arc<dyn Clock>,
    /// When the last count was started.
    last_started: Mutex<Option<DateTime<Utc>>>,
}

impl ActiveCount {
    /// Least time between two counts.
    pub const INTERVAL: TimeDelta = TimeDelta::seconds(60);

    pub fn new(service_accounts: Arc<dyn ServiceAccountStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            service_accounts,
            clock,
            last_started: Mutex::new(None),
        }
    }

    /// Starts a count in the background unless one was started less than
    /// [`Self::INTERVAL`] ago; `gauge` is set when it finishes (and left as
    /// it was if the store cannot answer).
    fn refresh_if_due(self: &Arc<Self>, gauge: &Gauge) {
        let now = self.clock.now();
        {
            let mut last = self
                .last_started
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| now < at + Self::INTERVAL && now >= at) {
                return;
            }
            *last = Some(now);
        }
        let this = self.clone();
        let gauge = gauge.clone();
        tokio::spawn(async move {
            if let Ok(count) = this.service_accounts.count_active_service_accounts().await {
                gauge.set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        });
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthLabels {
    kind: &'static str,
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreErrorLabels {
    kind: &'static str,
}

/// How an authentication ended, for `hbx_sa_authentications_total`.
#[derive(Debug, Clone, Copy)]
pub struct AuthOutcome {
    pub kind: &'static str,
    pub outcome: &'static str,
    pub reason: &'static str,
}

/// The `operation` label of requests no operation answered.
pub const NO_OPERATION: &str = "none";

fn latency_histogram() -> Histogram {
    // 100 µs to about 3.3 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabels, Histogram, fn() -> Histogram>,
    authentications: Family<AuthLabels, Counter>,
    connections: Family<PoolLabels, Gauge>,
    store_errors: Family<StoreErrorLabels, Counter>,
    store_up: Gauge,
    cache_misses: Counter,
    active_service_accounts: Gauge,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
    webhook_pending: Gauge,
    webhook_oldest_pending: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<OperationLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let authentications = Family::<AuthLabels, Counter>::default();
        let connections = Family::<PoolLabels, Gauge>::default();
        let store_errors = Family::<StoreErrorLabels, Counter>::default();
        let store_up = Gauge::default();
        let cache_misses = Counter::default();
        let active_service_accounts = Gauge::default();
        registry.register(
            "hbx_sa_http_requests",
            "Requests answered, by operation (none: answered before any operation ran) and status",
            requests.clone(),
        );
        registry.register(
            "hbx_sa_http_request_duration_seconds",
            "Time to answer a request, by operation",
            latency.clone(),
        );
        registry.register(
            "hbx_sa_authentications",
            "Credential checks, by credential kind, outcome and reason",
            authentications.clone(),
        );
        registry.register(
            "hbx_sa_store_connections",
            "Database connections, by pool and state",
            connections.clone(),
        );
        registry.register(
            "hbx_sa_store_errors",
            "Database operations that failed, by kind",
            store_errors.clone(),
        );
        registry.register(
            "hbx_sa_store_up",
            "1 while the database answers, 0 while it is known to be down",
            store_up.clone(),
        );
        registry.register(
            "hbx_sa_credential_cache_misses",
            "Credential lookups that went to the database",
            cache_misses.clone(),
        );
        registry.register(
            "hbx_sa_active_service_accounts",
            "Service accounts that are not revoked, in every account",
            active_service_accounts.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        let webhook_pending = Gauge::default();
        let webhook_oldest_pending = Gauge::default();
        registry.register(
            "hbx_sa_webhook_deliveries",
            "Webhook delivery attempts by outcome, and events given up",
            webhook_deliveries.clone(),
        );
        registry.register(
            "hbx_sa_webhook_pending_events",
            "Webhook events not yet delivered nor given up",
            webhook_pending.clone(),
        );
        registry.register(
            "hbx_sa_webhook_oldest_pending_seconds",
            "Age of the oldest pending webhook event (0: none)",
            webhook_oldest_pending.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            authentications,
            connections,
            store_errors,
            store_up,
            cache_misses,
            active_service_accounts,
            webhook_deliveries,
            webhook_pending,
            webhook_oldest_pending,
        }
    }
}

impl Metrics {
    fn webhook_figures(&self, stats: &DeliveryStats) {
        use std::sync::atomic::Ordering::Relaxed;
        for (outcome, total) in [
            ("succeeded", &stats.succeeded),
            ("failed", &stats.failed),
            ("gave_up", &stats.gave_up),
        ] {
            let counter = self
                .webhook_deliveries
                .get_or_create(&OutcomeLabels { outcome })
                .clone();
            counter.inc_by(total.load(Relaxed).saturating_sub(counter.get()));
        }
        self.webhook_pending.set(stats.pending.load(Relaxed));
        self.webhook_oldest_pending
            .set(stats.oldest_pending_age.load(Relaxed).max(0));
    }

    pub fn request(&self, operation: &'static str, status: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels { operation, status })
            .inc();
        self.latency
            .get_or_create(&OperationLabels { operation })
            .observe(took.as_secs_f64());
    }

    /// A request answered before any operation ran (by Dropshot's router, or
    /// an extractor that could not read the path, query or body).
    pub fn request_before_any_operation(&self, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                operation: NO_OPERATION,
                status,
            })
            .inc();
    }

    pub fn authentication(&self, outcome: AuthOutcome) {
        self.authentications
            .get_or_create(&AuthLabels {
                kind: outcome.kind,
                outcome: outcome.outcome,
                reason: outcome.reason,
            })
            .inc();
    }

    /// The text exposition, with the store's pool figures read now (and the
    /// active count as last counted).
    pub async fn render(&self, sources: &MetricsSources) -> String {
        let stats = sources.health.stats();
        for pool in &stats.pools {
            for (state, value) in [("idle", pool.idle), ("in_use", pool.size - pool.idle)] {
                self.connections
                    .get_or_create(&PoolLabels {
                        pool: pool.name,
                        state,
                    })
                    .set(i64::from(value));
            }
        }
        for (kind, total) in [
            ("unavailable", stats.unavailable_errors),
            ("internal", stats.internal_errors),
        ] {
            let counter = self
                .store_errors
                .get_or_create(&StoreErrorLabels { kind })
                .clone();
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        self.store_up.set(i64::from(!stats.down));
        if let Some(cache) = &sources.cache {
            self.cache_misses
                .inc_by(cache.misses().saturating_sub(self.cache_misses.get()));
        }
        sources
            .active_count
            .refresh_if_due(&self.active_service_accounts);
        if let Some(deliveries) = &sources.deliveries {
            self.webhook_figures(deliveries);
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a string cannot fail");
        text
    }
}
