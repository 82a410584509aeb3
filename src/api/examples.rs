//! Example values shown in the document, one consistent story: account
//! `3c90c3cc-…`, its service account `ci-deploy`, created by a user. The token
//! is well formed (its checksum is right) but was never issued by anyone.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::platform::{
    AccountGrants, IntrospectedTokenType, IntrospectionRequest, IntrospectionResponse,
    PrincipalType, TokenGeneration, Whoami,
};
use super::types::{
    CreateServiceAccountRequest, ServiceAccount, ServiceAccountFields, ServiceAccountWithToken,
};

const ACCOUNT_ID: Uuid = Uuid::from_u128(0x3c90c3cc_0d44_4b50_8888_8dd25736052a);
const SERVICE_ACCOUNT_ID: Uuid = Uuid::from_u128(0x7f1d2c3b_4a59_4e68_9d7c_6b5a49382716);
const USER_ID: Uuid = Uuid::from_u128(0x9b2e4f60_1c3d_4a5b_8e7f_102938475665);
const TOKEN: &str = "hbxsa_4Qz9LwP1cV7kTt0a_k3JqX8mN2vB6cZ1rT5yW9pL4sD7fG0hJ2zrTzw";

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("example timestamps are valid")
}

pub fn create_request() -> CreateServiceAccountRequest {
    CreateServiceAccountRequest {
        name: "ci-deploy".to_owned(),
        expires_at: Some(at("2027-06-01T00:00:00Z")),
    }
}

/// The public id embedded in the example token.
fn example_public_id() -> String {
    TOKEN[crate::token::TokenPrefix::default().public_id_range()].to_owned()
}

pub fn service_account() -> ServiceAccount {
    ServiceAccount { fields: fields() }
}

fn fields() -> ServiceAccountFields {
    ServiceAccountFields {
        account_id: ACCOUNT_ID,
        created_at: at("2026-11-28T09:30:00Z"),
        id: SERVICE_ACCOUNT_ID,
        name: "ci-deploy".to_owned(),
        token_last4: TOKEN[TOKEN.len() - 4..].to_owned(),
        token_prefix: "hbxsa".to_owned(),
        token_public_id: example_public_id(),
        updated_at: at("2026-11-28T09:30:00Z"),
        created_by_user_id: Some(USER_ID),
        expires_at: Some(at("2027-06-01T00:00:00Z")),
        last_used_at: Some(at("2026-11-28T10:02:17.250000Z")),
        revoked_at: None,
        revoked_by_user_id: None,
        revoked_reason: None,
        previous_token_public_id: None,
        previous_token_last4: None,
        previous_token_expires_at: None,
        previous_token_last_used_at: None,
    }
}

pub fn service_account_with_token() -> ServiceAccountWithToken {
    ServiceAccountWithToken {
        fields: ServiceAccountFields {
            last_used_at: None,
            ..fields()
        },
        token: TOKEN.to_owned(),
    }
}

fn grants() -> Vec<AccountGrants> {
    vec![AccountGrants {
        account_id: ACCOUNT_ID,
        capabilities: vec!["auth.manage".to_owned(), "billing.read".to_owned()],
        owner: false,
    }]
}

pub fn whoami() -> Whoami {
    Whoami {
        principal_type: PrincipalType::ServiceAccount,
        user_id: None,
        service_account_id: Some(SERVICE_ACCOUNT_ID),
        account_id: Some(ACCOUNT_ID),
        name: Some("ci-deploy".to_owned()),
        token_public_id: Some(example_public_id()),
        token_generation: Some(TokenGeneration::Current),
        expires_at: Some(at("2027-06-01T00:00:00Z")),
        grants: grants(),
    }
}

pub fn introspection_request() -> IntrospectionRequest {
    IntrospectionRequest {
        token: TOKEN.to_owned(),
        token_type_hint: None,
    }
}

pub fn introspection_response() -> IntrospectionResponse {
    IntrospectionResponse {
        active: true,
        token_type: Some(IntrospectedTokenType::ServiceAccount),
        sub: Some(SERVICE_ACCOUNT_ID),
        exp: Some(at("2027-06-01T00:00:00Z").timestamp()),
        iat: Some(at("2026-11-28T09:30:00Z").timestamp()),
        hbx_principal_type: Some(PrincipalType::ServiceAccount),
        hbx_account_id: Some(ACCOUNT_ID),
        hbx_service_account_id: Some(SERVICE_ACCOUNT_ID),
        hbx_user_id: None,
        hbx_token_generation: Some(TokenGeneration::Current),
        hbx_grants: Some(grants()),
    }
}

pub fn account_id() -> Uuid {
    ACCOUNT_ID
}

pub fn service_account_id() -> Uuid {
    SERVICE_ACCOUNT_ID
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::{TokenPrefix, parse};

    #[test]
    fn the_example_token_is_well_formed_and_agrees_with_its_facts() {
        let parsed = parse(&TokenPrefix::default(), TOKEN).expect("well formed");
        let example = service_account_with_token();
        assert_eq!(example.fields.token_public_id, parsed.public_id());
        assert_eq!(example.fields.token_last4, &TOKEN[TOKEN.len() - 4..]);
    }
}
