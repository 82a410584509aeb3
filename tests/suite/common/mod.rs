//! Shared by the integration tests: a real server on 127.0.0.1:0 over a real
//! SQLite file in a fresh temporary data directory, logging to a file there, with
//! a settable clock and a bootstrapped account whose owner token is ready to use.

#![allow(dead_code, unused_macros)]

pub mod issuer;
pub mod json_server;
pub mod pgbouncer;
pub mod postgres;
pub mod process;
pub mod receiver;
pub mod sender;
pub mod stores;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use dropshot::{ConfigLogging, ConfigLoggingIfExists, ConfigLoggingLevel};
use hbx_service_accounts::app::App;
use hbx_service_accounts::client::types::{
    CreateServiceAccountRequest, Error as ApiError, ServiceAccountWithToken,
};
use hbx_service_accounts::client::{Client, Error, ResponseValue};
use hbx_service_accounts::clock::ManualClock;
use hbx_service_accounts::config::Settings;
use hbx_service_accounts::domain::ServiceAccount;
use hbx_service_accounts::server::lifecycle::Server;
use hbx_service_accounts::service::admin::Admin;
use hbx_service_accounts::store::{PageRequest, Store};
use hbx_service_accounts::token::TokenPrefix;
use uuid::Uuid;

pub const LOG_FILE: &str = "test-server.log";

/// Where a test server keeps its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in the data directory (the default deployment).
    Sqlite,
    /// A fresh PostgreSQL database of its own (the scale-out deployment).
    Postgres,
    /// The same, through a PgBouncer of its own in transaction pooling, with
    /// no direct URL (scale-out behind a connection pooler).
    PgBouncer,
}

/// Runs each named `async fn(Backend)` as two tests, `sqlite::NAME` and
/// `postgres::NAME`: the one way to run a test on both stores.
macro_rules! on_both_stores {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::common::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::common::Backend::Postgres).await;
                }
            )+
        }
    };
}

/// [`on_both_stores!`], and a third time through PgBouncer in transaction
/// pooling (`pgbouncer::NAME`): for the behaviour a pooler could break
/// (statements, transactions, migrations, idempotency, concurrency).
macro_rules! on_every_store {
    ($($test:ident),+ $(,)?) => {
        on_both_stores!($($test),+);
        mod pgbouncer {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test($crate::common::Backend::PgBouncer).await;
                }
            )+
        }
    };
}

pub struct TestServer {
    pub app: App,
    pub clock: Arc<ManualClock>,
    pub base_url: String,
    /// Where the server's Prometheus metrics are (their own loopback
    /// address, never the API's).
    pub metrics_url: String,
    /// The bootstrapped account and its owner's token.
    pub account_id: Uuid,
    pub owner_id: Uuid,
    pub owner_token: String,
    server: Option<Server>,
    /// The PgBouncer in front of the database (stopped before it is dropped).
    pooler: Option<pgbouncer::PgBouncer>,
    database: Option<postgres::TestDatabase>,
    // Last, so the directory outlives everything that writes into it.
    data_dir: tempfile::TempDir,
}

impl TestServer {
    /// A server on SQLite with the default settings.
    pub async fn start() -> Self {
        Self::start_on(Backend::Sqlite).await
    }

    pub async fn start_on(backend: Backend) -> Self {
        Self::start_with_on(backend, |_| {}).await
    }

    /// A server on SQLite with settings adjusted by `adjust`.
    pub async fn start_with(adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start_with_on(Backend::Sqlite, adjust).await
    }

    pub async fn start_with_on(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start_in(
            backend,
            tempfile::tempdir().expect("temporary data directory"),
            adjust,
        )
        .await
    }

