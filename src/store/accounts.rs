//! Accounts: the tenants everything else belongs to. Created by the operator
//! (`hbx-sa accounts create`, `hbx-sa bootstrap`), never over the API.

use async_trait::async_trait;
use uuid::Uuid;

use super::authorizations;
use super::backend::{Arg, Backend, Columns, FromColumns};
use super::columns::Timestamp;
use super::error::StoreError;
use super::service_accounts::StoredServiceAccount;
use super::service_accounts::lifecycle;
use super::sql_store::{SqlStore, decode, execute, fetch_all, fetch_optional, query};
use super::{audit_events, changes::CredentialChange};
use crate::domain::{Account, AuditEvent, Authorization, Grants, Subject};

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;

    async fn get_account(&self, id: Uuid) -> Result<Option<Account>, StoreError>;

    /// Every account, oldest first.
    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError>;

    /// Creates an account, its first service account and that service account's
    /// ownership grant, with the audit event, all or nothing.
    async fn bootstrap(
        &self,
        account: &Account,
        owner: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
}

const INSERT: &str = "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)";

const SELECT: &str = "SELECT id, name, created_at FROM accounts WHERE id = $1";

const LIST: &str = "SELECT id, name, created_at FROM accounts ORDER BY created_at, id";

/// The `accounts` table.
struct AccountRow {
    id: Uuid,
    name: String,
    created_at: Timestamp,
}

impl FromColumns for AccountRow {
    fn from_columns<D: Backend>(columns: Columns<'_, D>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            id: columns.get("id")?,
            name: columns.get("name")?,
            created_at: columns.get("created_at")?,
        })
    }
}

impl From<AccountRow> for Account {
    fn from(row: AccountRow) -> Self {
        Account {
            id: row.id,
            name: row.name,
            created_at: row.created_at.0,
        }
    }
}

/// Inserts `account` in the transaction on `connection`.
pub(super) async fn insert<D: Backend>(
    connection: &mut D::Connection,
    account: &Account,
) -> Result<(), StoreError> {
    let insert = query::<D>(INSERT)
        .arg(account.id)
        .arg(account.name.as_str())
        .arg(Timestamp(account.created_at));
    execute(connection, insert).await
}

#[async_trait]
impl<D: Backend> AccountStore for SqlStore<D> {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.write(async |tx| insert::<D>(tx, account).await).await
    }

    async fn get_account(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        self.reading(async |connection| {
            fetch_optional(connection, query::<D>(SELECT).arg(id))
                .await?
                .map(|row| decode::<D, AccountRow>(&row).map(Account::from))
                .transpose()
        })
        .await
    }

    async fn list_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.reading(async |connection| {
            fetch_all(connection, query::<D>(LIST))
                .await?
                .iter()
                .map(|row| decode::<D, AccountRow>(row).map(Account::from))
                .collect()
        })
        .await
    }

    async fn bootstrap(
        &self,
        account: &Account,
        owner: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let grant = Authorization {
            id: Uuid::new_v4(),
            account_id: account.id,
            subject: Subject::ServiceAccount(owner.service_account.id),
            grants: Grants::AccountOwner,
            resource: None,
            created_at: account.created_at,
            revoked_at: None,
        };
        self.write_changing(async |tx| {
            insert::<D>(tx, account).await?;
            lifecycle::insert::<D>(tx, owner).await?;
            authorizations::insert::<D>(tx, &grant).await?;
            audit_events::insert::<D>(tx, event).await?;
            let created = CredentialChange::Token(owner.service_account.token.public_id.clone());
            let granted = authorizations::change_of(account.id, &grant.subject);
            Ok(((), vec![created, granted]))
        })
        .await
    }
}
