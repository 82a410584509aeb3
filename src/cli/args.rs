//! The flags of every command, and the one place where they become
//! [`Settings`]. Defaults are the named constants of the modules they belong
//! to, shown by `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use uuid::Uuid;

use super::webhook_args::WebhookArgs;
use crate::auth::last_use;
use crate::auth::leaks::{DEFAULT_REFETCH_INTERVAL, GITHUB_KEYS_URL};
use crate::auth::oauth::keys::{self, JwksLocation};
use crate::auth::oauth::{self, IssuerSettings};
use crate::config::{
    DEFAULT_BIND, DEFAULT_CREDENTIAL_CACHE_TTL, DEFAULT_DATA_DIR, DEFAULT_DATABASE_TIMEOUT,
    DEFAULT_EXCHANGE_RATE_PER_ADDRESS, DEFAULT_EXCHANGE_RATE_PER_SERVICE_ACCOUNT,
    DEFAULT_PUBLIC_REVOKE_IPV6_PREFIX, DEFAULT_PUBLIC_REVOKE_RATE, DEFAULT_SHUTDOWN_TIMEOUT,
    HumanDuration, Rate, SecretScanningSettings, Settings, TrustedProxy, parse_tolerance,
};
use crate::server::lifecycle::DEFAULT_METRICS_BIND;
use crate::service::admin::DEFAULT_BOOTSTRAP_NAME;
use crate::service::idempotency;
use crate::service::leaks::LeakAction;
use crate::service::policy::DEFAULT_MAX_ROTATION_GRACE;
use crate::store::postgres::DEFAULT_MAX_CONNECTIONS;
use crate::token::{DEFAULT_PREFIX, TokenPrefix};

