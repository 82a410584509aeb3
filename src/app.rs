//! Wiring: opens the store and the token keys described by the settings and
//! builds the authenticator, the service and the operator commands on them.
//! Both the server and the command line start here.

use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;

use slog::Logger;

use crate::auth::last_use::LastUseRecorder;
use crate::auth::{Authenticator, ServiceAccountAuthenticator};
use crate::clock::Clock;
use crate::config::{Settings, TOKEN_KEY_FILE};
use crate::service::admin::Admin;
use crate::service::{ServiceAccounts, TokenIssuer};
use crate::store::sqlite::DATABASE_FILE;
use crate::store::{SqliteStore, Store, StoreError};
use crate::token::keyring::{self, KeyringError, TokenKeyring};

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
}

/// The opened state of one process: store, token keys and clock.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    issuer: TokenIssuer,
    clock: Arc<dyn Clock>,
    settings: Settings,
    warnings: Vec<String>,
}

impl App {
    /// Opens the data directory (creating it, its database and its token key
    /// file on first use) and brings the schema up to date.
    pub async fn open(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, OpenError> {
        let data_dir = &settings.data_dir;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|source| OpenError::DataDir {
                path: data_dir.display().to_string(),
                source,
            })?;
        let (keyring, key_path) = match &settings.token_key_file {
            Some(path) => (TokenKeyring::load(path)?, path.clone()),
            None => {
                let path = data_dir.join(TOKEN_KEY_FILE);
                (TokenKeyring::load_or_create(&path)?, path)
            }
        };
        let warnings = keyring::permission_warning(&key_path).into_iter().collect();
        let store =
            SqliteStore::open(&data_dir.join(DATABASE_FILE), settings.database_timeout).await?;
        Ok(Self {
            store: Arc::new(store),
            issuer: TokenIssuer {
                prefix: settings.token_prefix.clone(),
                keyring: Arc::new(keyring),
            },
            clock,
            settings: settings.clone(),
            warnings,
        })
    }

    /// Problems worth telling the operator about that do not stop the start.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Starts recording `last_used_at` in the background (on the current Tokio
    /// runtime), logging write failures to `log`.
    pub fn start_last_use_recorder(&self, log: Logger) -> Arc<LastUseRecorder> {
        LastUseRecorder::start(
            self.store.clone(),
            self.clock.clone(),
            self.settings.last_use_interval,
            log,
        )
    }

    /// An authenticator for API requests, recording uses with `last_use`.
    pub fn authenticator(&self, last_use: Option<Arc<LastUseRecorder>>) -> Authenticator {
        Authenticator::new(ServiceAccountAuthenticator::new(
            self.store.clone(),
            self.issuer.keyring.clone(),
            self.issuer.prefix.clone(),
            self.clock.clone(),
            last_use,
        ))
    }

    pub fn service_accounts(&self) -> ServiceAccounts {
        ServiceAccounts::new(
            self.store.clone(),
            self.issuer.clone(),
            self.clock.clone(),
            self.settings.token_policy,
        )
    }

    pub fn admin(&self) -> Admin {
        Admin::new(self.store.clone(), self.clock.clone())
    }
}
