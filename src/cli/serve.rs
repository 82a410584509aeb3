//! `hbx-sa serve`: runs the API server until SIGTERM or Ctrl-C, then stops
//! accepting, lets running requests finish and writes what is pending.

use std::sync::Arc;

use dropshot::ConfigLogging;
use slog::{info, warn};

use super::CliError;
use super::args::ServeArgs;
use crate::app::App;
use crate::clock::SystemClock;
use crate::server::Server;

pub async fn serve(args: ServeArgs) -> Result<(), CliError> {
    let bind = args.bind;
    let level = args.log_level;
    let settings = args.settings();
    let log = ConfigLogging::StderrTerminal {
        level: level.into(),
    }
    .to_logger("hbx-sa")
    .map_err(CliError::Logging)?;
    let app = App::open(&settings, Arc::new(SystemClock)).await?;
    for warning in app.warnings() {
        warn!(log, "{warning}");
    }
    let server = Server::start(&app, bind, log.clone())?;
    let storage = match settings.database_url {
        // The URL may carry a password: never log it.
        Some(_) => "PostgreSQL".to_owned(),
        None => format!("SQLite in {}", settings.data_dir.display()),
    };
    info!(log, "serving the service-accounts API";
        "address" => %server.local_addr(),
        "storage" => storage);
    tokio::select! {
        result = server.wait_for_shutdown() => return Ok(result?),
        _ = shutdown_signal() => info!(log, "shutting down"),
    }
    let closed = server.close().await;
    app.store().close().await;
    Ok(closed?)
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
