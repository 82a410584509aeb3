//! The implementation of the API and the HTTP server that serves it.

pub mod error;
pub mod handlers;

use std::net::SocketAddr;

use dropshot::{ApiDescription, ConfigDropshot, HandlerTaskMode, HttpServer, ServerBuilder};
use slog::Logger;

use crate::api::{REQUEST_BODY_MAX_BYTES, service_accounts_api_mod};
use crate::app::App;
use crate::auth::Authenticator;
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

/// Starts serving `app` on `bind` (port 0 picks a free one; see
/// [`HttpServer::local_addr`]).
pub fn start(app: &App, bind: SocketAddr, log: Logger) -> Result<HttpServer<ApiContext>, String> {
    let context = ApiContext {
        authenticator: app.authenticator(),
        service_accounts: app.service_accounts(),
    };
    let config = ConfigDropshot {
        bind_address: bind,
        default_request_body_max_bytes: REQUEST_BODY_MAX_BYTES,
        // A handler runs to completion even if its client goes away, so a write
        // that was started is never cut off halfway.
        default_handler_task_mode: HandlerTaskMode::Detached,
        ..Default::default()
    };
    ServerBuilder::new(api_description(), context, log)
        .config(config)
        .start()
        .map_err(|e| format!("cannot start the HTTP server on {bind}: {e}"))
}
