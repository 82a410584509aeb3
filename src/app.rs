//! Wiring: opens the store and the token keys described by the settings and
//! builds the authenticator, the service and the operator commands on them.
//! Both the server and the command line start here.

use std::sync::Arc;

use slog::Logger;

use crate::auth::cache::{self, CredentialCache};
use crate::auth::federation::FederationKeys;
use crate::auth::introspection_client::IntrospectionClientAuthenticator;
use crate::auth::last_use::LastUseRecorder;
use crate::auth::leaks::{Sender, SenderKeys};
use crate::auth::oauth::OAuthAuthenticator;
use crate::auth::oauth::dev::{DevKey, DevKeyError};
use crate::auth::published::InsecureUrl;
use crate::auth::{Authenticator, AuthnScheme, ServiceAccountAuthenticator};
use crate::clock::Clock;
use crate::config::{Settings, TOKEN_KEY_FILE};
use crate::domain::RoleTable;
use crate::service::admin::Admin;
use crate::service::audit_events::AuditLog;
use crate::service::authorizations::Authorizations;
use crate::service::federation_rules::FederationRules;
use crate::service::idempotency::Idempotency;
use crate::service::identity_providers::IdentityProviders;
use crate::service::leaks::Leaks;
use crate::service::role_assignments::RoleAssignments;
use crate::service::token_exchange::{ExchangeStores, TokenExchange};
use crate::service::verification::Identities;
use crate::service::webhook_guard::AddressPolicy;
use crate::service::webhook_secrets::SecretSealer;
use crate::service::webhooks::Webhooks;
use crate::service::{Authorizer, ServiceAccounts, TokenMinter};
use crate::store::sqlite::DATABASE_FILE;
use crate::store::transaction_pooler::Route;
use crate::store::{
    CredentialLookup, LastUseLog, PostgresOptions, PostgresStore, SqliteStore, Store, StoreError,
};
use crate::token::keyring::{self, KeyringError, TokenKeyring};

