//! Identity providers: the OIDC issuers an account trusts for federation,
//! one per issuer and account. Deleting one that rules still name is
//! refused; every change is audited in its transaction.

use async_trait::async_trait;
use uuid::Uuid;

use super::audit_events;
use super::authorizations::check_account;
use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::{Timestamp, corrupt};
use super::error::StoreError;
use super::sql_store::{SqlStore, decode, execute, fetch_all, fetch_optional, query};
use crate::domain::{
    AuditEvent, IdentityProvider, Issuer, OperatorName, ProviderKeys, ProviderKind,
};

/// Registering, reading and deleting identity providers.
#[async_trait]
pub trait IdentityProviderStore: Send + Sync + 'static {
    /// Adds `provider` and records `event`; another provider of the account
    /// with the same issuer is [`StoreError::IdentityProviderExists`].
    async fn create_identity_provider(
        &self,
        provider: &IdentityProvider,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;

    async fn get_identity_provider(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<IdentityProvider>, StoreError>;

    /// The account's provider whose issuer is exactly `issuer`.
    async fn identity_provider_by_issuer(
        &self,
        account_id: Uuid,
        issuer: &str,
    ) -> Result<Option<IdentityProvider>, StoreError>;

    /// The account's providers, oldest first.
    async fn list_identity_providers(
        &self,
        account_id: Uuid,
    ) -> Result<Vec<IdentityProvider>, StoreError>;

    /// Deletes provider `id` and records `event`; `None` if there is no such
    /// provider, [`StoreError::IdentityProviderInUse`] while rules name it.
    async fn delete_identity_provider(
        &self,
        account_id: Uuid,
        id: Uuid,
        event: &AuditEvent,
    ) -> Result<Option<IdentityProvider>, StoreError>;
}

const INSERT: &str = "INSERT INTO identity_providers (id, account_id, name, issuer, kind, \
    keys_source, keys_location, max_subject_token_lifetime_seconds, created_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id";

const SELECT_ONE: &str = "SELECT id, account_id, name, issuer, kind, keys_source, keys_location, \
    max_subject_token_lifetime_seconds, created_at \
    FROM identity_providers WHERE account_id = $1 AND id = $2";

const BY_ISSUER: &str = "SELECT id, account_id, name, issuer, kind, keys_source, keys_location, \
    max_subject_token_lifetime_seconds, created_at \
    FROM identity_providers WHERE account_id = $1 AND issuer = $2";

const LIST: &str = "SELECT id, account_id, name, issuer, kind, keys_source, keys_location, \
    max_subject_token_lifetime_seconds, created_at \
    FROM identity_providers WHERE account_id = $1 ORDER BY created_at, id";

const IN_USE: &str = "SELECT id FROM federation_rules WHERE identity_provider_id = $1 LIMIT 1";

const DELETE: &str = "DELETE FROM identity_providers WHERE account_id = $1 AND id = $2";

/// The `identity_providers` table.
struct IdentityProviderRow {
    id: Uuid,
    account_id: Uuid,
    name: String,
    issuer: String,
    kind: String,
    keys_source: String,
    keys_location: Option<String>,
    max_subject_token_lifetime_seconds: i32,
    created_at: Timestamp,
}

impl FromColumns for IdentityProviderRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            account_id: columns.get("account_id")?,
            name: columns.get("name")?,
            issuer: columns.get("issuer")?,
            kind: columns.get("kind")?,
            keys_source: columns.get("keys_source")?,
            keys_location: columns.get("keys_location")?,
            max_subject_token_lifetime_seconds: columns
                .get("max_subject_token_lifetime_seconds")?,
            created_at: columns.get("created_at")?,
        })
    }
}

