//! Introspection clients: the platform components allowed to introspect
//! tokens, each with a secret kept only as a MAC. Created and revoked by the
//! operator; looked up (through the credential cache) when one calls.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::backend::{Arg, Backend, Columns, FromColumns};
use super::changes::CredentialChange;
use super::columns::{Timestamp, read_key_version, stored_key_version};
use super::error::StoreError;
use super::sql_store::{SqlStore, decode, execute, fetch_all, fetch_optional, query};
use crate::domain::IntrospectionClient;
use crate::token::keyring::TokenMac;

/// An introspection client together with the MAC of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIntrospectionClient {
    pub client: IntrospectionClient,
    pub secret: TokenMac,
}

/// What authenticating an introspection client asks of the store.
#[async_trait]
pub trait ClientLookup: Send + Sync + 'static {
    /// The introspection client `client_id`, revoked or not, if it exists.
    async fn find_introspection_client(
        &self,
        client_id: &str,
    ) -> Result<Option<StoredIntrospectionClient>, StoreError>;
}

/// Managing introspection clients.
#[async_trait]
pub trait IntrospectionClientStore: Send + Sync + 'static {
    /// Adds an introspection client.
    async fn insert_introspection_client(
        &self,
        new: &StoredIntrospectionClient,
    ) -> Result<(), StoreError>;

    /// Every introspection client, revoked ones included, oldest first.
    async fn list_introspection_clients(&self) -> Result<Vec<IntrospectionClient>, StoreError>;

    /// Revokes introspection client `client_id` at `at` unless it is revoked
    /// already; returns it as it now stands (`None`: no such client).
    async fn revoke_introspection_client(
        &self,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<IntrospectionClient>, StoreError>;
}

const INSERT: &str = "INSERT INTO introspection_clients \
    (client_id, name, created_at, revoked_at, secret_mac, secret_key_version) \
    VALUES ($1, $2, $3, $4, $5, $6)";

const SELECT: &str = "SELECT client_id, name, created_at, revoked_at, secret_mac, \
    secret_key_version FROM introspection_clients WHERE client_id = $1";

const LIST: &str = "SELECT client_id, name, created_at, revoked_at, secret_mac, \
    secret_key_version FROM introspection_clients ORDER BY created_at, client_id";

/// Revokes unless revoked already; returns the revoked row.
const REVOKE: &str = "UPDATE introspection_clients SET revoked_at = $2 \
    WHERE client_id = $1 AND revoked_at IS NULL \
    RETURNING client_id, name, created_at, revoked_at, secret_mac, secret_key_version";

/// The `introspection_clients` table.
struct IntrospectionClientRow {
    client_id: String,
    name: String,
    created_at: Timestamp,
    revoked_at: Option<Timestamp>,
    secret_mac: Vec<u8>,
    secret_key_version: i32,
}

impl FromColumns for IntrospectionClientRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            client_id: columns.get("client_id")?,
            name: columns.get("name")?,
            created_at: columns.get("created_at")?,
            revoked_at: columns.get("revoked_at")?,
            secret_mac: columns.get("secret_mac")?,
            secret_key_version: columns.get("secret_key_version")?,
        })
    }
}

impl IntrospectionClientRow {
    fn into_stored(self) -> Result<StoredIntrospectionClient, StoreError> {
        Ok(StoredIntrospectionClient {
            secret: TokenMac {
                key_version: read_key_version(self.secret_key_version, &self.client_id)?,
                digest: self.secret_mac,
            },
            client: IntrospectionClient {
                client_id: self.client_id,
                name: self.name,
                created_at: self.created_at.0,
                revoked_at: self.revoked_at.map(|t| t.0),
            },
        })
    }
}

fn client<D: Backend>(row: &D::Row) -> Result<IntrospectionClient, StoreError> {
    Ok(decode::<D, IntrospectionClientRow>(row)?
        .into_stored()?
        .client)
}

#[async_trait]
impl<D: Backend> ClientLookup for SqlStore<D> {
    async fn find_introspection_client(
        &self,
        client_id: &str,
    ) -> Result<Option<StoredIntrospectionClient>, StoreError> {
        self.reading(async |connection| {
            fetch_optional(connection, query::<D>(SELECT).arg(client_id))
                .await?
                .map(|row| decode::<D, IntrospectionClientRow>(&row)?.into_stored())
                .transpose()
        })
        .await
    }
}

#[async_trait]
impl<D: Backend> IntrospectionClientStore for SqlStore<D> {
    async fn insert_introspection_client(
        &self,
        new: &StoredIntrospectionClient,
    ) -> Result<(), StoreError> {
        let key_version = stored_key_version(new.secret.key_version)?;
        let client = &new.client;
        let created = CredentialChange::Client(client.client_id.clone());
        self.write_changing(async |tx| {
            let insert = query::<D>(INSERT)
                .arg(client.client_id.as_str())
                .arg(client.name.as_str())
                .arg(Timestamp(client.created_at))
                .arg(client.revoked_at.map(Timestamp))
                .arg(new.secret.digest.as_slice())
                .arg(key_version);
            execute::<D>(tx, insert).await?;
            Ok(((), vec![created]))
        })
        .await
    }

    async fn list_introspection_clients(&self) -> Result<Vec<IntrospectionClient>, StoreError> {
        self.reading(async |connection| {
            fetch_all(connection, query::<D>(LIST))
                .await?
                .iter()
                .map(client::<D>)
                .collect()
        })
        .await
    }

    async fn revoke_introspection_client(
        &self,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<IntrospectionClient>, StoreError> {
        self.write_changing(async |tx| {
            let update = query::<D>(REVOKE).arg(client_id).arg(Timestamp(at));
            let (row, changes) = match fetch_optional(tx, update).await? {
                Some(row) => (
                    Some(row),
                    vec![CredentialChange::Client(client_id.to_owned())],
                ),
                None => (
                    fetch_optional(tx, query::<D>(SELECT).arg(client_id)).await?,
                    vec![],
                ),
            };
            Ok((row.as_ref().map(client::<D>).transpose()?, changes))
        })
        .await
    }
}
