//! `hbx-sa`, the command line: the server and the operator commands that work
//! on the same storage (also while a server runs). Every flag has an
//! `HBX_SA_*` environment variable; flags win. A command's result is one
//! serialized value on stdout (JSON, or JSON lines for a log); messages for
//! people go to stderr; a failure exits 1 with a message that says what to do.
//!
//! [`args`] holds the flags and builds the settings from them (in one place);
//! [`serve`] runs the server; [`operator`] holds the one-shot commands, each a
//! function returning a `Serialize` value.

pub mod args;
pub mod error;
pub mod operator;
pub mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;

use self::args::{
    AccountsCommand, AuditArgs, BootstrapArgs, DevTokenArgs, GrantsCommand,
    IntrospectionClientsCommand, KeysCommand, ServeArgs,
};
pub use self::error::CliError;

#[derive(Parser)]
#[command(
    name = "hbx-sa",
    version,
    about = "Hybridbox's service-accounts API: server and operator commands"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (with no flags: SQLite in ./hbx-sa-data, on 127.0.0.1:8080)
    Serve(ServeArgs),
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
    /// Print an account's audit log as JSON lines, oldest first
    Audit(AuditArgs),
    /// Print the OpenAPI document (identical to openapi/hbx-service-accounts.json)
    Openapi,
}

/// Parses the command line, runs the command and reports how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("hbx-sa: error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hbx-sa: error: {}", crate::report::chain(&error));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve(args) => serve::serve(args).await,
        Command::DevToken(args) => print_object(&operator::dev_token(args)?),
        Command::Bootstrap(args) => print_object(&operator::bootstrap(args).await?),
        Command::Accounts {
            command: AccountsCommand::Create(args),
        } => print_object(&operator::create_account(args).await?),
        Command::Grants {
            command: GrantsCommand::Add(args),
        } => print_object(&operator::add_grant(args).await?),
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
        Command::Audit(args) => print_lines(&operator::audit(args).await?),
        Command::Openapi => {
            print!("{}", crate::api::openapi_document());
            Ok(())
        }
    }
}

/// A command's result: one JSON object on stdout.
fn print_object(value: &impl Serialize) -> Result<(), CliError> {
    println!(
        "{}",
        serde_json::to_string(value).map_err(CliError::Output)?
    );
    Ok(())
}

/// A log: one JSON object per line on stdout.
fn print_lines<T: Serialize>(values: &[T]) -> Result<(), CliError> {
    for value in values {
        print_object(value)?;
    }
    Ok(())
}
