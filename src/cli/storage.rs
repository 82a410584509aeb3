//! Opening the storage an operator command names: the same wiring as the
//! server ([`App`]), quiet, with its warnings told on stderr.

use std::sync::Arc;

use super::args::StorageArgs;
use super::error::CliError;
use crate::app::App;
use crate::clock::SystemClock;

/// Opens the storage the flags name, telling the operator about anything odd.
pub(super) async fn open(storage: StorageArgs) -> Result<App, CliError> {
    // A one-shot command starts no background work that would log.
    let quiet = slog::Logger::root(slog::Discard, slog::o!());
    let app = App::open(&storage.settings(), Arc::new(SystemClock), &quiet).await?;
    for warning in app.warnings() {
        eprintln!("hbx-sa: warning: {warning}");
    }
    Ok(app)
}
