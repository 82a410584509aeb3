//! `hbx-sa`: the command line. Runs the server, and the operator commands that
//! work on the same storage (also while a server runs). Every flag has an
//! `HBX_SA_*` environment variable; flags win. Results go to stdout as one JSON
//! object; messages go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use clap::{Args, Parser, Subcommand, ValueEnum};
use dropshot::{ConfigLogging, ConfigLoggingLevel};
use serde_json::json;
use slog::{info, warn};
use uuid::Uuid;

use hbx_service_accounts::api;
use hbx_service_accounts::app::App;
use hbx_service_accounts::auth::oauth::{self, IssuerSettings, dev::DevKey, keys::KeySource};
use hbx_service_accounts::clock::{Clock, SystemClock};
use hbx_service_accounts::config::{
    DEFAULT_BIND, DEFAULT_DATA_DIR, DEFAULT_DATABASE_TIMEOUT, Settings, parse_duration,
};
use hbx_service_accounts::domain::{Capability, CapabilityKey, Subject};
use hbx_service_accounts::server::Server;
use hbx_service_accounts::service::admin::DEFAULT_BOOTSTRAP_NAME;
use hbx_service_accounts::store::postgres::DEFAULT_MAX_CONNECTIONS;
use hbx_service_accounts::token::keyring;
use hbx_service_accounts::token::{DEFAULT_PREFIX, TokenPrefix};