    /// Starts with its data directory in `data_dir` (which, with PostgreSQL,
    /// holds only the log and the token key file).
    pub async fn start_in(
        backend: Backend,
        data_dir: tempfile::TempDir,
        adjust: impl FnOnce(&mut Settings),
    ) -> Self {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let mut settings = Settings::in_dir(data_dir.path());
        let (database, pooler) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres | Backend::PgBouncer => {
                let database = postgres::TestDatabase::create().await;
                let key_file = data_dir.path().join("shared-token-keys");
                hbx_service_accounts::token::keyring::create_key_file(&key_file).expect("key file");
                let pooler = (backend == Backend::PgBouncer).then(pgbouncer::PgBouncer::start);
                settings.database_url = Some(match &pooler {
                    Some(pooler) => pooler.url_for(&database.url),
                    None => database.url.clone(),
                });
                settings.token_key_file = Some(key_file);
                (Some(database), pooler)
            }
        };
        adjust(&mut settings);
        let log = ConfigLogging::File {
            level: ConfigLoggingLevel::Trace,
            path: data_dir.path().join(LOG_FILE).display().to_string().into(),
            if_exists: ConfigLoggingIfExists::Append,
        }
        .to_logger("hbx-sa-test")
        .expect("file logger");
        let app = App::open(&settings, clock.clone(), &log)
            .await
            .expect("open the data directory");
        let server = Server::start(&app, "127.0.0.1:0".parse().unwrap(), log).expect("server");
        let base_url = format!("http://{}", server.local_addr());
        let metrics_url = format!("http://{}/metrics", server.metrics_addr());
        let made = app
            .admin()
            .bootstrap(app.minter(), "test account".into(), "owner".into())
            .await
            .expect("bootstrap");
        Self {
            clock,
            base_url,
            metrics_url,
            account_id: made.account.id,
            owner_id: made.owner.service_account.id,
            owner_token: made.owner.token.expose().to_owned(),
            app,
            server: Some(server),
            pooler,
            database,
            data_dir,
        }
    }

    /// The PostgreSQL database's URL, when on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        self.database.as_ref().map(|database| database.url.as_str())
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

    /// The server's log once it holds `needle` (the logger writes in the
    /// background), or as it stands after 10 seconds.
    pub async fn log_once_it_holds(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let log = std::fs::read_to_string(self.log_path()).unwrap_or_default();
            if log.contains(needle) || std::time::Instant::now() > deadline {
                return log;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// One scrape of the server's metrics (on their own address), as text.
    pub async fn scrape_metrics(&self) -> String {
        let response = self.raw().get(&self.metrics_url).send().await.unwrap();
        assert_eq!(
            response.status().as_u16(),
            200,
            "the metrics address answers"
        );
        response.text().await.unwrap()
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

    /// A new introspection client: `(client_id, client_secret)`.
    pub async fn new_introspection_client(&self, name: &str) -> (String, String) {
        let made = self
            .app
            .admin()
            .create_introspection_client(self.app.minter(), name.into())
            .await
            .expect("create an introspection client");
        (made.client.client_id, made.secret.into_exposed())
    }

    /// The generated client, authenticated as introspection client `id`.
    pub fn introspector(&self, id: &str, secret: &str) -> Client {
        self.client_with_authorization(Some(&basic_authorization(id, secret)))
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

    /// Creates a service account in the bootstrapped account, as its owner.
    pub async fn create(&self, name: &str) -> ServiceAccountWithToken {
        self.owner()
            .create_service_account(&self.account_id, None, &create_request(name))
            .await
            .expect("create")
            .into_inner()
    }

    /// Revokes service account `id` of the bootstrapped account, as its owner.
    pub async fn revoke(&self, id: Uuid) {
        self.owner()
            .revoke_service_account(&self.account_id, &id)
            .await
            .expect("revoke");
    }

    /// Creates a service account expiring at `expires_at`, as the owner.
    pub async fn create_expiring(
        &self,
        name: &str,
        expires_at: DateTime<Utc>,
    ) -> ServiceAccountWithToken {
        self.owner()
            .create_service_account(
                &self.account_id,
                None,
                &CreateServiceAccountRequest {
                    name: name.parse().expect("a valid name"),
                    expires_at: Some(expires_at),
                },
            )
            .await
            .expect("create")
            .into_inner()
    }

    /// How many audit events of `action` the bootstrapped account has.
    pub async fn audit_count(&self, action: hbx_service_accounts::domain::AuditAction) -> usize {
        self.app
            .store()
            .audit_events(self.account_id)
            .await
            .expect("audit events")
            .iter()
            .filter(|event| event.action == action)
            .count()
    }

    /// Gives service account `id` the auth.manage capability on the bootstrapped account.
    pub async fn grant_auth_manage(&self, id: Uuid) {
        self.app
            .admin()
            .add_grant(
                self.account_id,
                hbx_service_accounts::domain::Subject::ServiceAccount(id),
                hbx_service_accounts::domain::Capability::AuthManage.into(),
            )
            .await
            .expect("grant");
    }

    /// Whether the server accepts `token` as a credential, whatever it may do
    /// with it: getting the bootstrapped account's owner answers 200 for a
    /// token with `auth.manage`, 403 for an accepted one without it, and 401
    /// for one that is refused. Any other answer fails the test.
    pub async fn authenticates(&self, token: &str) -> bool {
        match self
            .client(token)
            .get_service_account(&self.account_id, &self.owner_id)
            .await
        {
            Ok(_) => true,
            Err(Error::ErrorResponse(response)) => match response.status().as_u16() {
                403 => true,
                401 => false,
                other => panic!("expected 200, 401 or 403, got {other}: {response:?}"),
            },
            Err(other) => panic!("the server did not answer: {other:?}"),
        }
    }

    /// Runs `sql` on the server's database directly, with `$1`, `$2`, ... bound
    /// to `ids`: for planting data that the service itself would never write.
    pub async fn run_sql(&self, sql: &str, ids: &[Uuid]) {
        use sqlx::{AssertSqlSafe, Connection};
        match self.database_url() {
            Some(url) => {
                let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
                let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.execute(&mut connection).await.expect("run SQL");
            }
            None => {
                let url = format!("sqlite://{}", self.database_path().display());
                let mut connection = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("connect");
                let mut query = sqlx::query(AssertSqlSafe(sql.to_owned()));
                for id in ids {
                    query = query.bind(*id);
                }
                query.execute(&mut connection).await.expect("run SQL");
            }
        }
    }

    /// How many rows `table` holds, read from the database itself.
    pub async fn count_rows(&self, table: &str) -> i64 {
        use sqlx::{AssertSqlSafe, Connection};
        let sql = format!("SELECT count(*) FROM {table}");
        match self.database_url() {
            Some(url) => {
                let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&mut connection)
                    .await
                    .expect("count")
            }
            None => {
                let url = format!("sqlite://{}", self.database_path().display());
                let mut connection = sqlx::SqliteConnection::connect(&url)
                    .await
                    .expect("connect");
                sqlx::query_scalar(AssertSqlSafe(sql))
                    .fetch_one(&mut connection)
                    .await
                    .expect("count")
            }
        }
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

    /// Writes the `last_used_at` updates noted so far, now.
    pub async fn flush_last_use(&self) {
        self.server
            .as_ref()
            .expect("the server is running")
            .last_use()
            .flush()
            .await
            .expect("record last uses");
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

/// `Basic base64(id:secret)`.
/// A logger that drops everything, for parts opened outside a server.
pub fn quiet_log() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

/// The operator's actions on `store`, as `hbx-sa` runs them.
pub fn admin(store: &Arc<dyn Store>, clock: &Arc<ManualClock>) -> Admin {
    use hbx_service_accounts::domain::RoleTable;
    use hbx_service_accounts::service::authorizations::Authorizations;
    use hbx_service_accounts::service::role_assignments::RoleAssignments;
    Admin::new(
        store.clone(),
        Arc::new(Authorizations::new(store.clone(), clock.clone())),
        Arc::new(RoleAssignments::new(
            store.clone(),
            Arc::new(RoleTable::default_table()),
            clock.clone(),
        )),
        store.clone(),
        store.clone(),
        clock.clone(),
    )
}

pub fn basic_authorization(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
}

/// A create request the generated client accepts.
pub fn create_request(name: &str) -> CreateServiceAccountRequest {
    CreateServiceAccountRequest {
        name: name.parse().expect("a name the client accepts"),
        expires_at: None,
    }
}

/// The error response of a failed call, checked for status and `error_code`.
pub fn expect_error<T: std::fmt::Debug>(
    result: Result<ResponseValue<T>, Error<ApiError>>,
    status: u16,
    error_code: &str,
) -> ResponseValue<ApiError> {
    match result {
        Err(Error::ErrorResponse(response)) => {
            assert_eq!(response.status().as_u16(), status, "{response:?}");
            assert_eq!(
                response.error_code.as_deref(),
                Some(error_code),
                "{response:?}"
            );
            assert!(!response.message.is_empty());
            assert!(!response.request_id.is_empty());
            response
        }
        other => panic!("expected a {status} {error_code}, got {other:?}"),
    }
}

/// Appends the checksum to a token body (prefix, public id and secret), as the
/// token format defines it: CRC-32, six base62 digits. Lets a test forge a
/// well-formed token that the server must refuse on its merits.
pub fn with_checksum(body: &str) -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut value = crc32fast::hash(body.as_bytes());
    let mut digits = [b'0'; 6];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    format!("{body}{}", std::str::from_utf8(&digits).unwrap())
}

/// Where the secret starts in a token with the default prefix: after
/// `<prefix>_<public id>_`, by the format's lengths.
pub fn secret_start() -> usize {
    TokenPrefix::default().secret_range().start
}

/// What follows `<prefix>_` in a token with the default prefix: its public
/// id, secret and checksum.
pub fn after_prefix(token: &str) -> &str {
    &token[TokenPrefix::default().public_id_range().start..]
}

/// The public id of a token with the default prefix.
pub fn public_id_of(token: &str) -> &str {
    &token[TokenPrefix::default().public_id_range()]
}

/// The secret of a token with the default prefix.
pub fn secret_of(token: &str) -> &str {
    &token[TokenPrefix::default().secret_range()]
}

/// The last four characters, as `token_last4` shows them.
pub fn last4_of(token: &str) -> &str {
    &token[token.len() - 4..]
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
