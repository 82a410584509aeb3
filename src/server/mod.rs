//! The implementation of the API and the HTTP server that serves it. The
//! trait is implemented here by delegation, one module per area:
//! [`service_accounts`] and [`platform`] (whoami, introspection); errors
//! become responses in [`error`].

pub mod error;
pub mod platform;
pub mod service_accounts;

use std::net::SocketAddr;
use std::sync::Arc;

use dropshot::{
    ApiDescription, ConfigDropshot, HandlerTaskMode, HttpError, HttpResponseCreated,
    HttpResponseHeaders, HttpResponseOk, HttpServer, RequestContext, ServerBuilder,
};
use slog::Logger;

use crate::api::extract::{FormBody, JsonBody, PathParams, QueryParams};
use crate::api::platform::{IntrospectionRequest, IntrospectionResponse, Whoami};
use crate::api::types::{
    AccountPath, CreateServiceAccountRequest, CreatedHeaders, CredentialAnswerHeaders,
    ListServiceAccountsQuery, NoStoreHeaders, ServiceAccount, ServiceAccountPath,
    ServiceAccountWithToken,
};
use crate::api::{
    CHECKED_IN_DOCUMENT, REQUEST_BODY_MAX_BYTES, ServiceAccountsApi, service_accounts_api_mod,
};
use crate::app::App;
use crate::auth::Authenticator;
use crate::auth::introspection_client::IntrospectionClientAuthenticator;
use crate::auth::last_use::LastUseRecorder;
use crate::service::ServiceAccounts;
use crate::service::identity::Identities;

/// What every handler can reach.
pub struct ApiContext {
    pub authenticator: Authenticator,
    pub introspection_clients: IntrospectionClientAuthenticator,
    pub service_accounts: ServiceAccounts,
    pub identities: Identities,
}

/// The type the API trait is implemented on; never constructed.
pub enum ApiImpl {}

impl ServiceAccountsApi for ApiImpl {
    type Context = ApiContext;

    async fn create_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        body: JsonBody<CreateServiceAccountRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseCreated<ServiceAccountWithToken>, CreatedHeaders>,
        HttpError,
    > {
        service_accounts::create(rqctx, path, body).await
    }

    async fn list_service_accounts(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<AccountPath>,
        query: QueryParams<ListServiceAccountsQuery>,
    ) -> Result<HttpResponseOk<Vec<ServiceAccount>>, HttpError> {
        service_accounts::list(rqctx, path, query).await
    }

    async fn get_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseOk<ServiceAccount>, HttpError> {
        service_accounts::get(rqctx, path).await
    }

    async fn rotate_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<ServiceAccountWithToken>, NoStoreHeaders>,
        HttpError,
    > {
        service_accounts::rotate(rqctx, path).await
    }

    async fn revoke_service_account(
        rqctx: RequestContext<ApiContext>,
        path: PathParams<ServiceAccountPath>,
    ) -> Result<HttpResponseOk<ServiceAccount>, HttpError> {
        service_accounts::revoke(rqctx, path).await
    }

    async fn whoami(
        rqctx: RequestContext<ApiContext>,
    ) -> Result<HttpResponseHeaders<HttpResponseOk<Whoami>, CredentialAnswerHeaders>, HttpError>
    {
        platform::whoami(rqctx).await
    }

    async fn introspect_token(
        rqctx: RequestContext<ApiContext>,
        body: FormBody<IntrospectionRequest>,
    ) -> Result<
        HttpResponseHeaders<HttpResponseOk<IntrospectionResponse>, CredentialAnswerHeaders>,
        HttpError,
    > {
        platform::introspect(rqctx, body).await
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

/// A running server and the background work that outlives single requests.
pub struct Server {
    http: HttpServer<ApiContext>,
    last_use: Arc<LastUseRecorder>,
    /// Watches other processes' changes for the credential cache.
    watcher: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Starts serving `app` on `bind` (port 0 picks a free one; see
    /// [`Server::local_addr`]).
    pub fn start(app: &App, bind: SocketAddr, log: Logger) -> Result<Self, StartError> {
        let last_use = app.start_last_use_recorder(log.new(slog::o!("component" => "last_use")));
        let context = ApiContext {
            authenticator: app.authenticator(Some(last_use.clone())),
            introspection_clients: app.introspection_clients(),
            service_accounts: app.service_accounts(),
            identities: app.identities(),
        };
        let config = ConfigDropshot {
            bind_address: bind,
            default_request_body_max_bytes: REQUEST_BODY_MAX_BYTES,
            // A handler runs to completion even if its client goes away, so a
            // write that was started is never cut off halfway.
            default_handler_task_mode: HandlerTaskMode::Detached,
            ..Default::default()
        };
        let http = ServerBuilder::new(api_description(), context, log.clone())
            .config(config)
            .start()
            .map_err(|e| StartError {
                bind,
                source: Box::new(e),
            })?;
        let watcher = app.caches_credentials().then(|| {
            tokio::spawn(
                app.store()
                    .watch_other_writers(log.new(slog::o!("component" => "credential_changes"))),
            )
        });
        Ok(Self {
            http,
            last_use,
            watcher,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.http.local_addr()
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
        let closed = self.http.close().await.map_err(StopError::Http);
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
        self.last_use.close().await.map_err(StopError::LastUse)?;
        closed
    }
}