/// Lifetime of a development token when not told otherwise.
pub const DEFAULT_DEV_TOKEN_TTL: HumanDuration = HumanDuration(chrono::TimeDelta::hours(1));

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, env = "HBX_SA_BIND", default_value = DEFAULT_BIND)]
    pub bind: SocketAddr,
    /// Least severe log level written to stderr
    #[arg(long, env = "HBX_SA_LOG_LEVEL", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
    /// Longest token lifetime a create may ask for (e.g. 90d); when set,
    /// expires_at is required
    #[arg(long, env = "HBX_SA_MAX_TOKEN_LIFETIME")]
    pub max_token_lifetime: Option<HumanDuration>,
    /// Longest grace period a rotation may give the replaced token
    /// (grace_period_seconds)
    #[arg(long, env = "HBX_SA_MAX_ROTATION_GRACE", default_value_t = HumanDuration(DEFAULT_MAX_ROTATION_GRACE))]
    pub max_rotation_grace: HumanDuration,
    /// How long an Idempotency-Key and its recorded response are kept
    #[arg(long, env = "HBX_SA_IDEMPOTENCY_RETENTION", default_value_t = HumanDuration(idempotency::DEFAULT_RETENTION))]
    pub idempotency_retention: HumanDuration,
    /// Write last_used_at at most once per token per this interval
    #[arg(long, env = "HBX_SA_LAST_USED_INTERVAL", default_value_t = HumanDuration(last_use::DEFAULT_INTERVAL))]
    pub last_used_interval: HumanDuration,
    /// Serve TLS with this certificate chain (PEM); needs --tls-key-file
    #[arg(long, env = "HBX_SA_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// The TLS private key (PEM, PKCS #8); needs --tls-cert-file
    #[arg(long, env = "HBX_SA_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// Serve plain HTTP on a non-loopback address (for a TLS-terminating proxy
    /// in front); without it such a bind is refused
    #[arg(long, env = "HBX_SA_ALLOW_PLAIN_HTTP")]
    pub allow_plain_http: bool,
    /// Serve /metrics on this address (never on the API's); a non-loopback
    /// address exposes them to whoever can reach it
    #[arg(long, env = "HBX_SA_METRICS_BIND", default_value = DEFAULT_METRICS_BIND)]
    pub metrics_bind: SocketAddr,
    /// On SIGTERM or SIGINT, how long in-flight requests may go on before
    /// they are cut
    #[arg(long, env = "HBX_SA_SHUTDOWN_TIMEOUT", default_value_t = HumanDuration::from_std(DEFAULT_SHUTDOWN_TIMEOUT))]
    pub shutdown_timeout: HumanDuration,
    /// Log lines as JSON, as text, or auto: JSON unless stderr is a terminal
    #[arg(long, env = "HBX_SA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
    /// Print the effective configuration as JSON (secrets redacted) and exit
    #[arg(long)]
    pub check_config: bool,
    /// How long verified credentials' stored facts are reused (0s: never).
    /// Changes made through this server apply at once; changes made by other
    /// instances or commands within this bound
    #[arg(long, env = "HBX_SA_CREDENTIAL_CACHE_TTL", value_parser = parse_tolerance, default_value_t = HumanDuration::from_std(DEFAULT_CREDENTIAL_CACHE_TTL))]
    pub credential_cache_ttl: HumanDuration,
    /// Where GitHub publishes the keys that sign its secret-scanning reports
    #[arg(long, env = "HBX_SA_SECRET_SCANNING_GITHUB_KEYS_URL", default_value = GITHUB_KEYS_URL)]
    pub secret_scanning_github_keys_url: String,
    /// Where GitLab's signing keys are published (unset: GitLab reports are
    /// refused)
    #[arg(long, env = "HBX_SA_SECRET_SCANNING_GITLAB_KEYS_URL")]
    pub secret_scanning_gitlab_keys_url: Option<String>,
    /// Least time between two fetches of a partner's signing keys (a report
    /// naming an unknown key triggers one)
    #[arg(long, env = "HBX_SA_SECRET_SCANNING_KEYS_REFETCH_INTERVAL", default_value_t = HumanDuration::from_std(DEFAULT_REFETCH_INTERVAL))]
    pub secret_scanning_keys_refetch_interval: HumanDuration,
    /// What a partner's report of a live token does: revoke it, or only
    /// record the report (notify)
    #[arg(long, env = "HBX_SA_SECRET_SCANNING_ACTION", value_enum, default_value_t = SecretScanningAction::Revoke)]
    pub secret_scanning_action: SecretScanningAction,
    /// Public revocation requests allowed per client address (requests/duration)
    #[arg(long, env = "HBX_SA_PUBLIC_REVOKE_RATE", default_value_t = DEFAULT_PUBLIC_REVOKE_RATE)]
    pub public_revoke_rate: Rate,
    /// Proxies whose X-Forwarded-For is believed (addresses or networks,
    /// comma-separated in the variable); without them it is ignored
    #[arg(long, env = "HBX_SA_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<TrustedProxy>,
    /// IPv6 clients of the public revocation endpoint are limited by network:
    /// the first this many bits of their address (128: each address alone)
    #[arg(long, env = "HBX_SA_PUBLIC_REVOKE_IPV6_PREFIX",
        default_value_t = DEFAULT_PUBLIC_REVOKE_IPV6_PREFIX,
        value_parser = clap::value_parser!(u8).range(1..=128))]
    pub public_revoke_ipv6_prefix: u8,
    #[command(flatten)]
    pub oauth: OAuthArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// What a partner's report of a live token does.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretScanningAction {
    /// Put the leaked token out of use
    Revoke,
    /// Only record the report in the audit log
    Notify,
}

#[derive(Args)]
pub struct ScanArgs {
    /// Files and directories to search (directories recursively); `-` reads
    /// standard input. None: the current directory
    pub paths: Vec<PathBuf>,
    /// The prefix of the tokens to look for
    #[arg(long, env = "HBX_SA_TOKEN_PREFIX", default_value = DEFAULT_PREFIX)]
    pub token_prefix: TokenPrefix,
}

