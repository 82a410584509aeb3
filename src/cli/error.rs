//! Why a command failed, in words that say what to do. Printed with every
//! cause behind it (`crate::report::chain`).

use super::args::SettingsError;
use crate::app::OpenError;
use crate::auth::oauth::dev::DevKeyError;
use crate::domain::ValidationError;
use crate::server::lifecycle::{StartError, StopError};
use crate::service::ServiceError;
use crate::service::admin::AdminError;
use crate::token::keyring::KeyringError;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    DevKey(#[from] DevKeyError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Stop(#[from] StopError),
    #[error(
        "refusing to serve plain HTTP on {0}, beyond loopback, where bearer tokens would cross \
         the network in clear text: pass --tls-cert-file and --tls-key-file to serve TLS, or \
         --allow-plain-http if a TLS-terminating proxy stands in front"
    )]
    PlainHttp(std::net::SocketAddr),
    #[error("cannot write the result")]
    Output(#[source] serde_json::Error),
}
