//! The implementation of the API and the HTTP server that serves it.

pub mod error;
pub mod handlers;

use std::net::SocketAddr;
use std::sync::Arc;

use dropshot::{ApiDescription, ConfigDropshot, HandlerTaskMode, HttpServer, ServerBuilder};
use slog::Logger;

use crate::api::{REQUEST_BODY_MAX_BYTES, service_accounts_api_mod};
use crate::app::App;
use crate::auth::Authenticator;
use crate::auth::last_use::LastUseRecorder;
use crate::service::ServiceAccounts;

pub use handlers::ServiceAccountsImpl;

/// What every handler can reach.
pub struct ApiContext {
    pub authenticator: Authenticator,
    pub service_accounts: ServiceAccounts,
}

/// The API, wired to its implementation.
pub fn api_description() -> ApiDescription<ApiContext> {
    service_accounts_api_mod::api_description::<ServiceAccountsImpl>()
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
}

impl Server {
    /// Starts serving `app` on `bind` (port 0 picks a free one; see
    /// [`Server::local_addr`]).
    pub fn start(app: &App, bind: SocketAddr, log: Logger) -> Result<Self, StartError> {
        let last_use = app.start_last_use_recorder(log.new(slog::o!("component" => "last_use")));
        let context = ApiContext {
            authenticator: app.authenticator(Some(last_use.clone())),
            service_accounts: app.service_accounts(),
        };
        let config = ConfigDropshot {
            bind_address: bind,
            default_request_body_max_bytes: REQUEST_BODY_MAX_BYTES,
            // A handler runs to completion even if its client goes away, so a
            // write that was started is never cut off halfway.
            default_handler_task_mode: HandlerTaskMode::Detached,
            ..Default::default()
        };
        let http = ServerBuilder::new(api_description(), context, log)
            .config(config)
            .start()
            .map_err(|e| StartError {
                bind,
                source: Box::new(e),
            })?;
        Ok(Self { http, last_use })
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
        self.last_use.close().await.map_err(StopError::LastUse)?;
        closed
    }
}
