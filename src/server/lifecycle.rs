//! The server's life: it starts the API (plain HTTP or TLS), the metrics
//! listener on its own address (loopback by default), and the background
//! work that outlives single requests (recording `last_used_at`, watching
//! other processes' credential changes, deleting expired idempotency
//! records); and it stops them in order, without losing what is pending.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dropshot::{
    ApiDescription, ConfigDropshot, ConfigTls, HandlerTaskMode, HttpError, HttpServer,
    RequestContext, ServerBuilder,
};
use slog::Logger;

use super::context::ApiContext;
use super::frame::{Detached, Frame, Observed, observe};
use super::metrics::{ActiveCount, Metrics, MetricsSources};
use super::operations::metrics_response;
use super::rate_limit::RateLimiter;
use super::request_log::RequestLines;
use super::webhook_workers::WebhookWorkers;
use crate::api::REQUEST_BODY_MAX_BYTES;
use crate::app::App;
use crate::auth::last_use::LastUseRecorder;
use crate::auth::leaks::Sender;
use crate::service::idempotency::{CLEANUP_INTERVAL, Idempotency};
use crate::service::leaks::MAX_TOKENS_PER_REQUEST;

/// The HTTP server could not start (the address is taken, say).
#[derive(Debug, thiserror::Error)]
#[error("cannot start the HTTP server on {bind}")]
pub struct StartError {
    bind: SocketAddr,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

/// The server stopped with an error, or could not write what was pending.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    #[error("the HTTP server failed: {0}")]
    Http(String),
    #[error("cannot record the last uses of tokens")]
    LastUse(#[source] crate::store::StoreError),
}

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Where and how to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    pub bind: SocketAddr,
    /// Serve TLS (none: plain HTTP).
    pub tls: Option<TlsFiles>,
    /// Where `/metrics` is served (never on the API's address: the
    /// authentication counters' reasons are no stranger's business).
    pub metrics_bind: SocketAddr,
}

/// Where the command line serves metrics when not told otherwise: loopback
/// only (a scraper elsewhere is the operator's explicit choice), on the port
/// registered for Prometheus exporters of this kind.
pub const DEFAULT_METRICS_BIND: &str = "127.0.0.1:9464";