/// The shortest time an idempotent attempt holds its key before another may
/// take over (see [`App::idempotency`]).
const IDEMPOTENCY_LEASE_MIN: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "with a PostgreSQL database, pass --token-key-file (HBX_SA_TOKEN_KEY_FILE): every \
         instance must verify tokens with the same keys. Create one with \
         `hbx-sa keys create --file PATH` and give every instance a copy"
    )]
    SharedKeyFileRequired,
    #[error(
        "--database-direct-url (database_direct_url) is set but --database-url is not: the \
         direct URL is the way around the pooler the database URL goes through; set both"
    )]
    DirectUrlWithoutDatabaseUrl,
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    #[error(transparent)]
    DevKey(#[from] DevKeyError),
    #[error(
        "--oauth-dev cannot be combined with --oauth-issuer: development tokens could then \
         speak for the issuer's real users"
    )]
    DevModeWithIssuer,
    #[error(transparent)]
    InsecureUrl(#[from] InsecureUrl),
    #[error("cannot open the database: {0}")]
    Store(#[from] StoreError),
    #[error("cannot read the role table {path}: {source}")]
    RolesFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the role table {path} is refused: {message}")]
    Roles { path: String, message: String },
}

/// The role table at `path`, or the one shipped with the server.
fn role_table(path: Option<&std::path::Path>) -> Result<RoleTable, OpenError> {
    let Some(path) = path else {
        return Ok(RoleTable::default_table());
    };
    let text = std::fs::read_to_string(path).map_err(|source| OpenError::RolesFile {
        path: path.display().to_string(),
        source,
    })?;
    RoleTable::parse(&text).map_err(|message| OpenError::Roles {
        path: path.display().to_string(),
        message,
    })
}

/// The opened state of one process: store, token keys and clock.
#[derive(Clone)]
pub struct App {
    store: Arc<dyn Store>,
    /// What verifying credentials reads: the cache in front of the store, or
    /// the store itself when caching is off.
    credentials: Arc<dyn CredentialLookup>,
    cache: Option<Arc<CredentialCache>>,
    minter: TokenMinter,
    clock: Arc<dyn Clock>,
    settings: Settings,
    oauth: Option<Arc<OAuthAuthenticator>>,
    /// What each role expands to.
    roles: Arc<RoleTable>,
    /// The keys of the secret-scanning partners whose reports are taken.
    github_keys: Arc<SenderKeys>,
    gitlab_keys: Arc<SenderKeys>,
    warnings: Vec<String>,
    /// Where the PostgreSQL URL was found to lead.
    route: Option<Route>,
}

impl App {
    /// Opens the store the settings name and the token keys. With SQLite (the
    /// default) that is the data directory, created with its database and its
    /// token key file on first use; with PostgreSQL, the database and a key file
    /// that must already exist (every instance needs the same keys). Either way
    /// the schema is brought up to date. Background work started later (key
    /// refreshes) logs to `log`.
    pub async fn open(
        settings: &Settings,
        clock: Arc<dyn Clock>,
        log: &Logger,
    ) -> Result<Self, OpenError> {
        if settings.database_direct_url.is_some() && settings.database_url.is_none() {
            return Err(OpenError::DirectUrlWithoutDatabaseUrl);
        }
        let mut route = None;
        let (store, keyring, key_path): (Arc<dyn Store>, _, _) = match &settings.database_url {
            Some(url) => {
                let key_path = settings
                    .token_key_file
                    .clone()
                    .ok_or(OpenError::SharedKeyFileRequired)?;
                let keyring = TokenKeyring::load(&key_path)?;
                let options = PostgresOptions {
                    max_connections: settings.database_max_connections,
                    timeout: settings.database_timeout,
                    direct_url: settings.database_direct_url.clone(),
                };
                let (store, found) = PostgresStore::open_routed(url, &options).await?;
                route = Some(found);
                (Arc::new(store), keyring, key_path)
            }
            None => {
                let data_dir = &settings.data_dir;
                crate::private_files::create_dir(data_dir).map_err(|source| {
                    OpenError::DataDir {
                        path: data_dir.display().to_string(),
                        source,
                    }
                })?;
                let (keyring, key_path) = match &settings.token_key_file {
                    Some(path) => (TokenKeyring::load(path)?, path.clone()),
                    None => {
                        let path = data_dir.join(TOKEN_KEY_FILE);
                        (TokenKeyring::load_or_create(&path)?, path)
                    }
                };
                let store =
                    SqliteStore::open(&data_dir.join(DATABASE_FILE), settings.database_timeout)
                        .await?;
                (Arc::new(store), keyring, key_path)
            }
        };
        let roles = Arc::new(role_table(settings.roles_file.as_deref())?);
        let mut warnings: Vec<String> =
            keyring::permission_warning(&key_path).into_iter().collect();
        let mut oauth = settings.oauth.clone();
        if settings.oauth_dev && !oauth.issuers.is_empty() {
            // Users are known by `sub` alone: whoever can mint development
            // tokens could then act as any real user.
            return Err(OpenError::DevModeWithIssuer);
        }
        if settings.federation_allow_loopback_issuers {
            warnings.push(
                "identity providers on plain http at a loopback address are taken \
                 (--federation-allow-loopback-issuers): for tests and development only."
                    .to_owned(),
            );
        }
        if settings.webhooks.allow_loopback_http {
            warnings.push(
                "webhooks may be delivered over plain http to loopback addresses \
                 (--webhook-allow-loopback-http): for tests and development only."
                    .to_owned(),
            );
        }
        if settings.webhooks.delivery.retry_speedup > 1 {
            warnings.push(format!(
                "webhook retries run {} times faster than the Standard Webhooks schedule \
                 (--webhook-retry-speedup): for tests only.",
                settings.webhooks.delivery.retry_speedup
            ));
        }
        if settings.oauth_dev {
            oauth
                .issuers
                .push(DevKey::load_or_create(&settings.data_dir)?.issuer());
            warnings.push(
                "development OAuth mode is on: tokens from `hbx-sa dev-token` are trusted. \
                 Never use --oauth-dev in production."
                    .to_owned(),
            );
        }
        let oauth = OAuthAuthenticator::new(&oauth, clock.clone(), log)?.map(Arc::new);
        let scanning = &settings.secret_scanning;
        let keys = |sender, url: &Option<String>| {
            SenderKeys::new(
                sender,
                url.clone(),
                scanning.keys_refetch_interval,
                clock.clone(),
                log,
            )
            .map(Arc::new)
        };
        let github_keys = keys(Sender::GitHub, &scanning.github_keys_url)?;
        let gitlab_keys = keys(Sender::GitLab, &scanning.gitlab_keys_url)?;
        let cache = (!settings.credential_cache_ttl.is_zero()).then(|| {
            CredentialCache::new(
                store.clone(),
                store.changes(),
                settings.credential_cache_ttl,
                cache::DEFAULT_CAPACITY,
            )
        });
        let credentials: Arc<dyn CredentialLookup> = match &cache {
            Some(cache) => cache.clone(),
            None => store.clone(),
        };
        Ok(Self {
            store,
            credentials,
            cache,
            oauth,
            roles,
            minter: TokenMinter {
                prefix: settings.token_prefix.clone(),
                keyring: Arc::new(keyring),
            },
            clock,
            settings: settings.clone(),
            github_keys,
            gitlab_keys,
            warnings,
            route,
        })
    }

    /// Problems worth telling the operator about that do not stop the start.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the PostgreSQL URL was found to lead (a transaction pooler, a
    /// direct connection beside it), for a server to tell at start; none
    /// with SQLite.
    pub fn route(&self) -> Option<Route> {
        self.route
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Whether credentials are cached (and so whether other writers must be
    /// watched).
    pub fn caches_credentials(&self) -> bool {
        self.cache.is_some()
    }

    /// The credential cache, if credentials are cached.
    pub fn credential_cache(&self) -> Option<Arc<CredentialCache>> {
        self.cache.clone()
    }

    /// Leaked-token reports and public revocations.
    pub fn leaks(&self) -> Leaks {
        Leaks::new(
            self.store.clone(),
            self.store.clone(),
            self.store.clone(),
            self.store.clone(),
            self.minter.keyring.clone(),
            self.minter.prefix.clone(),
            self.clock.clone(),
            self.settings.secret_scanning.action,
        )
    }

    /// The keys that sign `sender`'s leak reports.
    pub fn sender_keys(&self, sender: Sender) -> Arc<SenderKeys> {
        match sender {
            Sender::GitHub => self.github_keys.clone(),
            Sender::GitLab => self.gitlab_keys.clone(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Mints service-account tokens (with this server's prefix and keys).
    pub fn minter(&self) -> &TokenMinter {
        &self.minter
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Starts recording `last_used_at` in the background (on the current Tokio
    /// runtime), logging write failures to `log`.
    pub fn start_last_use_recorder(&self, log: Logger) -> Arc<LastUseRecorder> {
        LastUseRecorder::start(
            self.store.clone() as Arc<dyn LastUseLog>,
            self.clock.clone(),
            self.settings.last_use_interval,
            self.settings.last_use_flush_delay,
            log,
        )
    }

    /// An authenticator for API requests, recording uses with `last_use`.
    pub fn authenticator(&self, last_use: Option<Arc<LastUseRecorder>>) -> Authenticator {
        let mut schemes: Vec<Arc<dyn AuthnScheme>> =
            vec![Arc::new(ServiceAccountAuthenticator::new(
                self.credentials.clone(),
                self.minter.keyring.clone(),
                self.minter.prefix.clone(),
                self.clock.clone(),
                last_use,
            ))];
        if let Some(oauth) = &self.oauth {
            schemes.push(oauth.clone());
        }
        Authenticator::new(schemes)
    }

    /// Decides what callers may do, from their grants and roles (through
    /// the cache).
    pub fn authorizer(&self) -> Authorizer {
        Authorizer::new(self.credentials.clone(), self.roles.clone())
    }

    /// Where webhook deliveries may go.
    pub fn webhook_policy(&self) -> Arc<AddressPolicy> {
        Arc::new(AddressPolicy {
            allow_loopback_http: self.settings.webhooks.allow_loopback_http,
            allow_networks: self.settings.webhooks.allow_networks.clone(),
        })
    }

    pub fn webhook_sealer(&self) -> SecretSealer {
        SecretSealer::new(self.minter.keyring.clone())
    }

    pub fn webhooks(&self) -> Webhooks {
        Webhooks::new(
            self.store.clone(),
            self.store.clone(),
            self.store.clone(),
            self.webhook_sealer(),
            self.webhook_policy(),
            self.clock.clone(),
        )
    }

    pub fn authorizations(&self) -> Authorizations {
        Authorizations::new(self.store.clone(), self.clock.clone())
    }

    pub fn audit_log(&self) -> AuditLog {
        AuditLog::new(self.store.clone())
    }

    pub fn role_assignments(&self) -> RoleAssignments {
        RoleAssignments::new(self.store.clone(), self.roles.clone(), self.clock.clone())
    }

    pub fn service_accounts(&self) -> ServiceAccounts {
        ServiceAccounts::new(
            self.store.clone(),
            self.store.clone(),
            self.minter.clone(),
            self.clock.clone(),
            self.settings.token_policy,
        )
    }

    /// Idempotency keys of create and rotate, remembered for the configured
    /// retention. An attempt's lease outlasts any request: every database
    /// wait is bounded by the database timeout.
    pub fn idempotency(&self) -> Idempotency {
        let bound = chrono::TimeDelta::from_std(self.settings.database_timeout * 2)
            .unwrap_or(chrono::TimeDelta::MAX);
        Idempotency::new(
            self.store.clone(),
            self.minter.keyring.clone(),
            self.clock.clone(),
            self.settings.idempotency_retention,
            IDEMPOTENCY_LEASE_MIN.max(bound + chrono::TimeDelta::seconds(10)),
        )
    }

    pub fn introspection_clients(&self) -> IntrospectionClientAuthenticator {
        IntrospectionClientAuthenticator::new(self.credentials.clone(), self.minter.keyring.clone())
    }

    pub fn identity_providers(&self) -> IdentityProviders {
        IdentityProviders::new(self.store.clone(), self.clock.clone())
    }

    pub fn federation_rules(&self) -> FederationRules {
        FederationRules::new(
            self.store.clone(),
            self.store.clone(),
            self.credentials.clone(),
            self.clock.clone(),
        )
    }

    /// The federation exchange, with its own cache of the identity
    /// providers' keys (made once per server), logging key fetches to `log`.
    pub fn token_exchange(&self, log: &Logger) -> TokenExchange {
        let stores = ExchangeStores {
            providers: self.store.clone(),
            rules: self.store.clone(),
            tokens: self.store.clone(),
            service_accounts: self.store.clone(),
            audit: self.store.clone(),
        };
        let keys = FederationKeys::new(
            self.settings.oauth.key_policy,
            self.clock.clone(),
            log.clone(),
        );
        TokenExchange::new(stores, keys, self.minter.clone(), self.clock.clone())
    }

    pub fn identities(&self) -> Identities {
        Identities::new(self.credentials.clone(), self.roles.clone())
    }

    pub fn admin(&self) -> Admin {
        Admin::new(
            self.store.clone(),
            Arc::new(self.authorizations()),
            Arc::new(self.role_assignments()),
            self.store.clone(),
            self.store.clone(),
            self.clock.clone(),
        )
    }
}