#[derive(Parser)]
#[command(
    name = "hbx-sa",
    version,
    about = "Hybridbox's service-accounts API: server and operator commands"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (with no flags: SQLite in ./hbx-sa-data, on 127.0.0.1:8080)
    Serve {
        /// Address to listen on
        #[arg(long, env = "HBX_SA_BIND", default_value = DEFAULT_BIND)]
        bind: SocketAddr,
        /// Least severe log level written to stderr
        #[arg(long, env = "HBX_SA_LOG_LEVEL", value_enum, default_value_t = LogLevel::Info)]
        log_level: LogLevel,
        /// Longest token lifetime a create may ask for (e.g. 90d); when set,
        /// expires_at is required
        #[arg(long, env = "HBX_SA_MAX_TOKEN_LIFETIME", value_parser = parse_duration)]
        max_token_lifetime: Option<TimeDelta>,
        /// Write last_used_at at most once per token per this interval
        #[arg(long, env = "HBX_SA_LAST_USED_INTERVAL", value_parser = parse_duration, default_value = "60s")]
        last_used_interval: TimeDelta,
        #[command(flatten)]
        oauth: OAuthArgs,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Print a short-lived OAuth access token signed by the local development
    /// key, for `serve --oauth-dev` (NOT FOR PRODUCTION)
    DevToken {
        /// The user (the token's sub)
        #[arg(long, env = "HBX_SA_USER")]
        user: Uuid,
        /// How long the token lives (at most 24h)
        #[arg(long, env = "HBX_SA_TTL", value_parser = parse_duration, default_value = "1h")]
        ttl: TimeDelta,
        /// Directory holding the development key (created on first use)
        #[arg(long, env = "HBX_SA_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
    },
    /// Create an account and a service account that owns it; print its token
    Bootstrap {
        /// Name of the new account
        #[arg(long, env = "HBX_SA_ACCOUNT_NAME")]
        account_name: String,
        /// Name of the owner service account
        #[arg(long, env = "HBX_SA_SERVICE_ACCOUNT_NAME", default_value = DEFAULT_BOOTSTRAP_NAME)]
        service_account_name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Manage accounts
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Manage grants of capabilities on accounts
    Grants {
        #[command(subcommand)]
        command: GrantsCommand,
    },
    /// Manage token key files
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print an account's audit log as JSON lines, oldest first
    Audit {
        /// The account whose log to print
        #[arg(long, env = "HBX_SA_ACCOUNT")]
        account: Uuid,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Print the OpenAPI document (identical to openapi/hbx-service-accounts.json)
    Openapi,
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Create an account
    Create {
        /// Name of the account
        #[arg(long, env = "HBX_SA_NAME")]
        name: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a token key file with one fresh key (mode 0600); never overwrites
    Create {
        /// Where to write it
        #[arg(long, env = "HBX_SA_TOKEN_KEY_FILE")]
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum GrantsCommand {
    /// Grant a capability (or ownership) on an account to a user or a service account
    Add {
        /// The account the grant is on
        #[arg(long, env = "HBX_SA_ACCOUNT")]
        account: Uuid,
        #[command(flatten)]
        subject: SubjectArgs,
        #[command(flatten)]
        capability: CapabilityArgs,
        #[command(flatten)]
        storage: StorageArgs,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct SubjectArgs {
    /// A user, by the `sub` of their OAuth access tokens
    #[arg(long, env = "HBX_SA_USER")]
    user: Option<Uuid>,
    /// A service account (it must belong to the account)
    #[arg(long, env = "HBX_SA_SERVICE_ACCOUNT")]
    service_account: Option<Uuid>,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct CapabilityArgs {
    /// Capability key to grant (auth.manage; other services' keys are kept too)
    #[arg(long, env = "HBX_SA_CAPABILITY")]
    capability: Option<String>,
    /// Grant ownership, which implies every capability
    #[arg(long, env = "HBX_SA_OWNER")]
    owner: bool,
}

#[derive(Args)]
struct OAuthArgs {
    /// Accept OAuth access tokens (JWTs) from this issuer; `iss` must match exactly
    #[arg(long, env = "HBX_SA_OAUTH_ISSUER", requires = "oauth_audience")]
    oauth_issuer: Option<String>,
    /// An accepted audience (repeatable; comma-separated in the variable)
    #[arg(
        long,
        env = "HBX_SA_OAUTH_AUDIENCE",
        value_delimiter = ',',
        requires = "oauth_issuer"
    )]
    oauth_audience: Vec<String>,
    /// The issuer's JWKS; without it or --oauth-jwks-file, it is discovered from
    /// {issuer}/.well-known/openid-configuration
    #[arg(
        long,
        env = "HBX_SA_OAUTH_JWKS_URL",
        requires = "oauth_issuer",
        conflicts_with = "oauth_jwks_file"
    )]
    oauth_jwks_url: Option<String>,
    /// The issuer's JWKS as a file (read again when an unknown key shows up)
    #[arg(long, env = "HBX_SA_OAUTH_JWKS_FILE", requires = "oauth_issuer")]
    oauth_jwks_file: Option<PathBuf>,
    /// Clock skew tolerated on a token's exp and nbf
    #[arg(long, env = "HBX_SA_OAUTH_LEEWAY", value_parser = parse_leeway, default_value = "30s")]
    oauth_leeway: TimeDelta,
    /// Least time between two JWKS fetches (a token with an unknown key triggers one)
    #[arg(long, env = "HBX_SA_OAUTH_JWKS_REFETCH_INTERVAL", value_parser = parse_duration, default_value = "10s")]
    oauth_jwks_refetch_interval: TimeDelta,
    /// Trust tokens from `hbx-sa dev-token` (the local development key). NOT FOR PRODUCTION
    #[arg(long, env = "HBX_SA_OAUTH_DEV")]
    oauth_dev: bool,
}

impl OAuthArgs {
    fn apply(self, settings: &mut Settings) {
        if let Some(issuer) = self.oauth_issuer {
            let keys = match (self.oauth_jwks_url, self.oauth_jwks_file) {
                (Some(url), _) => KeySource::JwksUrl(url),
                (None, Some(file)) => KeySource::JwksFile(file),
                (None, None) => KeySource::Discover,
            };
            settings.oauth.issuers.push(IssuerSettings {
                issuer,
                audiences: self.oauth_audience,
                keys,
            });
        }
        settings.oauth.leeway = self.oauth_leeway;
        settings.oauth.key_policy.refetch_interval = self.oauth_jwks_refetch_interval;
        settings.oauth_dev = self.oauth_dev;
    }
}

/// A duration that may be zero.
fn parse_leeway(text: &str) -> Result<TimeDelta, String> {
    if text.trim_end_matches(['s', 'm', 'h', 'd']) == "0" {
        return Ok(TimeDelta::zero());
    }
    parse_duration(text)
}

#[derive(Args)]
struct StorageArgs {
    /// Directory holding the SQLite database and the token key file
    #[arg(long, env = "HBX_SA_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    data_dir: PathBuf,
    /// PostgreSQL database to use instead of SQLite (postgres://user@host/db);
    /// needs --token-key-file
    #[arg(long, env = "HBX_SA_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Most connections to PostgreSQL per process
    #[arg(long, env = "HBX_SA_DATABASE_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS)]
    database_max_connections: u32,
    /// Token key file to use instead of <data-dir>/token-keys (must exist)
    #[arg(long, env = "HBX_SA_TOKEN_KEY_FILE")]
    token_key_file: Option<PathBuf>,
    /// Prefix of issued tokens (1-16 lowercase letters)
    #[arg(long, env = "HBX_SA_TOKEN_PREFIX", default_value = DEFAULT_PREFIX)]
    token_prefix: String,
    /// Milliseconds an operation waits for the database before failing with 503
    #[arg(long, env = "HBX_SA_DATABASE_TIMEOUT_MS", default_value_t = DEFAULT_DATABASE_TIMEOUT.as_millis() as u64)]
    database_timeout_ms: u64,
}

impl StorageArgs {
    fn settings(self) -> Result<Settings, String> {
        Ok(Settings {
            database_url: self.database_url,
            database_max_connections: self.database_max_connections,
            token_key_file: self.token_key_file,
            token_prefix: TokenPrefix::parse(&self.token_prefix)?,
            database_timeout: Duration::from_millis(self.database_timeout_ms),
            ..Settings::in_dir(self.data_dir)
        })
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl From<LogLevel> for ConfigLoggingLevel {
    fn from(level: LogLevel) -> Self {
        match level {
            LogLevel::Trace => ConfigLoggingLevel::Trace,
            LogLevel::Debug => ConfigLoggingLevel::Debug,
            LogLevel::Info => ConfigLoggingLevel::Info,
            LogLevel::Warn => ConfigLoggingLevel::Warn,
            LogLevel::Error => ConfigLoggingLevel::Error,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hbx-sa: error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Serve {
            bind,
            log_level,
            max_token_lifetime,
            last_used_interval,
            oauth,
            storage,
        } => {
            let mut settings = storage.settings()?;
            settings.token_policy.max_lifetime = max_token_lifetime;
            settings.last_use_interval = last_used_interval;
            oauth.apply(&mut settings);
            serve(bind, log_level, settings).await
        }
        Command::DevToken {
            user,
            ttl,
            data_dir,
        } => {
            let key = DevKey::load_or_create(&data_dir).map_err(|e| e.to_string())?;
            let now = SystemClock.now();
            let token = key.token(user, now, ttl)?;
            print_json(&json!({
                "access_token": token,
                "token_type": "Bearer",
                "user_id": user,
                "expires_at": now + ttl,
                "issuer": oauth::dev::ISSUER,
                "audience": oauth::dev::AUDIENCE,
            }));
            eprintln!(
                "A development token, trusted only by `hbx-sa serve --oauth-dev` on this data \
                 directory. Not for production."
            );
            Ok(())
        }
        Command::Bootstrap {
            account_name,
            service_account_name,
            storage,
        } => {
            let app = open(storage).await?;
            let made = app
                .admin()
                .bootstrap(app.issuer(), account_name, service_account_name)
                .await
                .map_err(|e| e.to_string())?;
            let owner = &made.owner.service_account;
            print_json(&json!({
                "account_id": made.account.id,
                "account_name": made.account.name,
                "service_account_id": owner.id,
                "service_account_name": owner.name,
                "token": made.owner.token.expose(),
                "token_prefix": owner.token.prefix,
                "token_public_id": owner.token.public_id,
                "token_last4": owner.token.last4,
            }));
            eprintln!(
                "Created account {} with owner service account {}. Store the token now: \
                 it is not shown again.",
                made.account.id, owner.id
            );
            Ok(())
        }
        Command::Accounts {
            command: AccountsCommand::Create { name, storage },
        } => {
            let app = open(storage).await?;
            let account = app
                .admin()
                .create_account(name)
                .await
                .map_err(|e| e.to_string())?;
            print_json(&json!({
                "id": account.id,
                "name": account.name,
                "created_at": account.created_at,
            }));
            Ok(())
        }
        Command::Grants {
            command:
                GrantsCommand::Add {
                    account,
                    subject,
                    capability,
                    storage,
                },
        } => {
            let subject = match (subject.user, subject.service_account) {
                (Some(user), _) => Subject::User(user),
                (_, Some(service_account)) => Subject::ServiceAccount(service_account),
                (None, None) => unreachable!("clap requires one of --user and --service-account"),
            };
            let capability = match capability.capability {
                _ if capability.owner => Capability::AccountOwner.into(),
                Some(key) => CapabilityKey::parse(&key).map_err(|e| e.message)?,
                None => unreachable!("clap requires one of --capability and --owner"),
            };
            if capability.known().is_none() {
                eprintln!(
                    "hbx-sa: note: this service acts only on auth.manage and ownership; a \
                     grant of {} gives standing in the account (403 rather than 404) and \
                     nothing more here",
                    capability.as_str()
                );
            }
            let app = open(storage).await?;
            let grant = app
                .admin()
                .add_grant(account, subject, capability)
                .await
                .map_err(|e| e.to_string())?;
            print_json(&json!({
                "account_id": grant.account_id,
                "subject_type": grant.subject.kind(),
                "subject_id": grant.subject.id(),
                "capability": grant.capability.as_str(),
            }));
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Create { file },
        } => {
            keyring::create_key_file(&file).map_err(|e| e.to_string())?;
            print_json(&json!({ "file": file }));
            eprintln!(
                "Created {}. Keep it secret and backed up, and give every instance that \
                 shares a database a copy.",
                file.display()
            );
            Ok(())
        }
        Command::Audit { account, storage } => {
            let app = open(storage).await?;
            let events = app
                .admin()
                .audit_events(account)
                .await
                .map_err(|e| e.to_string())?;
            for event in events {
                print_json(&json!({
                    "occurred_at": event.occurred_at,
                    "account_id": event.account_id,
                    "service_account_id": event.service_account_id,
                    "action": event.action.as_str(),
                    "actor_type": event.actor.kind(),
                    "actor_id": event.actor.id(),
                    "request_id": event.request_id,
                }));
            }
            Ok(())
        }
        Command::Openapi => {
            print!("{}", api::openapi_document());
            Ok(())
        }
    }
}

async fn open(storage: StorageArgs) -> Result<App, String> {
    let app = App::open(&storage.settings()?, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
    for warning in app.warnings() {
        eprintln!("hbx-sa: warning: {warning}");
    }
    Ok(app)
}

async fn serve(bind: SocketAddr, level: LogLevel, settings: Settings) -> Result<(), String> {
    let log = ConfigLogging::StderrTerminal {
        level: level.into(),
    }
    .to_logger("hbx-sa")
    .map_err(|e| format!("cannot set up logging: {e}"))?;
    let app = App::open(&settings, Arc::new(SystemClock))
        .await
        .map_err(|e| e.to_string())?;
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
        result = server.wait_for_shutdown() => return result,
        _ = shutdown_signal() => info!(log, "shutting down"),
    }
    let closed = server.close().await;
    app.store().close().await;
    closed
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

fn print_json(value: &serde_json::Value) {
    println!("{value}");
}
