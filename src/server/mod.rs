//! The implementation of the API and the HTTP server that serves it. The
//! trait is implemented here by delegation, one module per area:
//! [`service_accounts`] and [`platform`] (whoami, introspection); errors
//! become responses in [`error`].

pub mod docs;
pub mod error;
pub mod metrics;
pub mod platform;
pub mod request_log;
pub mod secret_scanning;
pub mod service_accounts;

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dropshot::{
    ApiDescription, ConfigDropshot, ConfigTls, HandlerTaskMode, HttpError, HttpResponseAccepted,
    HttpResponseCreated, HttpResponseHeaders, HttpResponseOk, HttpServer, RequestContext,
    ServerBuilder,
};
use slog::Logger;

use crate::api::extract::{FormBody, HeaderParams, JsonBody, PathParams, QueryParams};
use crate::api::platform::{IntrospectionRequest, IntrospectionResponse, Whoami};
use crate::api::secret_scanning::{
    GithubSignatureHeaders, GitlabSignatureHeaders, PublicRevocationReceipt,
    PublicRevocationRequest, ReportedToken, TokenReportFeedback,
};
use crate::api::types::{
    AccountPath, CreateServiceAccountRequest, CreatedHeaders, CredentialAnswerHeaders,
    IdempotencyHeaders, ListServiceAccountsQuery, RotateServiceAccountQuery, RotatedHeaders,
    ServiceAccount, ServiceAccountPath, ServiceAccountWithToken, SunsetHeaders, WhoamiHeaders,
};
use crate::api::types::{DocsFilePath, HealthStatus};
use crate::api::{
    self, CHECKED_IN_DOCUMENT, REQUEST_BODY_MAX_BYTES, ServiceAccountsApi, service_accounts_api_mod,
};
use crate::app::App;
use crate::auth::cache::CredentialCache;
use crate::auth::introspection_client::IntrospectionClientAuthenticator;
use crate::auth::last_use::LastUseRecorder;
use crate::auth::secret_scanning::{Sender, SenderKeys};
use crate::auth::{AuthError, Authenticator, Verified, bearer_credential};
use crate::config::TrustedProxy;
use crate::service::ServiceAccounts;
use crate::service::idempotency::{CLEANUP_INTERVAL, Idempotency};
use crate::service::identity::Identities;
use crate::service::leaks::Leaks;
use crate::store::Store;

use self::metrics::{AuthOutcome, Metrics};
use self::request_log::RequestLines;

/// What every handler can reach.
pub struct ApiContext {
    pub authenticator: Authenticator,
    pub introspection_clients: IntrospectionClientAuthenticator,
    pub service_accounts: ServiceAccounts,
    pub idempotency: Arc<Idempotency>,
    pub identities: Identities,
    pub store: Arc<dyn Store>,
    pub cache: Option<Arc<CredentialCache>>,
    pub metrics: Arc<Metrics>,
    /// Whether `/metrics` is served here (not on `--metrics-bind`).
    pub metrics_here: bool,
    pub request_lines: RequestLines,
    pub leaks: Leaks,
    pub github_keys: Arc<SenderKeys>,
    pub gitlab_keys: Arc<SenderKeys>,
    /// Bounds the public revocation endpoint, per client address.
    pub public_revocations: secret_scanning::RateLimiter,
    pub trusted_proxies: Vec<TrustedProxy>,
}

/// The type the API trait is implemented on; never constructed.
pub enum ApiImpl {}

impl ServiceAccountsApi for ApiImpl {
    type Context = ApiContext;

    async fn create_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        headers: HeaderParams<IdempotencyHeaders>,
        body: JsonBody<CreateServiceAccountRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseCreated<ServiceAccountWithToken>, CreatedHeaders>,
        HttpError,
    > {
        observe(
            &rqctx,
            "create_service_account",
            201,
            service_accounts::create(&rqctx, path, headers, body),
        )
        .await
    }