impl IdentityProviderRow {
    fn into_provider(self) -> Result<IdentityProvider, StoreError> {
        let id = self.id;
        let invalid = |what: &str| corrupt(format!("identity provider {id}: invalid {what}"));
        let keys = match (self.keys_source.as_str(), self.keys_location) {
            ("discovery", None) => ProviderKeys::Discovery,
            ("jwks_url", Some(url)) => ProviderKeys::JwksUrl(url),
            ("inline", Some(jwks)) => ProviderKeys::Inline(jwks),
            _ => return Err(invalid("keys")),
        };
        Ok(IdentityProvider {
            id,
            account_id: self.account_id,
            name: OperatorName::parse(self.name).map_err(|_| invalid("name"))?,
            issuer: Issuer::stored(self.issuer),
            kind: ProviderKind::parse(&self.kind).map_err(|_| invalid("kind"))?,
            keys,
            max_subject_token_lifetime_seconds: u32::try_from(
                self.max_subject_token_lifetime_seconds,
            )
            .map_err(|_| invalid("lifetime"))?,
            created_at: self.created_at.0,
        })
    }
}

fn location(keys: &ProviderKeys) -> Option<&str> {
    match keys {
        ProviderKeys::Discovery => None,
        ProviderKeys::JwksUrl(text) | ProviderKeys::Inline(text) => Some(text),
    }
}

fn read_one<D: Backend>(row: Option<D::Row>) -> Result<Option<IdentityProvider>, StoreError> {
    row.map(|row| decode::<D, IdentityProviderRow>(&row)?.into_provider())
        .transpose()
}

#[async_trait]
impl<D: Backend> IdentityProviderStore for SqlStore<D> {
    async fn create_identity_provider(
        &self,
        provider: &IdentityProvider,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(async |tx| {
            check_account::<D>(tx, provider.account_id).await?;
            let insert = query::<D>(INSERT)
                .arg(provider.id)
                .arg(provider.account_id)
                .arg(provider.name.as_str())
                .arg(provider.issuer.as_str())
                .arg(provider.kind.as_str())
                .arg(provider.keys.source())
                .arg(location(&provider.keys).map(str::to_owned))
                .arg(
                    i32::try_from(provider.max_subject_token_lifetime_seconds).map_err(|_| {
                        corrupt("a lifetime beyond i32 reached the store".to_owned())
                    })?,
                )
                .arg(Timestamp(provider.created_at));
            if fetch_optional(tx, insert).await?.is_none() {
                return Err(StoreError::IdentityProviderExists);
            }
            audit_events::insert::<D>(tx, event).await
        })
        .await
    }

    async fn get_identity_provider(
        &self,
        account_id: Uuid,
        id: Uuid,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        self.reading(async |connection| {
            read_one::<D>(
                fetch_optional(connection, query::<D>(SELECT_ONE).arg(account_id).arg(id)).await?,
            )
        })
        .await
    }

    async fn identity_provider_by_issuer(
        &self,
        account_id: Uuid,
        issuer: &str,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        self.reading(async |connection| {
            let select = query::<D>(BY_ISSUER).arg(account_id).arg(issuer);
            read_one::<D>(fetch_optional(connection, select).await?)
        })
        .await
    }

    async fn list_identity_providers(
        &self,
        account_id: Uuid,
    ) -> Result<Vec<IdentityProvider>, StoreError> {
        self.reading(async |connection| {
            fetch_all(connection, query::<D>(LIST).arg(account_id))
                .await?
                .iter()
                .map(|row| decode::<D, IdentityProviderRow>(row)?.into_provider())
                .collect()
        })
        .await
    }

    async fn delete_identity_provider(
        &self,
        account_id: Uuid,
        id: Uuid,
        event: &AuditEvent,
    ) -> Result<Option<IdentityProvider>, StoreError> {
        self.write(async |tx| {
            let found = read_one::<D>(
                fetch_optional(tx, query::<D>(SELECT_ONE).arg(account_id).arg(id)).await?,
            )?;
            let Some(found) = found else {
                return Ok(None);
            };
            if fetch_optional(tx, query::<D>(IN_USE).arg(id))
                .await?
                .is_some()
            {
                return Err(StoreError::IdentityProviderInUse);
            }
            execute(tx, query::<D>(DELETE).arg(account_id).arg(id)).await?;
            audit_events::insert::<D>(tx, event).await?;
            Ok(Some(found))
        })
        .await
    }
}