impl ServerOptions {
    /// Plain HTTP on `bind`, metrics on a free loopback port
    /// ([`Server::metrics_addr`] says which).
    pub fn plain(bind: SocketAddr) -> Self {
        Self {
            bind,
            tls: None,
            metrics_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

/// A running server and the background work that outlives single requests.
pub struct Server {
    http: HttpServer<ApiContext>,
    metrics_http: HttpServer<MetricsContext>,
    last_use: Arc<LastUseRecorder>,
    /// State-changing handlers still running for clients that went away.
    detached: Arc<Detached>,
    /// Watches other processes' changes for the credential cache.
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// Deletes expired idempotency records.
    cleanup: tokio::task::JoinHandle<()>,
    /// Delivers webhooks, scans for expiring tokens.
    webhook_workers: WebhookWorkers,
    log: Logger,
}

impl Server {
    /// Starts serving `app` with plain HTTP on `bind` (port 0 picks a free
    /// one; see [`Server::local_addr`]).
    pub fn start(app: &App, bind: SocketAddr, log: Logger) -> Result<Self, StartError> {
        Self::start_with(app, &ServerOptions::plain(bind), log)
    }

    pub fn start_with(app: &App, options: &ServerOptions, log: Logger) -> Result<Self, StartError> {
        let metrics = Arc::new(Metrics::default());
        let request_lines = RequestLines::new({
            let metrics = metrics.clone();
            Arc::new(move |status| metrics.request_before_any_operation(status))
        });
        let frame = Frame {
            metrics,
            request_lines,
            detached: Arc::default(),
        };
        let log = frame.request_lines.wrap(log);
        let webhook_workers = WebhookWorkers::start(app, &log);
        let metrics_sources = MetricsSources {
            health: app.store().clone(),
            active_count: Arc::new(ActiveCount::new(app.store().clone(), app.clock().clone())),
            cache: app.credential_cache(),
            deliveries: Some(webhook_workers.stats.clone()),
        };
        let last_use = app.start_last_use_recorder(log.new(slog::o!("component" => "last_use")));
        let idempotency = Arc::new(app.idempotency());
        let cleanup = tokio::spawn(delete_expired_idempotency_records(
            idempotency.clone(),
            log.new(slog::o!("component" => "idempotency")),
        ));
        let context = ApiContext {
            frame: frame.clone(),
            authenticator: app.authenticator(Some(last_use.clone())),
            authorizer: app.authorizer(),
            authorizations: app.authorizations(),
            role_assignments: app.role_assignments(),
            audit_log: app.audit_log(),
            introspection_clients: app.introspection_clients(),
            service_accounts: app.service_accounts(),
            idempotency,
            identities: app.identities(),
            health: app.store().clone(),
            leaks: app.leaks(),
            github_keys: app.sender_keys(Sender::GitHub),
            gitlab_keys: app.sender_keys(Sender::GitLab),
            public_revocations: RateLimiter::new(
                app.settings().secret_scanning.public_revoke_rate,
                u32::try_from(MAX_TOKENS_PER_REQUEST).unwrap_or(u32::MAX),
                app.clock().clone(),
            ),
            trusted_proxies: app.settings().secret_scanning.trusted_proxies.clone(),
            public_revoke_ipv6_prefix: app.settings().secret_scanning.public_revoke_ipv6_prefix,
            identity_providers: app.identity_providers(),
            federation_rules: app.federation_rules(),
            token_exchange: app.token_exchange(&log),
            exchanges_by_address: RateLimiter::new(
                app.settings().exchange_rate_per_address,
                1,
                app.clock().clone(),
            ),
            exchanges_by_service_account: RateLimiter::new(
                app.settings().exchange_rate_per_service_account,
                1,
                app.clock().clone(),
            ),
            federation_allow_loopback_issuers: app.settings().federation_allow_loopback_issuers,
            webhooks: app.webhooks(),
        };
        let start_error = |bind, error: dropshot::BuildError| StartError {
            bind,
            source: Box::new(error),
        };
        let tls = options.tls.as_ref().map(|files| ConfigTls::AsFile {
            cert_file: files.cert_file.clone(),
            key_file: files.key_file.clone(),
        });
        let http = ServerBuilder::new(super::api_description(), context, log.clone())
            .config(dropshot_config(options.bind))
            .tls(tls)
            .start()
            .map_err(|e| start_error(options.bind, e))?;
        let metrics_http = ServerBuilder::new(
            metrics_api(),
            MetricsContext {
                frame: frame.clone(),
                sources: metrics_sources,
            },
            log.new(slog::o!("component" => "metrics_listener")),
        )
        .config(dropshot_config(options.metrics_bind))
        .start()
        .map_err(|e| start_error(options.metrics_bind, e))?;
        let watcher = app.caches_credentials().then(|| {
            tokio::spawn(
                app.store()
                    .watch_other_writers(log.new(slog::o!("component" => "credential_changes"))),
            )
        });
        Ok(Self {
            http,
            metrics_http,
            last_use,
            detached: frame.detached.clone(),
            watcher,
            cleanup,
            webhook_workers,
            log,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// Where `/metrics` is served.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_http.local_addr()
    }

    /// The recorder of `last_used_at`, so a caller can flush it.
    pub fn last_use(&self) -> &Arc<LastUseRecorder> {
        &self.last_use
    }

    /// Resolves when the HTTP server stops by itself (an error).
    pub async fn wait_for_shutdown(&self) -> Result<(), StopError> {
        self.http.wait_for_shutdown().await.map_err(StopError::Http)
    }

    /// Stops accepting requests, lets running ones finish, then writes the
    /// pending `last_used_at` updates.
    pub async fn close(self) -> Result<(), StopError> {
        self.close_within(Duration::MAX).await
    }

    /// Stops accepting requests and lets running ones finish for at most
    /// `deadline`, then cuts those still running; either way writes the
    /// pending `last_used_at` updates.
    pub async fn close_within(self, deadline: Duration) -> Result<(), StopError> {
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
        self.cleanup.abort();
        let _ = self.metrics_http.close().await;
        let running = async {
            let closed = self.http.close().await;
            // Writes whose clients went away finish too.
            self.detached.wait_idle().await;
            closed
        };
        let closed = match tokio::time::timeout(deadline, running).await {
            Ok(closed) => closed.map_err(StopError::Http),
            Err(_) => {
                slog::warn!(self.log, "requests still running at the shutdown deadline were cut";
                    "deadline_s" => deadline.as_secs());
                Ok(())
            }
        };
        self.webhook_workers.stop().await;
        self.last_use.close().await.map_err(StopError::LastUse)?;
        closed
    }
}

/// Deletes expired idempotency records now and then, until aborted.
async fn delete_expired_idempotency_records(idempotency: Arc<Idempotency>, log: Logger) {
    loop {
        match idempotency.delete_expired().await {
            Ok(0) => {}
            Ok(deleted) => slog::debug!(log, "deleted expired idempotency records";
                "deleted" => deleted),
            Err(error) => slog::warn!(log, "cannot delete expired idempotency records yet";
                "error" => crate::report::chain(&error)),
        }
        tokio::time::sleep(CLEANUP_INTERVAL).await;
    }
}

fn dropshot_config(bind: SocketAddr) -> ConfigDropshot {
    ConfigDropshot {
        bind_address: bind,
        default_request_body_max_bytes: REQUEST_BODY_MAX_BYTES,
        // Handlers run in the connection's task: a read or a refusal costs no
        // task hand-off. Those that change state detach themselves
        // (`frame::observe_detached`), so a write that was started is never
        // cut off halfway when its client goes away.
        default_handler_task_mode: HandlerTaskMode::CancelOnDisconnect,
        ..Default::default()
    }
}

/// What the metrics server (`--metrics-bind`) reaches.
pub struct MetricsContext {
    frame: Frame,
    sources: MetricsSources,
}

impl Observed for MetricsContext {
    fn frame(&self) -> &Frame {
        &self.frame
    }
}

/// `GET /metrics` alone, on the metrics address.
fn metrics_api() -> ApiDescription<MetricsContext> {
    let mut api = ApiDescription::new();
    api.register(separate_metrics)
        .expect("one endpoint registers");
    api
}

/// Prometheus metrics, on the metrics address.
#[dropshot::endpoint { method = GET, path = "/metrics", unpublished = true }]
async fn separate_metrics(
    rqctx: RequestContext<MetricsContext>,
) -> Result<http::Response<dropshot::Body>, HttpError> {
    observe(&rqctx, async {
        let context = rqctx.context();
        metrics_response(context.frame.metrics.render(&context.sources).await)
    })
    .await
}