#[derive(Args)]
pub struct DevTokenArgs {
    /// The user (the token's sub)
    #[arg(long, env = "HBX_SA_USER")]
    pub user: Uuid,
    /// A group the token lists in its `groups` claim (repeat for several)
    #[arg(long, value_parser = parse_group)]
    pub group: Vec<String>,
    /// How long the token lives (at most 24h)
    #[arg(long, env = "HBX_SA_TTL", default_value_t = DEFAULT_DEV_TOKEN_TTL)]
    pub ttl: HumanDuration,
    /// Directory holding the development key (created on first use)
    #[arg(long, env = "HBX_SA_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

#[derive(Args)]
pub struct BootstrapArgs {
    /// Name of the new account
    #[arg(long, env = "HBX_SA_ACCOUNT_NAME")]
    pub account_name: String,
    /// Name of the owner service account
    #[arg(long, env = "HBX_SA_SERVICE_ACCOUNT_NAME", default_value = DEFAULT_BOOTSTRAP_NAME)]
    pub service_account_name: String,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Create an account
    Create(CreateAccountArgs),
    /// List every account, one JSON object per line, oldest first
    List(StorageOnlyArgs),
}

/// A command that needs nothing but the storage.
#[derive(Args)]
pub struct StorageOnlyArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct CreateAccountArgs {
    /// Name of the account
    #[arg(long, env = "HBX_SA_NAME")]
    pub name: String,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a token key file with one fresh key (mode 0600); never overwrites
    Create(CreateKeyFileArgs),
}

#[derive(Args)]
pub struct CreateKeyFileArgs {
    /// Where to write it
    #[arg(long, env = "HBX_SA_TOKEN_KEY_FILE")]
    pub file: PathBuf,
}

#[derive(Subcommand)]
pub enum IntrospectionClientsCommand {
    /// Create an introspection client; prints its client_id and client_secret
    /// (shown this once)
    Create(CreateIntrospectionClientArgs),
    /// List the introspection clients, one JSON object per line
    List(ListIntrospectionClientsArgs),
    /// Revoke an introspection client: it can no longer introspect
    Revoke(RevokeIntrospectionClientArgs),
}

#[derive(Args)]
pub struct CreateIntrospectionClientArgs {
    /// What the client is (the platform component that will use it)
    #[arg(long, env = "HBX_SA_NAME")]
    pub name: String,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct ListIntrospectionClientsArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct RevokeIntrospectionClientArgs {
    /// The client to revoke
    #[arg(long, env = "HBX_SA_CLIENT_ID")]
    pub client_id: String,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct OAuthArgs {
    /// Accept OAuth access tokens (JWTs) from this issuer; `iss` must match exactly
    #[arg(long, env = "HBX_SA_OAUTH_ISSUER")]
    pub oauth_issuer: Option<String>,
    /// An accepted audience (repeatable; comma-separated in the variable)
    #[arg(long, env = "HBX_SA_OAUTH_AUDIENCE", value_delimiter = ',')]
    pub oauth_audience: Vec<String>,
    /// The issuer's JWKS; without it or --oauth-jwks-file, it is discovered from
    /// {issuer}/.well-known/openid-configuration
    #[arg(long, env = "HBX_SA_OAUTH_JWKS_URL")]
    pub oauth_jwks_url: Option<String>,
    /// The issuer's JWKS as a file (read again when an unknown key shows up)
    #[arg(long, env = "HBX_SA_OAUTH_JWKS_FILE")]
    pub oauth_jwks_file: Option<PathBuf>,
    /// Clock skew tolerated on a token's exp and nbf
    #[arg(long, env = "HBX_SA_OAUTH_LEEWAY", value_parser = parse_tolerance, default_value_t = HumanDuration(oauth::DEFAULT_LEEWAY))]
    pub oauth_leeway: HumanDuration,
    /// Least time between two JWKS fetches (a token with an unknown key triggers one)
    #[arg(long, env = "HBX_SA_OAUTH_JWKS_REFETCH_INTERVAL", default_value_t = HumanDuration(keys::DEFAULT_REFETCH_INTERVAL))]
    pub oauth_jwks_refetch_interval: HumanDuration,
    /// The access-token claim that lists a user's groups (Keycloak's `groups`)
    #[arg(long, env = "HBX_SA_OAUTH_GROUPS_CLAIM", default_value = oauth::groups::DEFAULT_GROUPS_CLAIM, value_parser = parse_claim_name)]
    pub oauth_groups_claim: String,
    /// Trust tokens from `hbx-sa dev-token` (the local development key). NOT FOR PRODUCTION
    #[arg(long, env = "HBX_SA_OAUTH_DEV")]
    pub oauth_dev: bool,
    /// Take federation identity providers on plain http at a loopback address (tests and development). NOT FOR PRODUCTION
    #[arg(long, env = "HBX_SA_FEDERATION_ALLOW_LOOPBACK_ISSUERS")]
    pub federation_allow_loopback_issuers: bool,
    /// Federation exchanges allowed per client address (requests/duration)
    #[arg(long, env = "HBX_SA_EXCHANGE_RATE_PER_ADDRESS", default_value_t = DEFAULT_EXCHANGE_RATE_PER_ADDRESS)]
    pub exchange_rate_per_address: Rate,
    /// Federation exchanges allowed per service account (requests/duration)
    #[arg(long, env = "HBX_SA_EXCHANGE_RATE_PER_SERVICE_ACCOUNT", default_value_t = DEFAULT_EXCHANGE_RATE_PER_SERVICE_ACCOUNT)]
    pub exchange_rate_per_service_account: Rate,
}

#[derive(Args)]
pub struct StorageArgs {
    /// Directory holding the SQLite database and the token key file
    #[arg(long, env = "HBX_SA_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// PostgreSQL database to use instead of SQLite (postgres://user@host/db);
    /// needs --token-key-file
    #[arg(long, env = "HBX_SA_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A PostgreSQL URL that bypasses the transaction pooler (PgBouncer) the
    /// database URL goes through: one connection per process, for migrations
    /// and for hearing other instances' credential changes at once
    #[arg(long, env = "HBX_SA_DATABASE_DIRECT_URL", hide_env_values = true)]
    pub database_direct_url: Option<String>,
    /// Most connections to PostgreSQL per process
    #[arg(long, env = "HBX_SA_DATABASE_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub database_max_connections: u32,
    /// The role table: what each role expands to (default: the one shipped,
    /// deploy/roles.toml)
    #[arg(long, env = "HBX_SA_ROLES_FILE")]
    pub roles_file: Option<PathBuf>,
    /// Token key file to use instead of <data-dir>/token-keys (must exist)
    #[arg(long, env = "HBX_SA_TOKEN_KEY_FILE")]
    pub token_key_file: Option<PathBuf>,
    /// Prefix of issued tokens (1-16 lowercase letters)
    #[arg(long, env = "HBX_SA_TOKEN_PREFIX", default_value = DEFAULT_PREFIX)]
    pub token_prefix: TokenPrefix,
    /// Milliseconds an operation waits for the database before failing with 503
    #[arg(long, env = "HBX_SA_DATABASE_TIMEOUT_MS", default_value_t = DEFAULT_DATABASE_TIMEOUT.as_millis() as u64)]
    pub database_timeout_ms: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl StorageArgs {
    /// The settings of a storage command; `serve` adds its own to these.
    pub fn settings(self) -> Settings {
        Settings {
            database_url: self.database_url,
            database_direct_url: self.database_direct_url,
            database_max_connections: self.database_max_connections,
            token_key_file: self.token_key_file,
            token_prefix: self.token_prefix,
            database_timeout: Duration::from_millis(self.database_timeout_ms),
            roles_file: self.roles_file,
            ..Settings::in_dir(self.data_dir)
        }
    }
}

/// Settings that make no sense together. They are checked here rather than
/// by clap, whose `requires` cannot see values from the configuration file
/// (they are clap's defaults), so that halves from any two sources make a
/// whole and a half alone is refused whatever its source.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(
        "`{setting}` is set but `{needs}` is not: set both (flags --{}/--{}, or the \
         configuration file's keys of those names)",
        flag(setting),
        flag(needs)
    )]
    Needs {
        setting: &'static str,
        needs: &'static str,
    },
    #[error(
        "`{0}` and `{1}` are both set (from flags, variables or the configuration file): \
         choose one"
    )]
    Conflict(&'static str, &'static str),
}

