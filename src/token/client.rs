//! Credentials of introspection clients, the platform components that may ask
//! this service about any token: a public `client_id` (`hbxic_` and 16 base62
//! characters) and a secret of 43 base62 characters (about 256 bits) from the
//! operating system's CSPRNG. The secret is shown once; what is stored is its
//! MAC under the token keys, over [`mac_input`], so that a client secret can
//! never be mistaken for a token or for another client's secret.

use super::{PlaintextToken, random_base62};

/// Every client id starts with this.
pub const CLIENT_ID_PREFIX: &str = "hbxic_";
const CLIENT_ID_RANDOM_LEN: usize = 16;
/// Length of a client secret, in base62 characters.
pub const CLIENT_SECRET_LEN: usize = 43;

/// A new client's credentials.
#[derive(Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub secret: PlaintextToken,
}

pub fn generate() -> ClientCredentials {
    ClientCredentials {
        client_id: format!("{CLIENT_ID_PREFIX}{}", random_base62(CLIENT_ID_RANDOM_LEN)),
        secret: PlaintextToken::new(random_base62(CLIENT_SECRET_LEN)),
    }
}

/// What is MACed for client `client_id` with `secret`: both, under a label of
/// their own.
pub fn mac_input(client_id: &str, secret: &str) -> String {
    format!("hbx-sa introspection client\0{client_id}\0{secret}")
}

/// Whether `client_id` could be one this service made (checked before any
/// database read).
pub fn is_well_formed_client_id(client_id: &str) -> bool {
    client_id
        .strip_prefix(CLIENT_ID_PREFIX)
        .is_some_and(|rest| {
            rest.len() == CLIENT_ID_RANDOM_LEN && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_have_their_shape_and_differ() {
        let a = generate();
        let b = generate();
        assert!(is_well_formed_client_id(&a.client_id));
        assert_eq!(a.secret.expose().len(), CLIENT_SECRET_LEN);
        assert_ne!(a.client_id, b.client_id);
        assert_ne!(a.secret, b.secret);
        assert!(!format!("{a:?}").contains(a.secret.expose()));
        assert!(!is_well_formed_client_id("hbxic_short"));
        assert!(!is_well_formed_client_id("hbxsa_0123456789ABCDEF"));
        assert_ne!(mac_input("a", "b:c"), mac_input("a:b", "c"));
    }
}
