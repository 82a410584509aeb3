//! The one-shot operator commands. Each returns what it made as a `Serialize`
//! value, which the command line prints as JSON; notes for people go to
//! stderr.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::args::{
    AuditArgs, BootstrapArgs, CreateAccountArgs, CreateIntrospectionClientArgs, CreateKeyFileArgs,
    DevTokenArgs, GrantArgs, ListGrantsArgs, ListIntrospectionClientsArgs,
    RevokeIntrospectionClientArgs, StorageArgs, StorageOnlyArgs,
};
use super::error::CliError;
use crate::app::App;
use crate::auth::oauth::dev::{self, DevKey};
use crate::clock::{Clock, SystemClock};
use crate::domain::{AuditDetail, Capability, CapabilityKey, IntrospectionClient, Subject};
use crate::store::Grant;
use crate::token::keyring;

/// Opens the storage the flags name, telling the operator about anything odd.
async fn open(storage: StorageArgs) -> Result<App, CliError> {
    // A one-shot command starts no background work that would log.
    let quiet = slog::Logger::root(slog::Discard, slog::o!());
    let app = App::open(&storage.settings(), Arc::new(SystemClock), &quiet).await?;
    for warning in app.warnings() {
        eprintln!("hbx-sa: warning: {warning}");
    }
    Ok(app)
}

/// What `hbx-sa dev-token` prints.
#[derive(Debug, Serialize)]
pub struct DevTokenOutput {
    pub access_token: String,
    pub token_type: &'static str,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub issuer: &'static str,
    pub audience: &'static str,
}

pub fn dev_token(args: DevTokenArgs) -> Result<DevTokenOutput, CliError> {
    let key = DevKey::load_or_create(&args.data_dir)?;
    let now = SystemClock.now();
    let access_token = key.token(args.user, now, args.ttl.0)?;
    eprintln!(
        "A development token, trusted only by `hbx-sa serve --oauth-dev` on this data \
         directory. Not for production."
    );
    Ok(DevTokenOutput {
        access_token,
        token_type: "Bearer",
        user_id: args.user,
        expires_at: now + args.ttl.0,
        issuer: dev::ISSUER,
        audience: dev::AUDIENCE,
    })
}

/// What `hbx-sa bootstrap` prints: the one place besides the create and rotate
/// responses where a plaintext token appears.
#[derive(Serialize)]
pub struct BootstrapOutput {
    pub account_id: Uuid,
    pub account_name: String,
    pub service_account_id: Uuid,
    pub service_account_name: String,
    pub token: String,
    pub token_prefix: String,
    pub token_public_id: String,
    pub token_last4: String,
}

pub async fn bootstrap(args: BootstrapArgs) -> Result<BootstrapOutput, CliError> {
    let app = open(args.storage).await?;
    let made = app
        .admin()
        .bootstrap(app.minter(), args.account_name, args.service_account_name)
        .await?;
    let owner = made.owner.service_account;
    eprintln!(
        "Created account {} with owner service account {}. Store the token now: it is not \
         shown again.",
        made.account.id, owner.id
    );
    Ok(BootstrapOutput {
        account_id: made.account.id,
        account_name: made.account.name,
        service_account_id: owner.id,
        service_account_name: owner.name,
        token: made.owner.token.into_exposed(),
        token_prefix: owner.token.prefix,
        token_public_id: owner.token.public_id,
        token_last4: owner.token.last4,
    })
}

