//! Service-account authentication against a real SQLite store: a token that is
//! not well formed is refused before any database read, and every refusal looks
//! the same to the caller.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};
use hbx_service_accounts::auth::{
    AuthError, Authenticator, Principal, Refusal, ServiceAccountAuthenticator,
};
use hbx_service_accounts::clock::{Clock, ManualClock};
use hbx_service_accounts::domain::Capability;
use hbx_service_accounts::service::{
    Authorizer, Caller, CreateServiceAccount, ServiceAccounts, TokenMinter,
};
use hbx_service_accounts::store::{
    SqliteStore, Store, StoreError, StoredServiceAccount, TokenLookup,
};
use hbx_service_accounts::token::TokenPrefix;
use hbx_service_accounts::token::keyring::TokenKeyring;

/// Asks a real store, counting the token lookups.
struct CountingLookups {
    inner: Arc<dyn TokenLookup>,
    lookups: AtomicUsize,
}

#[async_trait]
impl TokenLookup for CountingLookups {
    async fn find_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<StoredServiceAccount>, StoreError> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_public_id(public_id).await
    }
}

struct Fixture {
    store: Arc<dyn Store>,
    lookups: Arc<CountingLookups>,
    clock: Arc<ManualClock>,
    minter: TokenMinter,
    /// The service-account scheme alone, as the server asks it.
    authenticator: Authenticator,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(
            &dir.path().join("db.sqlite3"),
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap(),
    );
    let lookups = Arc::new(CountingLookups {
        inner: store.clone(),
        lookups: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let keyring = Arc::new(TokenKeyring::single(1, [42; 32]));
    let minter = TokenMinter {
        prefix: TokenPrefix::default(),
        keyring: keyring.clone(),
    };
    let scheme = ServiceAccountAuthenticator::new(
        lookups.clone(),
        keyring,
        TokenPrefix::default(),
        clock.clone(),
        None,
    );
    let authenticator = Authenticator::new(vec![Arc::new(scheme)]);
    Fixture {
        store,
        lookups,
        clock,
        minter,
        authenticator,
        _dir: dir,
    }
}

#[tokio::test]
async fn every_single_character_change_is_refused_before_any_database_read() {
    let f = fixture().await;
    let made = crate::common::admin(&f.store, &f.clock)
        .bootstrap(&f.minter, "acme".into(), "owner".into())
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
            match f.authenticator.verify(&mutated).await.result {
                Err(AuthError::Refused(_)) => refused += 1,
                other => panic!("position {position} → {replacement:?}: {other:?}"),
            }
        }
    }
    assert_eq!(
        f.lookups.lookups.load(Ordering::SeqCst),
        0,
        "no mutated token reached the database"
    );
    assert_eq!(refused, 61 * (alphabet.len() - 1));

    // The genuine token costs exactly one lookup and authenticates.
    let principal = f
        .authenticator
        .verify(&token)
        .await
        .result
        .unwrap()
        .principal;
    assert_eq!(
        principal,
        Principal::ServiceAccount {
            service_account_id: made.owner.service_account.id,
            account_id: made.account.id,
        }
    );
    assert_eq!(f.lookups.lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn unknown_wrong_secret_and_expired_tokens_are_refused() {
    let f = fixture().await;
    let admin = crate::common::admin(&f.store, &f.clock);
    let made = admin
        .bootstrap(&f.minter, "acme".into(), "owner".into())
        .await
        .unwrap();
    let service = ServiceAccounts::new(
        f.store.clone(),
        f.store.clone(),
        f.minter.clone(),
        f.clock.clone(),
        Default::default(),
    );
    let owner = Principal::ServiceAccount {
        service_account_id: made.owner.service_account.id,
        account_id: made.account.id,
    };
    let owner = Caller {
        principal: owner,
        groups: vec![],
        previous_token: false,
        origin: Default::default(),
        federated: None,
    };
    let access = Authorizer::new(
        f.store.clone(),
        std::sync::Arc::new(hbx_service_accounts::domain::RoleTable::default_table()),
    )
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
            None,
        )
        .await
        .unwrap();
    let token = expiring.token.expose().to_owned();

    // The right public id with another secret (and a checksum that fits it,
    // so that it reaches the MAC comparison): refused as a wrong secret.
    let secret = TokenPrefix::default().secret_range();
    let other_secret: String = token[secret.clone()]
        .chars()
        .map(|c| if c == 'x' { 'y' } else { 'x' })
        .collect();
    let wrong = crate::common::with_checksum(&format!("{}{other_secret}", &token[..secret.start]));
    assert_eq!(
        crate::common::public_id_of(&wrong),
        crate::common::public_id_of(&token)
    );
    let lookups = f.lookups.lookups.load(Ordering::SeqCst);
    assert!(matches!(
        f.authenticator.verify(&wrong).await.result,
        Err(AuthError::Refused(Refusal::WrongSecret))
    ));
    assert_eq!(
        f.lookups.lookups.load(Ordering::SeqCst),
        lookups + 1,
        "a wrong secret is looked up by its public id, then refused"
    );
    assert!(f.authenticator.verify(&token).await.result.is_ok());

    // Valid until the last microsecond before expires_at, invalid from then on.
    f.clock
        .advance(TimeDelta::seconds(10) - TimeDelta::microseconds(1));
    assert!(f.authenticator.verify(&token).await.result.is_ok());
    f.clock.advance(TimeDelta::microseconds(1));
    assert!(matches!(
        f.authenticator.verify(&token).await.result,
        Err(AuthError::Refused(Refusal::Expired))
    ));

    // A token minted under another key (same format, never stored): unknown.
    let stranger = TokenMinter {
        prefix: TokenPrefix::default(),
        keyring: Arc::new(TokenKeyring::single(1, [7; 32])),
    };
    let (unknown, _, _) = stranger.issue(f.clock.now());
    assert!(matches!(
        f.authenticator.verify(unknown.expose()).await.result,
        Err(AuthError::Refused(Refusal::UnknownPublicId))
    ));
}