/// A claim name: not empty, no control characters.
fn parse_claim_name(text: &str) -> Result<String, String> {
    if text.is_empty() || text.chars().any(char::is_control) {
        return Err("name a claim of the access token (Keycloak's is `groups`)".to_owned());
    }
    Ok(text.to_owned())
}

/// A group a development token lists: what a group grant can name.
fn parse_group(text: &str) -> Result<String, String> {
    crate::domain::Subject::parse(crate::domain::SubjectType::Group, text)
        .map(|subject| subject.id())
        .map_err(|e| format!("a group {}", e.message))
}

/// The flag of a setting's key.
fn flag(key: &str) -> String {
    key.replace('_', "-")
}

impl ServeArgs {
    /// The relations between settings, whatever their sources.
    fn check_relations(&self) -> Result<(), SettingsError> {
        let oauth = &self.oauth;
        let set = [
            ("tls_cert_file", self.tls_cert_file.is_some()),
            ("tls_key_file", self.tls_key_file.is_some()),
            ("oauth_issuer", oauth.oauth_issuer.is_some()),
            ("oauth_audience", !oauth.oauth_audience.is_empty()),
            ("oauth_jwks_url", oauth.oauth_jwks_url.is_some()),
            ("oauth_jwks_file", oauth.oauth_jwks_file.is_some()),
        ];
        let is_set = |key: &str| set.iter().any(|&(k, on)| k == key && on);
        for (setting, needs) in [
            ("tls_cert_file", "tls_key_file"),
            ("tls_key_file", "tls_cert_file"),
            ("oauth_issuer", "oauth_audience"),
            ("oauth_audience", "oauth_issuer"),
            ("oauth_jwks_url", "oauth_issuer"),
            ("oauth_jwks_file", "oauth_issuer"),
        ] {
            if is_set(setting) && !is_set(needs) {
                return Err(SettingsError::Needs { setting, needs });
            }
        }
        if is_set("oauth_jwks_url") && is_set("oauth_jwks_file") {
            return Err(SettingsError::Conflict("oauth_jwks_url", "oauth_jwks_file"));
        }
        Ok(())
    }