/// What `hbx-sa accounts create` prints.
#[derive(Debug, Serialize)]
pub struct AccountOutput {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

pub async fn create_account(args: CreateAccountArgs) -> Result<AccountOutput, CliError> {
    let app = open(args.storage).await?;
    let account = app.admin().create_account(args.name).await?;
    Ok(AccountOutput {
        id: account.id,
        name: account.name,
        created_at: account.created_at,
    })
}

/// What `hbx-sa grants add` prints.
#[derive(Debug, Serialize)]
pub struct GrantOutput {
    pub account_id: Uuid,
    pub subject_type: &'static str,
    pub subject_id: Uuid,
    pub capability: String,
}

impl From<Grant> for GrantOutput {
    fn from(grant: Grant) -> Self {
        Self {
            account_id: grant.account_id,
            subject_type: grant.subject.kind(),
            subject_id: grant.subject.id(),
            capability: grant.capability.as_str().to_owned(),
        }
    }
}

/// The subject and capability a grant command names.
fn grant_of(args: &GrantArgs) -> Result<(Subject, CapabilityKey), CliError> {
    // clap makes exactly one of each pair present.
    let subject = match (args.subject.user, args.subject.service_account) {
        (Some(user), _) => Subject::User(user),
        (None, Some(service_account)) => Subject::ServiceAccount(service_account),
        (None, None) => unreachable!("clap requires one of --user and --service-account"),
    };
    let capability = match &args.capability.capability {
        _ if args.capability.owner => Capability::AccountOwner.into(),
        Some(key) => CapabilityKey::parse(key)?,
        None => unreachable!("clap requires one of --capability and --owner"),
    };
    Ok((subject, capability))
}

pub async fn add_grant(args: GrantArgs) -> Result<GrantOutput, CliError> {
    let (subject, capability) = grant_of(&args)?;
    if capability.known().is_none() {
        eprintln!(
            "hbx-sa: note: this service acts only on auth.manage and ownership; a grant of {} \
             gives standing in the account (403 rather than 404) and nothing more here",
            capability.as_str()
        );
    }
    let app = open(args.storage).await?;
    let grant = app
        .admin()
        .add_grant(args.account, subject, capability)
        .await?;
    Ok(grant.into())
}

/// What `hbx-sa grants remove` prints: the grant, and whether it was held.
#[derive(Debug, Serialize)]
pub struct RemovedGrantOutput {
    #[serde(flatten)]
    pub grant: GrantOutput,
    pub removed: bool,
}

pub async fn remove_grant(args: GrantArgs) -> Result<RemovedGrantOutput, CliError> {
    let (subject, capability) = grant_of(&args)?;
    let app = open(args.storage).await?;
    let (grant, removed) = app
        .admin()
        .remove_grant(args.account, subject, capability)
        .await?;
    if !removed {
        eprintln!("hbx-sa: note: there was no such grant; nothing changed");
    }
    Ok(RemovedGrantOutput {
        grant: grant.into(),
        removed,
    })
}

pub async fn grants(args: ListGrantsArgs) -> Result<Vec<GrantOutput>, CliError> {
    let app = open(args.storage).await?;
    let grants = app.admin().grants(args.account).await?;
    Ok(grants.into_iter().map(Into::into).collect())
}

pub async fn accounts(args: StorageOnlyArgs) -> Result<Vec<AccountOutput>, CliError> {
    let app = open(args.storage).await?;
    let accounts = app.admin().accounts().await?;
    Ok(accounts
        .into_iter()
        .map(|account| AccountOutput {
            id: account.id,
            name: account.name,
            created_at: account.created_at,
        })
        .collect())
}

/// An introspection client as the commands print it.
#[derive(Debug, Serialize)]
pub struct IntrospectionClientOutput {
    pub client_id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<IntrospectionClient> for IntrospectionClientOutput {
    fn from(client: IntrospectionClient) -> Self {
        Self {
            client_id: client.client_id,
            name: client.name,
            created_at: client.created_at,
            revoked_at: client.revoked_at,
        }
    }
}

/// What `hbx-sa introspection-clients create` prints: the only time the secret
/// is shown.
#[derive(Serialize)]
pub struct NewIntrospectionClientOutput {
    #[serde(flatten)]
    pub client: IntrospectionClientOutput,
    pub client_secret: String,
}

pub async fn create_introspection_client(
    args: CreateIntrospectionClientArgs,
) -> Result<NewIntrospectionClientOutput, CliError> {
    let app = open(args.storage).await?;
    let made = app
        .admin()
        .create_introspection_client(app.minter(), args.name)
        .await?;
    eprintln!(
        "Created introspection client {}. Store the secret now: it is not shown again.",
        made.client.client_id
    );
    Ok(NewIntrospectionClientOutput {
        client: made.client.into(),
        client_secret: made.secret.into_exposed(),
    })
}

pub async fn introspection_clients(
    args: ListIntrospectionClientsArgs,
) -> Result<Vec<IntrospectionClientOutput>, CliError> {
    let app = open(args.storage).await?;
    let clients = app.admin().introspection_clients().await?;
    Ok(clients.into_iter().map(Into::into).collect())
}

pub async fn revoke_introspection_client(
    args: RevokeIntrospectionClientArgs,
) -> Result<IntrospectionClientOutput, CliError> {
    let app = open(args.storage).await?;
    let client = app
        .admin()
        .revoke_introspection_client(&args.client_id)
        .await?;
    Ok(client.into())
}

/// What `hbx-sa keys create` prints.
#[derive(Debug, Serialize)]
pub struct KeyFileOutput {
    pub file: PathBuf,
}

pub fn create_key_file(args: CreateKeyFileArgs) -> Result<KeyFileOutput, CliError> {
    keyring::create_key_file(&args.file)?;
    eprintln!(
        "Created {}. Keep it secret and backed up, and give every instance that shares a \
         database a copy.",
        args.file.display()
    );
    Ok(KeyFileOutput { file: args.file })
}

/// One line of `hbx-sa audit`.
#[derive(Debug, Serialize)]
pub struct AuditLine {
    pub occurred_at: DateTime<Utc>,
    pub account_id: Uuid,
    pub service_account_id: Option<Uuid>,
    pub action: &'static str,
    pub actor_type: &'static str,
    pub actor_id: Option<Uuid>,
    pub request_id: Option<String>,
    /// For a grant added or removed: the grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantOutput>,
    /// For a rotation with a grace period, or a retirement: the previous
    /// token's public id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_token_public_id: Option<String>,
    /// For a rotation with a grace period: until when the previous token
    /// works.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_token_expires_at: Option<DateTime<Utc>>,
    /// For a leak report or a public revocation: who reported which token,
    /// where it was found, and whether the report revoked it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak: Option<LeakOutput>,
    /// For an idempotent replay: of which operation, and the token handed
    /// out again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayOutput>,
}

/// A replayed response, in the audit log.
#[derive(Debug, Serialize)]
pub struct ReplayOutput {
    pub of: &'static str,
    pub token_public_id: String,
}

/// A leak report, in the audit log.
#[derive(Debug, Serialize)]
pub struct LeakOutput {
    pub reporter: String,
    pub token_public_id: String,
    pub source: Option<String>,
    pub url: Option<String>,
    pub revoked: bool,
}

pub async fn audit(args: AuditArgs) -> Result<Vec<AuditLine>, CliError> {
    let app = open(args.storage).await?;
    let events = app.admin().audit_events(args.account).await?;
    Ok(events
        .into_iter()
        .map(|event| {
            let mut line = AuditLine {
                occurred_at: event.occurred_at,
                account_id: event.account_id,
                service_account_id: event.service_account_id,
                action: event.action.as_str(),
                actor_type: event.actor.kind(),
                actor_id: event.actor.id(),
                request_id: event.request_id,
                grant: None,
                previous_token_public_id: None,
                previous_token_expires_at: None,
                leak: None,
                replay: None,
            };
            match event.detail {
                None => {}
                Some(AuditDetail::Grant {
                    subject,
                    capability,
                }) => {
                    line.grant = Some(GrantOutput {
                        account_id: event.account_id,
                        subject_type: subject.kind(),
                        subject_id: subject.id(),
                        capability: capability.as_str().to_owned(),
                    });
                }
                Some(AuditDetail::Grace {
                    previous_token_public_id,
                    until,
                }) => {
                    line.previous_token_public_id = Some(previous_token_public_id);
                    line.previous_token_expires_at = Some(until);
                }
                Some(AuditDetail::Retired {
                    previous_token_public_id,
                }) => line.previous_token_public_id = Some(previous_token_public_id),
                Some(AuditDetail::Replay {
                    of,
                    token_public_id,
                }) => {
                    line.replay = Some(ReplayOutput {
                        of: of.as_str(),
                        token_public_id,
                    });
                }
                Some(AuditDetail::Leak {
                    reporter,
                    token_public_id,
                    source,
                    url,
                    revoked,
                }) => {
                    line.leak = Some(LeakOutput {
                        reporter,
                        token_public_id,
                        source,
                        url,
                        revoked,
                    });
                }
            }
            line
        })
        .collect())
}
