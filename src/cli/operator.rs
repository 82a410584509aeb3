//! The one-shot operator commands. Each returns what it made as a `Serialize`
//! value, which the command line prints as JSON; notes for people go to
//! stderr.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::args::{
    BootstrapArgs, CreateAccountArgs, CreateIntrospectionClientArgs, CreateKeyFileArgs,
    DevTokenArgs, ListIntrospectionClientsArgs, RevokeIntrospectionClientArgs, StorageOnlyArgs,
};
use super::error::CliError;
use super::storage::open;
use crate::auth::oauth::dev::{self, DevKey};
use crate::clock::{Clock, SystemClock};
use crate::domain::IntrospectionClient;
use crate::token::keyring;

/// What `hbx-sa dev-token` prints.
#[derive(Debug, Serialize)]
pub struct DevTokenOutput {
    pub access_token: String,
    pub token_type: &'static str,
    pub user_id: Uuid,
    pub groups: Vec<String>,
    pub expires_at: DateTime<Utc>,
    pub issuer: &'static str,
    pub audience: &'static str,
}

pub fn dev_token(args: DevTokenArgs) -> Result<DevTokenOutput, CliError> {
    let key = DevKey::load_or_create(&args.data_dir)?;
    let now = SystemClock.now();
    let access_token = key.token(args.user, &args.group, now, args.ttl.0)?;
    eprintln!(
        "A development token, trusted only by `hbx-sa serve --oauth-dev` on this data \
         directory. Not for production."
    );
    Ok(DevTokenOutput {
        access_token,
        token_type: "Bearer",
        user_id: args.user,
        groups: args.group,
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
