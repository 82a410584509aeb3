//! Authenticating introspection clients: HTTP Basic with a `client_id` and
//! secret issued by `hbx-sa introspection-clients create`. The secret is
//! checked against its stored MAC in constant time; an unknown client costs the
//! same MAC work as a wrong secret; a revoked client is refused. Bearer
//! credentials (service-account or user tokens) are never introspection
//! credentials.

use std::sync::Arc;

use super::basic::{BasicError, basic_credentials};
use crate::domain::IntrospectionClient;
use crate::store::{ClientLookup, StoreError};
use crate::token::client::{is_well_formed_client_id, mac_input};
use crate::token::keyring::TokenKeyring;

/// Why a request is not from an introspection client.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthError {
    #[error("no client credentials: send Authorization: Basic base64(client_id:client_secret)")]
    Missing,
    /// The reason is for logs only; every case gets the same answer.
    #[error("invalid client credentials ({0})")]
    Invalid(&'static str),
    #[error("cannot check the client credentials")]
    Unavailable(#[source] StoreError),
    #[error("cannot check the client credentials")]
    Internal(#[source] StoreError),
}

impl From<StoreError> for ClientAuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => ClientAuthError::Unavailable(error),
            StoreError::NameConflict
            | StoreError::AccountNotFound
            | StoreError::ServiceAccountNotInAccount
            | StoreError::CursorNotFound
            | StoreError::IdempotencyLeaseLost
            | StoreError::WouldEscalate { .. }
            | StoreError::Internal(_) => ClientAuthError::Internal(error),
        }
    }
}

pub struct IntrospectionClientAuthenticator {
    credentials: Arc<dyn ClientLookup>,
    keyring: Arc<TokenKeyring>,
}

impl IntrospectionClientAuthenticator {
    pub fn new(credentials: Arc<dyn ClientLookup>, keyring: Arc<TokenKeyring>) -> Self {
        Self {
            credentials,
            keyring,
        }
    }

    pub async fn authenticate(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<IntrospectionClient, ClientAuthError> {
        let (client_id, secret) = basic_credentials(headers).map_err(|e| match e {
            BasicError::Missing => ClientAuthError::Missing,
            BasicError::Malformed => ClientAuthError::Invalid("malformed Basic credentials"),
        })?;
        let presented = mac_input(&client_id, &secret);
        let stored = if is_well_formed_client_id(&client_id) {
            self.credentials
                .find_introspection_client(&client_id)
                .await?
        } else {
            None
        };
        let Some(stored) = stored else {
            self.keyring.burn_equivalent_work(&presented);
            return Err(ClientAuthError::Invalid("unknown client"));
        };
        if !self.keyring.verify(&presented, &stored.secret) {
            return Err(ClientAuthError::Invalid("wrong secret"));
        }
        if stored.client.revoked_at.is_some() {
            return Err(ClientAuthError::Invalid("revoked client"));
        }
        Ok(stored.client)
    }
}
