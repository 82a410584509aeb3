//! The facts of the example values shown in the document, one consistent
//! story: account `3c90c3cc-…`, its service account `ci-deploy`, created by a
//! user. The token is well formed (its checksum is right) but was never
//! issued by anyone. Each type's example, built from these, is beside the
//! type.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub const ACCOUNT_ID: Uuid = Uuid::from_u128(0x3c90c3cc_0d44_4b50_8888_8dd25736052a);
pub const SERVICE_ACCOUNT_ID: Uuid = Uuid::from_u128(0x7f1d2c3b_4a59_4e68_9d7c_6b5a49382716);
pub const USER_ID: Uuid = Uuid::from_u128(0x9b2e4f60_1c3d_4a5b_8e7f_102938475665);
pub const AUTHORIZATION_ID: Uuid = Uuid::from_u128(0x51c0ffee_2d4e_4f6a_9b8c_7d6e5f4a3b2c);
pub const ROLE_ASSIGNMENT_ID: Uuid = Uuid::from_u128(0x6e8d7c6b_5a49_4382_a716_f1d2c3b4a596);
/// A domain of the account, somewhere else in Hybridbox.
pub const RESOURCE_ID: Uuid = Uuid::from_u128(0x2a3b4c5d_6e7f_4a8b_9c0d_1e2f3a4b5c6d);
pub const TOKEN: &str = "hbxsa_4Qz9LwP1cV7kTt0a_k3JqX8mN2vB6cZ1rT5yW9pL4sD7fG0hJ2zrTzw";

/// An instant of the story.
pub fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("example timestamps are valid")
}

/// The public id embedded in the example token.
pub fn public_id() -> String {
    TOKEN[crate::token::TokenPrefix::default().public_id_range()].to_owned()
}

/// The example token's last four characters.
pub fn last4() -> String {
    TOKEN[TOKEN.len() - 4..].to_owned()
}

pub fn account_id() -> Uuid {
    ACCOUNT_ID
}

pub fn service_account_id() -> Uuid {
    SERVICE_ACCOUNT_ID
}

pub fn authorization_id() -> Uuid {
    AUTHORIZATION_ID
}

pub fn role_assignment_id() -> Uuid {
    ROLE_ASSIGNMENT_ID
}

pub fn resource_id() -> Uuid {
    RESOURCE_ID
}

/// When the story's grants were made.
pub fn created_at() -> DateTime<Utc> {
    at("2026-03-02T09:15:00Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{TokenPrefix, parse};

    #[test]
    fn the_example_token_is_well_formed_and_agrees_with_its_facts() {
        let parsed = parse(&TokenPrefix::default(), TOKEN).expect("well formed");
        assert_eq!(public_id(), parsed.public_id());
        assert_eq!(last4(), parsed.as_str()[TOKEN.len() - 4..]);
    }
}
