//! Shared by the integration tests: a real server on 127.0.0.1:0 over a real
//! SQLite file in a fresh temporary data directory, logging to a file there, with
//! a settable clock and a bootstrapped account whose owner token is ready to use.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dropshot::{ConfigLogging, ConfigLoggingIfExists, ConfigLoggingLevel, HttpServer};
use hbx_service_accounts::app::App;
use hbx_service_accounts::client::Client;
use hbx_service_accounts::clock::ManualClock;
use hbx_service_accounts::config::StorageSettings;
use hbx_service_accounts::domain::ServiceAccount;
use hbx_service_accounts::server::{self, ApiContext};
use hbx_service_accounts::store::PageRequest;
use uuid::Uuid;

pub const LOG_FILE: &str = "test-server.log";

pub struct TestServer {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub base_url: String,
    /// The bootstrapped account and its owner's token.
    pub account_id: Uuid,
    pub owner_id: Uuid,
    pub owner_token: String,
    server: Option<HttpServer<ApiContext>>,
    // Last, so the directory outlives everything that writes into it.
    data_dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Starts with storage settings adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut StorageSettings)) -> Self {
        let data_dir = tempfile::tempdir().expect("temporary data directory");
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let mut settings = StorageSettings::in_dir(data_dir.path());
        adjust(&mut settings);
        let app = App::open(&settings, clock.clone())
            .await
            .expect("open the data directory");
        let log = ConfigLogging::File {
            level: ConfigLoggingLevel::Trace,
            path: data_dir.path().join(LOG_FILE).display().to_string().into(),
            if_exists: ConfigLoggingIfExists::Append,
        }
        .to_logger("hbx-sa-test")
        .expect("file logger");
        let server = server::start(&app, "127.0.0.1:0".parse().unwrap(), log).expect("server");
        let base_url = format!("http://{}", server.local_addr());
        let made = app
            .admin()
            .bootstrap(app.issuer(), "test account".into(), "owner".into())
            .await
            .expect("bootstrap");
        Self {
            clock,
            base_url,
            account_id: made.account.id,
            owner_id: made.owner.service_account.id,
            owner_token: made.owner.token.expose().to_owned(),
            app,
            server: Some(server),
            data_dir,
        }
    }

    pub fn data_dir(&self) -> &Path {
        self.data_dir.path()
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir
            .path()
            .join(hbx_service_accounts::store::sqlite::DATABASE_FILE)
    }

    pub fn log_path(&self) -> PathBuf {
        self.data_dir.path().join(LOG_FILE)
    }

    pub fn now(&self) -> DateTime<Utc> {
        use hbx_service_accounts::clock::Clock;
        self.clock.now()
    }

    /// The generated client, sending `Authorization: Bearer <token>`.
    pub fn client(&self, token: &str) -> Client {
        Client::new_with_client(
            &self.base_url,
            http_client(Some(&format!("Bearer {token}"))),
        )
    }

    /// The generated client sending exactly this `Authorization` header (or none).
    pub fn client_with_authorization(&self, authorization: Option<&str>) -> Client {
        Client::new_with_client(&self.base_url, http_client(authorization))
    }

    pub fn owner(&self) -> Client {
        self.client(&self.owner_token)
    }

    /// A plain HTTP client, for requests the generated client cannot express
    /// (malformed JSON, unknown fields, oversized bodies).
    pub fn raw(&self) -> reqwest::Client {
        http_client(None)
    }

    pub fn create_url(&self, account_id: impl std::fmt::Display) -> String {
        format!(
            "{}/v1/public/accounts/{account_id}/auth/service-accounts",
            self.base_url
        )
    }

    /// Every service account of the account, revoked ones included, read from the store.
    pub async fn stored_service_accounts(&self, account_id: Uuid) -> Vec<ServiceAccount> {
        self.app
            .store()
            .list_service_accounts(
                account_id,
                PageRequest {
                    include_revoked: true,
                    limit: 1000,
                    after: None,
                },
            )
            .await
            .expect("list from the store")
    }

    /// How many service accounts the bootstrapped account has (owner included).
    pub async fn service_account_count(&self) -> usize {
        self.stored_service_accounts(self.account_id).await.len()
    }

    /// Stops the HTTP server (the store stays open).
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.close().await.expect("server shutdown");
        }
    }
}

fn http_client(authorization: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(value) = authorization {
        headers.insert(
            reqwest::header::AUTHORIZATION,
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()).expect("header value"),
        );
    }
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("reqwest client")
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
