//! Authenticating introspection clients: HTTP Basic with a `client_id` and
//! secret issued by `hbx-sa introspection-clients create`. The secret is
//! checked against its stored MAC in constant time; an unknown client costs the
//! same MAC work as a wrong secret; a revoked client is refused. Bearer
//! credentials (service-account or user tokens) are never introspection
//! credentials.

use std::sync::Arc;

use super::basic::{BasicError, basic_credentials};
use super::principal::{AuthError, Refusal};
use crate::domain::IntrospectionClient;
use crate::store::ClientLookup;
use crate::token::client::{is_well_formed_client_id, mac_input};
use crate::token::keyring::TokenKeyring;

/// The kind the metrics give introspection clients' credentials.
pub const KIND: &str = "introspection_client";

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
    ) -> Result<IntrospectionClient, AuthError> {
        let (client_id, secret) = basic_credentials(headers).map_err(|e| match e {
            BasicError::Missing => AuthError::Missing,
            BasicError::Malformed => Refusal::MalformedBasicCredentials.into(),
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
            return Err(Refusal::UnknownClient.into());
        };
        if !self.keyring.verify(&presented, &stored.secret) {
            return Err(Refusal::WrongSecret.into());
        }
        if stored.client.revoked_at.is_some() {
            return Err(Refusal::RevokedClient.into());
        }
        Ok(stored.client)
    }
}
