//! Service-account authentication against a real SQLite store: a token that is
//! not well formed is refused before any database read, and every refusal looks
//! the same to the caller.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use hbx_service_accounts::auth::{AuthError, Principal, ServiceAccountAuthenticator};
use hbx_service_accounts::clock::{Clock, ManualClock};
use hbx_service_accounts::domain::{
    Account, AuditEvent, Capability, CapabilityKey, ServiceAccount, Subject,
};
use hbx_service_accounts::service::admin::Admin;
use hbx_service_accounts::service::{Caller, CreateServiceAccount, ServiceAccounts, TokenIssuer};
use hbx_service_accounts::store::{
    Grant, LastUse, PageRequest, Revocation, SqliteStore, Store, StoreError, StoredServiceAccount,
    TokenReplacement,
};
use hbx_service_accounts::token::TokenPrefix;
use hbx_service_accounts::token::keyring::TokenKeyring;
use uuid::Uuid;

/// Passes every call to a real store and counts the token lookups.
struct CountingStore {
    inner: SqliteStore,
    lookups: AtomicUsize,
}

#[async_trait]
impl Store for CountingStore {
    async fn find_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<StoredServiceAccount>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_public_id(public_id).await
    }

    // Everything else passes straight through.
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.inner.create_account(account).await
    }
    async fn get_account(&self, id: Uuid) -> Result<Option<Account>, StoreError> {
        self.inner.get_account(id).await
    }
    async fn add_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        self.inner.add_grant(grant).await
    }
    async fn capabilities(
        &self,
        account: Uuid,
        subject: Subject,
    ) -> Result<Vec<CapabilityKey>, StoreError> {
        self.inner.capabilities(account, subject).await
    }
    async fn insert_service_account(
        &self,
        new: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.insert_service_account(new, event).await
    }
    async fn bootstrap(
        &self,
        account: &Account,
        owner: &StoredServiceAccount,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.inner.bootstrap(account, owner, event).await
    }
    async fn get_service_account(
        &self,
        account: Uuid,
        id: Uuid,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        self.inner.get_service_account(account, id).await
    }
    async fn rotate_token(
        &self,
        account: Uuid,
        id: Uuid,
        replacement: &TokenReplacement,
        event: &AuditEvent,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        self.inner
            .rotate_token(account, id, replacement, event)
            .await
    }
    async fn revoke(
        &self,
        account: Uuid,
        id: Uuid,
        revocation: Revocation,
        event: &AuditEvent,
    ) -> Result<Option<ServiceAccount>, StoreError> {
        self.inner.revoke(account, id, revocation, event).await
    }
    async fn record_last_use(&self, uses: &[LastUse]) -> Result<(), StoreError> {
        self.inner.record_last_use(uses).await
    }
    async fn audit_events(&self, account: Uuid) -> Result<Vec<AuditEvent>, StoreError> {
        self.inner.audit_events(account).await
    }
    async fn list_service_accounts(
        &self,
        account: Uuid,
        page: PageRequest,
    ) -> Result<Vec<ServiceAccount>, StoreError> {
        self.inner.list_service_accounts(account, page).await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

struct Fixture {
    store: Arc<CountingStore>,
    clock: Arc<ManualClock>,
    issuer: TokenIssuer,
    authenticator: ServiceAccountAuthenticator,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CountingStore {
        inner: SqliteStore::open(
            &dir.path().join("db.sqlite3"),
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap(),
        lookups: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let keyring = Arc::new(TokenKeyring::single(1, [42; 32]));
    let issuer = TokenIssuer {
        prefix: TokenPrefix::default(),
        keyring: keyring.clone(),
    };
    let authenticator = ServiceAccountAuthenticator::new(
        store.clone(),
        keyring,
        TokenPrefix::default(),
        clock.clone(),
        None,
    );
    Fixture {
        store,
        clock,
        issuer,
        authenticator,
        _dir: dir,
    }
}

#[tokio::test]
async fn every_single_character_change_is_refused_before_any_database_read() {
    let f = fixture().await;
    let made = Admin::new(f.store.clone(), f.clock.clone())
        .bootstrap(&f.issuer, "acme".into(), "owner".into())
        .await
        .unwrap();
    let token = made.owner.token.expose().to_owned();

    let alphabet: Vec<char> = ('0'..='9')
        .chain('A'..='Z')
        .chain('a'..='z')
        .chain(['_', '-', '.', '~', '+', '/', '='])
        .collect();
    let chars: Vec<char> = token.chars().collect();
    let mut refused = 0;
    for position in 0..chars.len() {
        for &replacement in alphabet.iter().filter(|&&c| c != chars[position]) {
            let mut mutated = chars.clone();
            mutated[position] = replacement;
            let mutated: String = mutated.into_iter().collect();
            match f.authenticator.authenticate(&mutated).await {
                Err(AuthError::InvalidToken(_)) => refused += 1,
                other => panic!("position {position} → {replacement:?}: {other:?}"),
            }
        }
    }
    assert_eq!(
        f.store.lookups.load(Ordering::SeqCst),
        0,
        "no mutated token reached the database"
    );
    assert_eq!(refused, 61 * (alphabet.len() - 1));

    // The genuine token costs exactly one lookup and authenticates.
    let principal = f.authenticator.authenticate(&token).await.unwrap();
    assert_eq!(
        principal,
        Principal::ServiceAccount {
            service_account_id: made.owner.service_account.id,
            account_id: made.account.id,
        }
    );
    assert_eq!(f.store.lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_wrong_secret_and_expired_tokens_are_refused() {
    let f = fixture().await;
    let admin = Admin::new(f.store.clone(), f.clock.clone());
    let made = admin
        .bootstrap(&f.issuer, "acme".into(), "owner".into())
        .await
        .unwrap();
    let service = ServiceAccounts::new(
        f.store.clone(),
        f.issuer.clone(),
        f.clock.clone(),
        Default::default(),
    );
    let owner = Principal::ServiceAccount {
        service_account_id: made.owner.service_account.id,
        account_id: made.account.id,
    };
    let owner = Caller {
        principal: owner,
        request_id: None,
    };
    let access = service
        .authorize(owner, made.account.id, Capability::AuthManage)
        .await
        .unwrap();
    let expiring = service
        .create(
            &access,
            CreateServiceAccount {
                name: "short-lived".into(),
                expires_at: Some(f.clock.now() + TimeDelta::seconds(10)),
            },
        )
        .await
        .unwrap();
    let token = expiring.token.expose().to_owned();

    // Valid until the last microsecond before expires_at, invalid from then on.
    f.clock
        .advance(TimeDelta::seconds(10) - TimeDelta::microseconds(1));
    assert!(f.authenticator.authenticate(&token).await.is_ok());
    f.clock.advance(TimeDelta::microseconds(1));
    assert!(matches!(
        f.authenticator.authenticate(&token).await,
        Err(AuthError::InvalidToken("expired"))
    ));

    // A token minted under another key (same format, never stored): unknown.
    let stranger = TokenIssuer {
        prefix: TokenPrefix::default(),
        keyring: Arc::new(TokenKeyring::single(1, [7; 32])),
    };
    let (unknown, _, _) = stranger.issue();
    assert!(matches!(
        f.authenticator.authenticate(unknown.expose()).await,
        Err(AuthError::InvalidToken("unknown public id"))
    ));
}
