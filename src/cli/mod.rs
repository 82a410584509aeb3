//! `hbx-sa`, the command line: the server and the operator commands that work
//! on the same storage (also while a server runs). Every flag has an
//! `HBX_SA_*` environment variable; flags win. A command's result is one
//! serialized value on stdout (JSON, or JSON lines for a log); messages for
//! people go to stderr; a failure exits 1 with a message that says what to do.
//!
//! [`args`] holds the flags and builds the settings from them (in one place),
//! over the configuration file ([`config_file`]); [`serve`] runs the server;
//! [`operator`] holds the one-shot commands (and [`access`] those on grants
//! and roles, with their flags in [`access_args`]), each a function returning a
//! `Serialize` value that [`output`] prints; [`scan`] finds leaked tokens in
//! files.

pub mod access;
pub mod access_args;
pub mod args;
pub mod audit;
pub mod config_file;
pub mod error;
pub mod operator;
pub mod output;
pub mod scan;
pub mod serve;
pub mod storage;
pub mod text_log;
pub mod webhook_args;
pub mod webhooks;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use self::access_args::{AuditArgs, GrantsCommand, RolesCommand};
use self::args::{
    AccountsCommand, BootstrapArgs, DevTokenArgs, IntrospectionClientsCommand, KeysCommand,
    ScanArgs, ServeArgs,
};
use self::config_file::{ConfigFile, Invocation};
pub use self::error::CliError;
use self::output::{print_lines, print_object};

#[derive(Parser)]
#[command(
    name = "hbx-sa",
    version,
    about = "Hybridbox's service-accounts API: server and operator commands"
)]
pub struct Cli {
    /// A TOML file of settings, keys named like the flags in snake case
    /// (`bind`, `data_dir`, `database_url`, ...); flags and variables win
    #[arg(long, env = config_file::CONFIG_VARIABLE, global = true)]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (with no flags: SQLite in ./hbx-sa-data, on 127.0.0.1:8080)
    Serve(Box<ServeArgs>),
    /// Print a short-lived OAuth access token signed by the local development
    /// key, for `serve --oauth-dev` (NOT FOR PRODUCTION)
    DevToken(DevTokenArgs),
    /// Create an account and a service account that owns it; print its token
    Bootstrap(BootstrapArgs),
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
    /// Manage role assignments on accounts
    Roles {
        #[command(subcommand)]
        command: RolesCommand,
    },
    /// Manage the clients that may introspect tokens (other Hybridbox services)
    IntrospectionClients {
        #[command(subcommand)]
        command: IntrospectionClientsCommand,
    },
    /// Manage token key files
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Print an account's audit log as JSON lines, newest first, in the
    /// API's shape (GET .../auth/audit-events), with the same filters
    Audit(AuditArgs),
    /// Read webhook subscriptions' delivery logs
    Webhooks {
        #[command(subcommand)]
        command: webhooks::WebhooksCommand,
    },
    /// Print the OpenAPI document (identical to openapi/hbx-service-accounts.json)
    Openapi,
    /// Find leaked tokens (valid checksum) in files, directories or stdin (-);
    /// exit 1 if any is found. Prints where, never the secret
    Scan(ScanArgs),
}

/// Parses the command line (over the configuration file, if any), runs the
/// command and reports how it went.
pub fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = Cli::command();
    let file = match config_file::config_path(&argv) {
        None => None,
        Some(path) => match ConfigFile::load(&path, &command) {
            Ok(file) => Some(file),
            Err(error) => {
                eprintln!("hbx-sa: error: {}", crate::report::chain(&error));
                return ExitCode::FAILURE;
            }
        },
    };
    if let Some(file) = &file {
        command = file.apply(command);
    }
    let known_keys = config_file::known_keys(&command);
    let matches = command.get_matches_from(&argv);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let invocation = Invocation {
        matches: &matches,
        file: file.as_ref(),
        known_keys: &known_keys,
    };
    // A scan's exit status says what it found (1), so its failures are 2.
    let command = match cli.command {
        Command::Scan(args) => return scan::run(args).unwrap_or_else(report_failure(2)),
        command => command,
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hbx-sa: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime
        .block_on(run(command, invocation))
        .map(|()| ExitCode::SUCCESS)
        .unwrap_or_else(report_failure(1))
}

/// Prints a failure with its causes; exits with `status`.
fn report_failure(status: u8) -> impl FnOnce(CliError) -> ExitCode {
    move |error| {
        eprintln!("hbx-sa: error: {}", crate::report::chain(&error));
        ExitCode::from(status)
    }
}

async fn run(command: Command, invocation: Invocation<'_>) -> Result<(), CliError> {
    match command {
        Command::Serve(args) => serve::serve(*args, invocation).await,
        Command::DevToken(args) => print_object(&operator::dev_token(args)?),
        Command::Bootstrap(args) => print_object(&operator::bootstrap(args).await?),
        Command::Accounts { command } => match command {
            AccountsCommand::Create(args) => print_object(&operator::create_account(args).await?),
            AccountsCommand::List(args) => print_lines(&operator::accounts(args).await?),
        },
        Command::Grants { command } => match command {
            GrantsCommand::Add(args) => print_object(&access::add_grant(args).await?),
            GrantsCommand::Remove(args) => print_object(&access::remove_grant(args).await?),
            GrantsCommand::Revoke(args) => print_object(&access::revoke_grant(args).await?),
            GrantsCommand::List(args) => print_lines(&access::grants(args).await?),
        },
        Command::Roles { command } => match command {
            RolesCommand::Assign(args) => print_object(&access::assign_role(args).await?),
            RolesCommand::Revoke(args) => print_object(&access::revoke_role(args).await?),
            RolesCommand::List(args) => print_lines(&access::roles(args).await?),
        },
        Command::IntrospectionClients { command } => match command {
            IntrospectionClientsCommand::Create(args) => {
                print_object(&operator::create_introspection_client(args).await?)
            }
            IntrospectionClientsCommand::List(args) => {
                print_lines(&operator::introspection_clients(args).await?)
            }
            IntrospectionClientsCommand::Revoke(args) => {
                print_object(&operator::revoke_introspection_client(args).await?)
            }
        },
        Command::Keys {
            command: KeysCommand::Create(args),
        } => print_object(&operator::create_key_file(args)?),
        Command::Audit(args) => print_lines(&audit::audit(args).await?),
        Command::Webhooks { command } => print_lines(&webhooks::run(command).await?),
        Command::Openapi => {
            print!("{}", crate::api::document::openapi_document());
            Ok(())
        }
        // Run before the runtime starts, for its exit status.
        Command::Scan(args) => scan::run(args).map(|_| ()),
    }
}