    /// Every setting of the server: storage, token rules, OAuth; refused if
    /// some of them contradict each other.
    pub fn settings(self) -> Result<Settings, SettingsError> {
        self.check_relations()?;
        let oauth = self.oauth;
        let mut settings = self.storage.settings();
        settings.token_policy.max_lifetime = self.max_token_lifetime.map(|d| d.0);
        settings.token_policy.max_rotation_grace = self.max_rotation_grace.0;
        settings.idempotency_retention = self.idempotency_retention.0;
        settings.last_use_interval = self.last_used_interval.0;
        settings.credential_cache_ttl = self.credential_cache_ttl.to_std();
        if let Some(issuer) = oauth.oauth_issuer {
            let keys = match (oauth.oauth_jwks_url, oauth.oauth_jwks_file) {
                (Some(url), _) => JwksLocation::JwksUrl(url),
                (None, Some(file)) => JwksLocation::JwksFile(file),
                (None, None) => JwksLocation::Discover,
            };
            settings.oauth.issuers.push(IssuerSettings {
                issuer,
                audiences: oauth.oauth_audience,
                keys,
            });
        }
        settings.oauth.leeway = oauth.oauth_leeway.0;
        settings.oauth.groups_claim = oauth.oauth_groups_claim;
        settings.oauth.key_policy.refetch_interval = oauth.oauth_jwks_refetch_interval.0;
        settings.oauth_dev = oauth.oauth_dev;
        settings.federation_allow_loopback_issuers = oauth.federation_allow_loopback_issuers;
        settings.exchange_rate_per_address = oauth.exchange_rate_per_address;
        settings.exchange_rate_per_service_account = oauth.exchange_rate_per_service_account;
        settings.webhooks = self.webhooks.settings();
        settings.secret_scanning = SecretScanningSettings {
            github_keys_url: Some(self.secret_scanning_github_keys_url)
                .filter(|url| !url.is_empty()),
            gitlab_keys_url: self.secret_scanning_gitlab_keys_url,
            keys_refetch_interval: self.secret_scanning_keys_refetch_interval.to_std(),
            action: match self.secret_scanning_action {
                SecretScanningAction::Revoke => LeakAction::Revoke,
                SecretScanningAction::Notify => LeakAction::Notify,
            },
            public_revoke_rate: self.public_revoke_rate,
            trusted_proxies: self.trusted_proxies,
            public_revoke_ipv6_prefix: self.public_revoke_ipv6_prefix,
        };
        Ok(settings)
    }
}