    async fn list_service_accounts(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListServiceAccountsQuery>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Vec<ServiceAccount>>, SunsetHeaders>, HttpError>
    {
        observe(
            &rqctx,
            "list_service_accounts",
            200,
            service_accounts::list(&rqctx, path, query),
        )
        .await
    }

    async fn get_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError> {
        observe(
            &rqctx,
            "get_service_account",
            200,
            service_accounts::get(&rqctx, path),
        )
        .await
    }

    async fn rotate_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
        query: QueryParams<RotateServiceAccountQuery>,
        headers: HeaderParams<IdempotencyHeaders>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<ServiceAccountWithToken>, RotatedHeaders>,
        HttpError,
    > {
        observe(
            &rqctx,
            "rotate_service_account",
            200,
            service_accounts::rotate(&rqctx, path, query, headers),
        )
        .await
    }

    async fn retire_previous_token(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError> {
        observe(
            &rqctx,
            "retire_previous_token",
            200,
            service_accounts::retire_previous_token(&rqctx, path),
        )
        .await
    }

    async fn revoke_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<ServiceAccount>, SunsetHeaders>, HttpError> {
        observe(
            &rqctx,
            "revoke_service_account",
            200,
            service_accounts::revoke(&rqctx, path),
        )
        .await
    }

    async fn whoami(
        rqctx: RequestContext<ApiContext>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Whoami>, WhoamiHeaders>, HttpError> {
        observe(&rqctx, "whoami", 200, platform::whoami(&rqctx)).await
    }

    async fn introspect_token(
        rqctx: RequestContext<ApiContext>,
        body: FormBody<IntrospectionRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<IntrospectionResponse>, CredentialAnswerHeaders>,
        HttpError,
    > {
        observe(
            &rqctx,
            "introspect_token",
            200,
            platform::introspect(&rqctx, body),
        )
        .await
    }

    async fn report_github_leaks(
        rqctx: RequestContext<ApiContext>,
        headers: HeaderParams<GithubSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError> {
        let headers = headers.into_inner();
        observe(
            &rqctx,
            "report_github_leaks",
            200,
            secret_scanning::report(
                &rqctx,
                Sender::GitHub,
                headers.key_identifier,
                headers.signature,
                body,
            ),
        )
        .await
    }

    async fn report_gitlab_leaks(
        rqctx: RequestContext<ApiContext>,
        headers: HeaderParams<GitlabSignatureHeaders>,
        body: JsonBody<Vec<ReportedToken>>,
    ) -> Result<HttpResponseOk<Vec<TokenReportFeedback>>, HttpError> {
        let headers = headers.into_inner();
        observe(
            &rqctx,
            "report_gitlab_leaks",
            200,
            secret_scanning::report(
                &rqctx,
                Sender::GitLab,
                headers.key_identifier,
                headers.signature,
                body,
            ),
        )
        .await
    }

    async fn revoke_credentials(
        rqctx: RequestContext<ApiContext>,
        body: JsonBody<PublicRevocationRequest>,
    ) -> Result<HttpResponseAccepted<PublicRevocationReceipt>, HttpError> {
        observe(
            &rqctx,
            "revoke_credentials",
            202,
            secret_scanning::revoke(&rqctx, body),
        )
        .await
    }

    async fn healthz(
        _rqctx: RequestContext<ApiContext>,
    ) -> Result<HttpResponseOk<HealthStatus>, HttpError> {
        Ok(HttpResponseOk(HealthStatus::ok()))
    }

    async fn readyz(
        rqctx: RequestContext<ApiContext>,
    ) -> Result<HttpResponseOk<HealthStatus>, HttpError> {
        match rqctx.context().store.check_ready().await {
            Ok(()) => Ok(HttpResponseOk(HealthStatus::ok())),
            Err(error) => {
                let mut response = api::errors::ErrorCode::Unavailable
                    .with_message("not ready: the database cannot be reached or is not migrated");
                response.internal_message = crate::report::chain(&error);
                Err(response)
            }
        }
    }

    async fn metrics(
        rqctx: RequestContext<ApiContext>,
    ) -> Result<http::Response<dropshot::Body>, HttpError> {
        let context = rqctx.context();
        if !context.metrics_here {
            return Err(api::errors::ErrorCode::NotFound
                .with_message("metrics are served on the metrics address (--metrics-bind)"));
        }
        let text = context
            .metrics
            .render(context.store.as_ref(), context.cache.as_deref())
            .await;
        metrics_response(text)
    }

    async fn openapi_json(
        _rqctx: RequestContext<ApiContext>,
    ) -> Result<http::Response<dropshot::Body>, HttpError> {
        http::Response::builder()
            .status(http::StatusCode::OK)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(CHECKED_IN_DOCUMENT.into())
            .map_err(|e| error::internal(&e))
    }

    async fn docs(
        _rqctx: RequestContext<ApiContext>,
    ) -> Result<http::Response<dropshot::Body>, HttpError> {
        docs::asset("text/html; charset=utf-8", docs::PAGE)
    }

    async fn docs_file(
        _rqctx: RequestContext<ApiContext>,
        path: PathParams<DocsFilePath>,
    ) -> Result<http::Response<dropshot::Body>, HttpError> {
        let name = path.into_inner().file;
        match docs::file(&name) {
            Some((content_type, body)) => docs::asset(content_type, body),
            None => Err(crate::api::errors::ErrorCode::NotFound
                .with_message(format!("the reference has no file {name:?}"))),
        }
    }
}

/// The API, wired to its implementation.
pub fn api_description() -> ApiDescription<ApiContext> {
    service_accounts_api_mod::api_description::<ApiImpl>()
        .expect("the API trait and its implementation agree")
}

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
    /// Serve `/metrics` on this address instead of the API's.
    pub metrics_bind: Option<SocketAddr>,
}

impl ServerOptions {
    /// Plain HTTP on `bind`, metrics on the same address.
    pub fn plain(bind: SocketAddr) -> Self {
        Self {
            bind,
            tls: None,
            metrics_bind: None,
        }
    }
}

/// A running server and the background work that outlives single requests.
pub struct Server {
    http: HttpServer<ApiContext>,
    metrics_http: Option<HttpServer<MetricsContext>>,
    last_use: Arc<LastUseRecorder>,
    /// Watches other processes' changes for the credential cache.
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// Deletes expired idempotency records.
    cleanup: tokio::task::JoinHandle<()>,
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
        let log = request_lines.wrap(log);
        let last_use = app.start_last_use_recorder(log.new(slog::o!("component" => "last_use")));
        let idempotency = Arc::new(app.idempotency());
        let cleanup = tokio::spawn(delete_expired_idempotency_records(
            idempotency.clone(),
            log.new(slog::o!("component" => "idempotency")),
        ));
        let context = ApiContext {
            authenticator: app.authenticator(Some(last_use.clone())),
            introspection_clients: app.introspection_clients(),
            service_accounts: app.service_accounts(),
            idempotency,
            identities: app.identities(),
            store: app.store().clone(),
            cache: app.credential_cache(),
            metrics: metrics.clone(),
            metrics_here: options.metrics_bind.is_none(),
            request_lines,
            leaks: app.leaks(),
            github_keys: app.sender_keys(Sender::GitHub),
            gitlab_keys: app.sender_keys(Sender::GitLab),
            public_revocations: secret_scanning::RateLimiter::new(
                app.settings().secret_scanning.public_revoke_rate,
            ),
            trusted_proxies: app.settings().secret_scanning.trusted_proxies.clone(),
        };
        let start_error = |bind, error: dropshot::BuildError| StartError {
            bind,
            source: Box::new(error),
        };
        let tls = options.tls.as_ref().map(|files| ConfigTls::AsFile {
            cert_file: files.cert_file.clone(),
            key_file: files.key_file.clone(),
        });
        let http = ServerBuilder::new(api_description(), context, log.clone())
            .config(dropshot_config(options.bind))
            .tls(tls)
            .start()
            .map_err(|e| start_error(options.bind, e))?;
        let metrics_http = match options.metrics_bind {
            None => None,
            Some(bind) => Some(
                ServerBuilder::new(
                    metrics_api(),
                    MetricsContext {
                        metrics,
                        store: app.store().clone(),
                        cache: app.credential_cache(),
                    },
                    log.new(slog::o!("component" => "metrics")),
                )
                .config(dropshot_config(bind))
                .start()
                .map_err(|e| start_error(bind, e))?,
            ),
        };
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
            watcher,
            cleanup,
            log,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
    }

    /// Where `/metrics` is served, when not on the API's address.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_http.as_ref().map(HttpServer::local_addr)
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
        if let Some(metrics) = self.metrics_http {
            let _ = metrics.close().await;
        }
        let closed = match tokio::time::timeout(deadline, self.http.close()).await {
            Ok(closed) => closed.map_err(StopError::Http),
            Err(_) => {
                slog::warn!(self.log, "requests still running at the shutdown deadline were cut";
                    "deadline_s" => deadline.as_secs());
                Ok(())
            }
        };
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
        // A handler runs to completion even if its client goes away, so a
        // write that was started is never cut off halfway.
        default_handler_task_mode: HandlerTaskMode::Detached,
        ..Default::default()
    }
}

/// What the separate metrics server (`--metrics-bind`) reaches.
pub struct MetricsContext {
    metrics: Arc<Metrics>,
    store: Arc<dyn Store>,
    cache: Option<Arc<CredentialCache>>,
}

/// `GET /metrics` alone, for `--metrics-bind`.
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
    let context = rqctx.context();
    let text = context
        .metrics
        .render(context.store.as_ref(), context.cache.as_deref())
        .await;
    metrics_response(text)
}

fn metrics_response(text: String) -> Result<http::Response<dropshot::Body>, HttpError> {
    http::Response::builder()
        .status(http::StatusCode::OK)
        .header(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .body(text.into())
        .map_err(|e| error::internal(&e))
}

/// What is learned about a request while it is handled.
#[derive(Default)]
struct RequestNotes {
    /// Who is making it (kind and id, never a credential): for its log line.
    principal: Option<String>,
    /// When the previous token it was made with stops working: for the
    /// `Sunset` header of its response, error or not.
    sunset: Option<chrono::DateTime<chrono::Utc>>,
}

tokio::task_local! {
    static NOTES: RefCell<RequestNotes>;
}

/// Notes who is making the current request (kind and id, never a credential).
pub(crate) fn note_principal(description: String) {
    let _ = NOTES.try_with(|notes| notes.borrow_mut().principal = Some(description));
}

/// The current request's `Sunset` value: when the previous token it was made
/// with stops working, as an HTTP-date (RFC 8594); none for any other
/// credential.
pub(crate) fn sunset() -> Option<String> {
    NOTES
        .try_with(|notes| notes.borrow().sunset)
        .ok()
        .flatten()
        .map(|at| at.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// Verifies the request's bearer credential, noting the principal for the
/// request line and counting the outcome; a failure is the 401 (or 503) to
/// answer.
pub(crate) async fn authenticate(
    rqctx: &RequestContext<ApiContext>,
) -> Result<Verified, HttpError> {
    let context = rqctx.context();
    let headers = rqctx.request.headers();
    let kind = bearer_credential(headers)
        .map(|credential| context.authenticator.kind_of(credential))
        .unwrap_or("unknown");
    let result = context.authenticator.authenticate(headers).await;
    context.metrics.authentication(auth_outcome(kind, &result));
    match result {
        Ok(verified) => {
            let sunset = verified.credential.sunset();
            let _ = NOTES.try_with(|notes| {
                let mut notes = notes.borrow_mut();
                notes.principal = Some(verified.principal.log_id());
                notes.sunset = sunset;
            });
            Ok(verified)
        }
        Err(error) => Err(error::auth_error(error)),
    }
}

/// How an authentication ended, for the metrics.
pub(crate) fn auth_outcome(
    kind: &'static str,
    result: &Result<Verified, AuthError>,
) -> AuthOutcome {
    let (outcome, reason) = match result {
        Ok(_) => ("ok", ""),
        Err(AuthError::MissingCredential) => ("missing", "no credential"),
        Err(AuthError::InvalidToken(reason)) => ("invalid", *reason),
        Err(AuthError::Unavailable(_)) => ("unavailable", "database"),
        Err(AuthError::IssuerUnavailable(_)) => ("unavailable", "issuer keys"),
        Err(AuthError::Internal(_)) => ("error", "internal"),
    };
    AuthOutcome {
        kind,
        outcome,
        reason,
    }
}

/// Runs one operation's handler, then writes its request line (request id,
/// method, path without query, operation, status, latency, principal) and
/// counts it in the metrics.
async fn observe<T>(
    rqctx: &RequestContext<ApiContext>,
    operation: &'static str,
    success: u16,
    handler: impl Future<Output = Result<T, HttpError>>,
) -> Result<T, HttpError> {
    let started = Instant::now();
    let (mut result, principal, sunset) = NOTES
        .scope(RefCell::default(), async {
            let result = handler.await;
            let sunset = sunset();
            let principal = NOTES.with(|notes| notes.borrow_mut().principal.take());
            (result, principal, sunset)
        })
        .await;
    // A request made with a previous token learns when it stops working even
    // when it fails (successes carry it as a documented header).
    if let (Err(error), Some(sunset)) = (&mut result, sunset)
        && let Ok(value) = http::HeaderValue::from_str(&sunset)
    {
        error.headers_mut().insert("sunset", value);
    }
    let took = started.elapsed();
    let status = match &result {
        Ok(_) => success,
        Err(error) => error.status_code.as_u16(),
    };
    let context = rqctx.context();
    context.metrics.request(operation, status, took);
    match &result {
        Ok(_) => slog::info!(rqctx.log, "request completed";
            "operation" => operation,
            "response_code" => status,
            "latency_us" => took.as_micros() as u64,
            "principal" => principal.as_deref().unwrap_or("none")),
        Err(error) => slog::info!(rqctx.log, "request completed";
            "operation" => operation,
            "response_code" => status,
            "latency_us" => took.as_micros() as u64,
            "principal" => principal.as_deref().unwrap_or("none"),
            "error_code" => error.error_code.as_deref().unwrap_or(""),
            "error_message_internal" => &error.internal_message),
    }
    // After writing ours: Dropshot's own line for this request is dropped.
    context.request_lines.finished(&rqctx.request_id);
    result
}
